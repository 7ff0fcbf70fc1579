"""``chessformer lichess-sample``: real games rewritten in Lichess's export format.

    chessformer lichess-sample gnuchess-book-1.02.pgn.zst --out lichess.pgn.zst \\
        --seed 1 --max-games 100000

Lichess's monthly dumps cannot be downloaded here, so this keeps the moves of real games (any PGN
input) and writes them exactly as Lichess exports: its tag set and order (Event Site Date Round
White Black Result UTCDate UTCTime WhiteElo BlackElo WhiteRatingDiff BlackRatingDiff ECO Opening
TimeControl Termination), plausible ratings, time controls and terminations, ``{ [%clk 0:03:00] }``
after every ply (none for correspondence games), ``[%eval ...]`` and ``?!``/``?``/``??`` glyphs on
a fraction of games, Black move numbers after comments (``1... e5``), the movetext on one line.
The output depends only on the input and ``--seed``.

Inputs and ``--out`` are checked before anything is read (exit status 2). A file ``--out`` is
written to a temporary file in its directory and renamed at the end: it is complete or untouched.
A damaged input (truncated or corrupt ``.zst``, read error) keeps the games before the damage, is
reported on stderr with its error, the next input is read, and the exit status is 3, as for
``chessformer prep`` (docs/formats.md). Writing to stdout stops quietly when the reader goes
away (``| head``, exit status 141).
"""

from __future__ import annotations

import argparse
import os
import random
import re
import sys
from collections.abc import Iterator
from pathlib import Path

from chessformer._argtypes import fraction, int_at_least
from chessformer._io import replacing
from chessformer.data.pgn import Game, PgnInputError, read_games

# (TimeControl, weight): Lichess's common pools, correspondence ("-") included.
TIME_CONTROLS = [
    ("15+0", 1),
    ("30+0", 2),
    ("60+0", 12),
    ("120+1", 5),
    ("180+0", 18),
    ("180+2", 10),
    ("300+0", 14),
    ("300+3", 10),
    ("600+0", 14),
    ("600+5", 6),
    ("900+10", 5),
    ("1800+0", 2),
    ("1800+20", 1),
    ("-", 1),
]
ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def time_class(tc: str) -> str:
    if tc == "-":
        return "Correspondence"
    base, _, inc = tc.partition("+")
    est = int(base) + 40 * int(inc or 0)
    if est < 30:
        return "UltraBullet"
    if est < 180:
        return "Bullet"
    if est < 480:
        return "Blitz"
    if est < 1500:
        return "Rapid"
    return "Classical"


def _clock(seconds: float) -> str:
    s = max(int(seconds), 0)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def _name(raw: str, rng: random.Random) -> str:
    name = re.sub(r"[^A-Za-z0-9_-]+", "_", raw).strip("_-")[:20]
    return name if len(name) >= 2 else "player_" + "".join(rng.choices(ALPHABET, k=6))


