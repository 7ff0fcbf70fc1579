"""``chessformer lichess-sample``: real games rewritten in Lichess's export format.

    chessformer lichess-sample ../shared/data/gnuchess-book-1.02.pgn.zst --out lichess.pgn.zst \\
        --seed 1 --max-games 100000

Lichess's monthly dumps cannot be downloaded here, so this keeps the moves of real games (any PGN
input) and writes them exactly as Lichess exports: its tag set and order (Event Site Date Round
White Black Result UTCDate UTCTime WhiteElo BlackElo WhiteRatingDiff BlackRatingDiff ECO Opening
TimeControl Termination), plausible ratings, time controls and terminations, ``{ [%clk 0:03:00] }``
after every ply (none for correspondence games), ``[%eval ...]`` and ``?!``/``?``/``??`` glyphs on
a fraction of games, Black move numbers after comments (``1... e5``), the movetext on one line.
The output depends only on the input and ``--seed``.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from chessformer.pgn import Game, read_games

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
    inputs: list[str], seed: int, max_games: int, eval_fraction: float, min_plies: int
) -> Iterator[str]:
    index = 0
    for path in inputs:
        for game in read_games(path, annotations=False, san=True, on_error="ignore"):
            if game.error is not None or game.start_fen or not game.san:
                continue
            if len(game.moves) < min_plies:
                continue
            yield lichess_game(game, index, seed, eval_fraction)
            index += 1
            if 0 <= max_games <= index:
                return


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="chessformer lichess-sample", description=__doc__.split("\n")[0]
    )
    p.add_argument("inputs", nargs="+", help="PGN or PGN.zst files with real games")
    p.add_argument("--out", default="-", help="output .pgn or .pgn.zst (default stdout)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-games", type=int, default=-1)
    p.add_argument("--eval-fraction", type=float, default=0.1, help="games with [%%eval]")
    p.add_argument("--min-plies", type=int, default=1)
    args = p.parse_args(argv)
    games = rewrite(args.inputs, args.seed, args.max_games, args.eval_fraction, args.min_plies)
    n = 0
    if args.out == "-":
        for text in games:
            sys.stdout.write(text)
            n += 1
    else:
        path = Path(args.out)
        if path.suffix == ".zst":
            import zstandard

            with open(path, "wb") as raw:
                cctx = zstandard.ZstdCompressor(level=10)
                with cctx.stream_writer(raw) as zw:
                    for text in games:
                        zw.write(text.encode())
                        n += 1
        else:
            f: IO[str]
            with open(path, "w", encoding="utf-8", newline="\n") as f:
                for text in games:
                    f.write(text)
                    n += 1
    print(f"lichess-sample: wrote {n:,} games", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
