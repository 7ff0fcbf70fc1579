"""chessformer._progress: a redrawn bar on a terminal, plain lines in a log."""

import io

from chessformer._progress import Progress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_log_gets_plain_lines_not_carriage_returns() -> None:
    log = io.StringIO()
    p = Progress(40, desc="games", unit="game", initial=10, stream=log, log_every=3600)
    p.update(1, "W 1 D 0 L 0")  # the first update logs; later ones wait for log_every
    p.update(1, "W 2 D 0 L 0")
    p.message("engine restarted")
    p.close()
    lines = log.getvalue().splitlines()
    assert "\r" not in log.getvalue() and len(lines) == 3
    assert lines[0].startswith("games: 11/40 (28%) game | ") and lines[0].endswith("W 1 D 0 L 0")
    assert lines[1] == "engine restarted"
    assert lines[2].startswith("games: 12/40 (30%)") and "ETA" in lines[2]


def test_bytes_are_scaled() -> None:
    log = io.StringIO()
    p = Progress(None, desc="prep", unit="B", unit_scale=True, stream=log)
    p.set(1_234_567, "12 games")
    assert log.getvalue().startswith("prep: 1.23 MB | ") and "B/s" in log.getvalue()


def test_terminal_gets_a_bar_redrawn_in_place() -> None:
    term = _Terminal()
    p = Progress(4, desc="games", unit="game", stream=term)
    assert p.tty
    p.update(2, "W 2 D 0 L 0")
    p.message("a line above the bar")
    p.close()
    out = term.getvalue()
    assert "\r" in out and "2/4" in out and "4/4" not in out and "W 2 D 0 L 0" in out
    assert "a line above the bar\n" in out


def test_disabled_shows_only_messages() -> None:
    log = _Terminal()
    p = Progress(4, desc="games", enabled=False, stream=log)
    p.update(3)
    p.message("note")
    p.close()
    assert log.getvalue() == "note\n"