def lichess_game(game: Game, index: int, seed: int, eval_fraction: float) -> str:
    """One game (standard start, SAN in ``game.san``) as Lichess would export it."""
    assert game.san is not None
    rng = random.Random(f"{seed}-{index}")
    tc = rng.choices([t for t, _ in TIME_CONTROLS], weights=[w for _, w in TIME_CONTROLS])[0]
    cls = time_class(tc)
    rated = rng.random() < 0.9
    result = game.result if game.result in ("1-0", "0-1", "1/2-1/2") else "*"
    white_elo = min(max(int(rng.gauss(1550, 380)), 600), 3100)
    black_elo = min(max(white_elo + int(rng.gauss(0, 180)), 600), 3100)
    diff = rng.randint(3, 12)
    diffs = {"1-0": (diff, -diff), "0-1": (-diff, diff), "1/2-1/2": (rng.randint(-2, 2), 0)}
    wd, bd = diffs.get(result, (0, 0))
    if result == "1/2-1/2":
        bd = -wd
    sans = game.san
    if result == "*":
        termination = "Unterminated" if rng.random() < 0.5 else "Abandoned"
    elif sans and sans[-1].endswith("#"):
        termination = "Normal"
    else:
        termination = "Time forfeit" if tc != "-" and rng.random() < 0.15 else "Normal"
    day, sec = rng.randint(1, 28), rng.randrange(86400)
    date = f"2024.05.{day:02d}"
    h = game.headers
    tags = [
        ("Event", f"{'Rated' if rated else 'Casual'} {cls} game"),
        ("Site", "https://lichess.org/" + "".join(rng.choices(ALPHABET, k=8))),
        ("Date", date),
        ("Round", "-"),
        ("White", _name(h.get("White", ""), rng)),
        ("Black", _name(h.get("Black", ""), rng)),
        ("Result", result),
        ("UTCDate", date),
        ("UTCTime", f"{sec // 3600:02d}:{sec // 60 % 60:02d}:{sec % 60:02d}"),
        ("WhiteElo", str(white_elo)),
        ("BlackElo", str(black_elo)),
    ]
    if rated and result != "*":
        tags += [("WhiteRatingDiff", f"{wd:+d}"), ("BlackRatingDiff", f"{bd:+d}")]
    eco = h.get("ECO", "?")
    tags += [
        ("ECO", eco if re.fullmatch(r"[A-E]\d\d", eco) else "?"),
        ("Opening", h.get("Opening", "?") or "?"),
        ("TimeControl", tc),
        ("Termination", termination),
    ]
    out = [f'[{k} "{v}"]' for k, v in tags]
    out.append("")
    with_eval = rng.random() < eval_fraction
    base, _, inc_s = tc.partition("+")
    clocks = [float(base), float(base)] if tc != "-" else []
    inc = float(inc_s or 0)
    ev = rng.gauss(0.2, 0.2)
    parts: list[str] = []
    n = len(sans)
    for i, san in enumerate(sans):
        side = i % 2
        glyph = ""
        comment = []
        if with_eval and not san.endswith("#"):
            swing = rng.gauss(0, 0.35)
            if rng.random() < 0.04:
                swing += rng.choice((-1, 1)) * rng.uniform(1.0, 4.0)
                glyph = "??" if abs(swing) > 2.5 else "?"
            elif abs(swing) > 0.6:
                glyph = "?!"
            ev = max(min(ev + swing, 30.0), -30.0)
            if n - i <= 4 and result in ("1-0", "0-1") and rng.random() < 0.5:
                mate = n - i
                comment.append(f"[%eval #{mate if result == '1-0' else -mate}]")
            else:
                comment.append(f"[%eval {ev:.2f}]")
        if clocks:
            if i >= 2:  # Lichess starts the clocks after Black's first move
                think = rng.uniform(0.2, max(float(base) / 40, 1.0))
                clocks[side] = max(clocks[side] - think, 0.0) + inc
            comment.append(f"[%clk {_clock(clocks[side])}]")
        number = f"{i // 2 + 1}." if side == 0 else f"{i // 2 + 1}..."
        if side == 1 and not comment and parts:
            number = ""  # without comments Lichess writes no Black move numbers
        parts.append((f"{number} " if number else "") + san + glyph)
        if comment:
            parts.append("{ " + " ".join(comment) + " }")
    parts.append(result)
    out.append(" ".join(parts))
    out.append("")
    return "\n".join(out) + "\n"


def rewrite(
    inputs: list[str],
    seed: int,
    max_games: int,
    eval_fraction: float,
    min_plies: int,
    input_errors: list[str] | None = None,
) -> Iterator[str]:
    """The games of ``inputs`` in Lichess's format, in input order.

    An input that cannot be read to its end (truncated or corrupt ``.zst``, read error) keeps the
    games before the damage; its error goes to ``input_errors`` (a warning on stderr naming the
    input) and the next input is read. Without ``input_errors`` such an error is raised
    (`PgnInputError`)."""
    index = 0
    for path in inputs:
        try:
            for game in read_games(path, annotations=False, san=True, on_error="raise"):
                if game.error is not None or game.start_fen or not game.san:
                    continue
                if len(game.moves) < min_plies:
                    continue
                yield lichess_game(game, index, seed, eval_fraction)
                index += 1
                if 0 <= max_games <= index:
                    return
        except PgnInputError as e:
            if input_errors is None:
                raise
            input_errors.append(str(e))
            print(
                f"lichess-sample: warning: {e}; the games before the damage were kept, "
                "continuing with the next input",
                file=sys.stderr,
            )


