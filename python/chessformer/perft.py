"""`chessformer perft FEN DEPTH [--divide]`: count the leaves of the legal move tree.

Prints ``nodes: N`` and ``nps: N`` (leaf nodes per second); ``--divide`` first prints each root
move with its subtree count, as Stockfish's ``go perft`` does. ``startpos`` is accepted as FEN.
"""

from __future__ import annotations

import argparse
import sys
import time

from chessformer._argtypes import int_at_least


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="chessformer perft", description=__doc__.splitlines()[0])
    parser.add_argument("fen", help="position as FEN, or 'startpos'")
    parser.add_argument("depth", type=int_at_least(0), help="depth in plies (>= 0)")
    parser.add_argument("--divide", action="store_true", help="print each root move's count")
    parser.add_argument("--chess960", action="store_true", help="Chess960 castling rules")
    args = parser.parse_args(argv)

    from chessformer.board import STARTING_FEN, Board, InvalidFenError

    fen = STARTING_FEN if args.fen == "startpos" else args.fen
    try:
        board = Board(fen, chess960=args.chess960)
    except InvalidFenError as exc:
        print(f"chessformer perft: {exc}", file=sys.stderr)
        return 2
    start = time.perf_counter()
    if args.divide and args.depth > 0:
        counts = board.perft_divide(args.depth)
        for uci, n in counts.items():
            print(f"{uci}: {n}")
        nodes = sum(counts.values())
    else:
        nodes = board.perft(args.depth)
    elapsed = time.perf_counter() - start
    print(f"nodes: {nodes}")
    print(f"nps: {int(nodes / elapsed) if elapsed > 0 else 0}")
    return 0
