"""`chessformer lichess-sample`: argument checks, atomic output, damaged inputs, closed stdout."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
import zstandard

from chessformer.data import lichess_sample
from chessformer.data.lichess_sample import main
from chessformer.data.pgn import read_games

DATA = Path(__file__).parent / "data"
SAMPLE = DATA / "lichess_sample.pgn"  # 100 games
SMALL = DATA / "pgn" / "lichess_sample.pgn"  # 20 games
PYTHON_DIR = Path(lichess_sample.__file__).resolve().parent.parent


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(PYTHON_DIR)}
    return subprocess.run(
        [sys.executable, "-m", "chessformer", "lichess-sample", *argv],
        capture_output=True,
        text=True,
        env=env,
    )


def _usage_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


def _kept(path: Path) -> list[list[str]]:
    """The moves of the games lichess-sample keeps (whole games from the start, >= 1 ply)."""
    return [g.moves for g in read_games(path) if g.ok and g.moves and not g.start_fen]


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


def test_writes_lichess_games(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "s.pgn"
    assert main([str(SMALL), "--out", str(out), "--seed", "3"]) == 0
    assert "wrote 19 games" in capsys.readouterr().err  # one of the 20 has no moves
    games = list(read_games(out))
    assert len(games) == 19 and all(g.ok for g in games)
    assert [g.moves for g in games] == _kept(SMALL)
    assert list(games[0].headers)[:3] == ["Event", "Site", "Date"]
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask  # as open() makes it, not mkstemp's 0600
    zout = tmp_path / "s.pgn.zst"
    assert main([str(SMALL), "--out", str(zout), "--seed", "3", "--max-games", "5"]) == 0
    assert zout.read_bytes()[:4] == b"\x28\xb5\x2f\xfd"
    assert [g.moves for g in read_games(zout)] == [g.moves for g in games[:5]]
    assert _leftovers(tmp_path) == []


def test_bad_inputs_and_output_are_refused_before_writing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "ls1.pgn"
    assert main([str(SMALL), "--out", str(out)]) == 0
    before = out.read_bytes()
    missing = str(tmp_path / "missing.pgn")
    # a missing second input: the good output is left as it was
    err = _usage_error([str(SMALL), missing, "--out", str(out)], capsys)
    assert f"input {missing!r} does not exist" in err
    assert out.read_bytes() == before
    # a missing first input: no empty file is created
    err = _usage_error([missing, "--out", str(tmp_path / "ls2.pgn")], capsys)
    assert "does not exist" in err and not (tmp_path / "ls2.pgn").exists()
    err = _usage_error([str(tmp_path), "--out", str(tmp_path / "x.pgn")], capsys)
    assert "is a directory, not a PGN file" in err
    err = _usage_error([str(SMALL), "--out", str(tmp_path / "nonexist" / "x.pgn")], capsys)
    assert "does not exist" in err and "nonexist" in err
    err = _usage_error([str(SMALL), "--out", str(tmp_path)], capsys)
    assert "is a directory" in err
    assert "--max-games: must be an integer >= -1" in _usage_error(
        [str(SMALL), "--max-games", "-2"], capsys
    )
    assert "--eval-fraction" in _usage_error([str(SMALL), "--eval-fraction", "1.5"], capsys)
    assert "--eval-fraction" in _usage_error([str(SMALL), "--eval-fraction", "nan"], capsys)
    assert "--min-plies" in _usage_error([str(SMALL), "--min-plies", "-1"], capsys)
    assert "only once" in _usage_error(["-", "-"], capsys)
    assert _leftovers(tmp_path) == []


def test_cli_errors_have_no_traceback(tmp_path: Path) -> None:
    r = _run(str(SMALL), "--out", "/nonexist/dir/x.pgn")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "directory '/nonexist/dir' does not exist" in r.stderr


def test_a_failure_midway_leaves_the_old_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out.pgn"
    out.write_text("old\n")
    real = lichess_sample.lichess_game

    def failing(game, index, seed, eval_fraction):  # type: ignore[no-untyped-def]
        if index == 10:
            raise OSError(28, "No space left on device")
        return real(game, index, seed, eval_fraction)

    monkeypatch.setattr(lichess_sample, "lichess_game", failing)
    assert main([str(SAMPLE), "--out", str(out)]) == 1
    assert out.read_text() == "old\n" and _leftovers(tmp_path) == []
    zout = tmp_path / "out.pgn.zst"
    assert main([str(SAMPLE), "--out", str(zout)]) == 1
    assert not zout.exists() and _leftovers(tmp_path) == []


def test_damaged_input_is_reported_and_exit_status_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    comp = zstandard.ZstdCompressor().compress(SAMPLE.read_bytes())
    cut = tmp_path / "cut.pgn.zst"
    cut.write_bytes(comp[:30000])
    whole = _kept(SAMPLE)
    out = tmp_path / "o.pgn"
    assert main([str(cut), str(SMALL), "--out", str(out)]) == 3
    err = capsys.readouterr().err
    assert f"warning: {cut}: truncated zstd data" in err
    assert "damaged input" in err and "exit status 3" in err
    games = list(read_games(out))
    n_cut = len(games) - len(_kept(SMALL))
    assert 0 < n_cut < len(whole)
    # the games before the damage, then every game of the next input
    want = whole[:n_cut] + _kept(SMALL)
    assert [g.moves for g in games] == want


def test_closed_stdout_is_quiet() -> None:
    env = {**os.environ, "PYTHONPATH": str(PYTHON_DIR)}
    argv = [sys.executable, "-m", "chessformer", "lichess-sample", *[str(SAMPLE)] * 4]
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        first = proc.stdout.readline()
        proc.stdout.close()  # like `| head -1`
        err = proc.stderr.read().decode()
        rc = proc.wait(timeout=120)
    assert first.startswith(b'[Event "')
    assert rc == 141 and "Traceback" not in err and "Error" not in err, err


def test_stdout_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(SMALL), "--max-games", "2"]) == 0
    captured = capsys.readouterr()
    games = list(read_games(io.BytesIO(captured.out.encode())))
    assert len(games) == 2 and "wrote 2 games" in captured.err


def test_no_qualifying_game_is_exit_status_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prose = tmp_path / "prose.pgn"
    prose.write_text("This is not a PGN file.\nJust two lines of prose.\n")
    out = tmp_path / "none.pgn"
    assert main([str(prose), "--out", str(out)]) == 1
    assert "no input game qualified" in capsys.readouterr().err
    assert out.read_bytes() == b""
    assert main([str(SMALL), "--out", str(out), "--min-plies", "1000"]) == 1
    assert "at least 1000 plies" in capsys.readouterr().err