PROG = "chessformer lichess-sample"
EPILOG = """exit status: 0 done; 2 bad arguments (nothing written); 3 some input was damaged
(truncated or corrupt .zst, read error): the games before the damage were written and the other
inputs read; 1 the output could not be written (nothing left behind), or no input game qualified
(complete, standard chess, at least --min-plies plies: the output is empty); 141 stdout closed early
(e.g. `| head`). A file --out is written to a temporary file in its directory and renamed at the
end, so it is either complete or untouched."""


def _check_args(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Bad arguments end the run before anything is read or written (exit status 2)."""
    if args.inputs.count("-") > 1:
        p.error("stdin ('-') can be given as an input only once")
    for name in args.inputs:
        if name == "-":
            continue
        path = Path(name)
        if not path.exists():
            p.error(f"input {name!r} does not exist")
        if path.is_dir():
            p.error(f"input {name!r} is a directory, not a PGN file")
        try:
            with open(path, "rb"):
                pass
        except OSError as e:
            p.error(f"input {name!r} cannot be opened: {e.strerror}")
    if args.out == "-":
        return
    out = Path(args.out)
    parent = out.parent
    if not parent.is_dir():
        p.error(f"--out {args.out!r}: directory {str(parent)!r} does not exist")
    if out.is_dir():
        p.error(f"--out {args.out!r} is a directory; give a file name (.pgn or .pgn.zst)")
    if not os.access(parent, os.W_OK | os.X_OK):
        p.error(f"--out {args.out!r}: directory {str(parent)!r} is not writable")


def _write_stdout(games: Iterator[str]) -> int:
    n = 0
    for text in games:
        sys.stdout.write(text)
        n += 1
    sys.stdout.flush()
    return n


def _write_file(games: Iterator[str], path: Path) -> int:
    """Write ``path`` whole or not at all (`chessformer._io.replacing`): on any failure (or
    Ctrl-C) ``path`` is left as it was."""
    n = 0
    with replacing(path) as tmp, open(tmp, "wb") as raw:
        if path.suffix == ".zst":
            import zstandard

            cctx = zstandard.ZstdCompressor(level=10)
            with cctx.stream_writer(raw, closefd=False) as zw:
                for text in games:
                    zw.write(text.encode())
                    n += 1
        else:
            for text in games:
                raw.write(text.encode())
                n += 1
    return n


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n")[0], epilog=EPILOG)
    p.add_argument("inputs", nargs="+", help="PGN or PGN.zst files with real games ('-': stdin)")
    p.add_argument("--out", default="-", help="output .pgn or .pgn.zst (default stdout)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--max-games", type=int_at_least(-1), default=-1, help="at most N games (-1: all)"
    )
    p.add_argument("--eval-fraction", type=fraction, default=0.1, help="games with [%%eval]")
    p.add_argument("--min-plies", type=int_at_least(0), default=1)
    args = p.parse_args(argv)
    _check_args(p, args)
    input_errors: list[str] = []
    games = rewrite(
        args.inputs, args.seed, args.max_games, args.eval_fraction, args.min_plies, input_errors
    )
    try:
        n = _write_stdout(games) if args.out == "-" else _write_file(games, Path(args.out))
    except BrokenPipeError:
        # the reader went away (`| head`): stop quietly; stdout goes to devnull so that Python's
        # own flush at exit does not complain again
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 141
    except KeyboardInterrupt:
        print("\nlichess-sample: interrupted; nothing written", file=sys.stderr)
        return 130
    except OSError as e:
        print(f"{PROG}: error: cannot write {args.out!r}: {e}", file=sys.stderr)
        return 1
    where = "" if args.out == "-" else f" to {args.out}"
    print(f"lichess-sample: wrote {n:,} games{where}", file=sys.stderr)
    if input_errors:
        print(
            f"lichess-sample: {len(input_errors)} damaged input(s); the games read before the "
            "damage were written (exit status 3)",
            file=sys.stderr,
        )
        return 3
    if n == 0 and args.max_games != 0:
        print(
            f"{PROG}: no input game qualified (complete, standard chess, at least "
            f"{args.min_plies} plies)",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
