"""`chessformer demo`: the bundled model against Stockfish at a low and a high temperature.

    chessformer demo [--model RUN] [--games 4] [--level 1] [--temperatures 0.001,1.0]
                     [--out DIR] [--concurrency N]

Plays a short match with the paper's protocol (Stockfish ``Skill Level`` 1, 0.1 s a move, half
the games with the model as White, legal-move masking) at two temperatures, concurrently, then
prints the result table and the Glicko-2 / Bradley-Terry rating estimates -- the paper's
experiment in miniature (ratings need 10 games a temperature: the default 4 show "too few
games"). Results go to ``--out`` (default ``chessformer-demo/``), so a rerun
resumes and more ``--games`` extend it; ``chessformer report DIR`` redraws the table and plot.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys

INSTALL_STOCKFISH = (
    "Stockfish is needed for the demo and was not found on PATH or at /usr/games/stockfish.\n"
    "Install it with:  sudo apt-get install -y stockfish   (Debian/Ubuntu)\n"
    "               or: brew install stockfish              (macOS)\n"
    "or pass --stockfish /path/to/stockfish."
)


def find_stockfish(explicit: str | None) -> str | None:
    if explicit:
        return explicit if os.path.exists(explicit) or shutil.which(explicit) else None
    return shutil.which("stockfish") or (
        "/usr/games/stockfish" if os.path.exists("/usr/games/stockfish") else None
    )


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="chessformer demo", description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="run folder or nanoGPT .pt (default: the bundled model)")
    ap.add_argument("--games", type=int, default=4, help="games per temperature (even: colours)")
    ap.add_argument("--level", type=int, default=1, help="Stockfish Skill Level (paper: 1, 3, 5)")
    ap.add_argument("--temperatures", default="0.001,1.0")
    ap.add_argument("--movetime", default="0.1", help="Stockfish seconds per move")
    ap.add_argument("--out", default="chessformer-demo", help="results folder (resumable)")
    ap.add_argument("--concurrency", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--stockfish", help="path to the Stockfish binary")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    stockfish = find_stockfish(args.stockfish)
    if stockfish is None:
        print(f"chessformer demo: {INSTALL_STOCKFISH}", file=sys.stderr)
        return 2
    from chessformer.engine.bundled import resolve_model

    try:
        model = resolve_model(args.model)
    except FileNotFoundError as exc:
        print(f"chessformer demo: {exc}", file=sys.stderr)
        return 2
    print(
        f"chessformer demo: {model.name if args.model else 'the bundled model'} vs Stockfish "
        f"level {args.level} ({args.movetime} s/move), {args.games} games at each temperature "
        f"{args.temperatures}; results in {args.out}/",
        file=sys.stderr,
    )
    from chessformer.arena import match

    options = {
        "--model": str(model),
        "--out": args.out,
        "--stockfish": stockfish,
        "--stockfish-levels": str(args.level),
        "--games": str(args.games),
        "--temperatures": args.temperatures,
        "--movetime": args.movetime,
        "--concurrency": str(max(1, args.concurrency)),
        "--seed": str(args.seed),
    }
    return match.main([word for option in options.items() for word in option])
