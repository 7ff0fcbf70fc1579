"""Perft speed of chessformer against Stockfish's ``go perft`` and python-chess, in one run.

    python bench/perft_vs_peers.py [--repeat 5] [--json bench/results/perft.json]

Each engine counts the same positions at the same depths; Stockfish runs as a persistent process
(start-up excluded: the clock runs from ``go perft`` to its ``Nodes searched`` line). Node counts
must agree or the run fails. Reported: median nodes/s of each and the ratios chessformer/peer.
Absolute numbers on shared machines are noise; the ratios from one run are the result.
"""

from __future__ import annotations

import argparse
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from chessformer import Board
from chessformer._io import write_json

POSITIONS = [
    ("startpos", "rnbqkbnr/pppppppp/8/8/8/8/PPPPPPPP/RNBQKBNR w KQkq - 0 1", 6),
    ("kiwipete", "r3k2r/p1ppqpb1/bn2pnp1/3PN3/1p2P3/2N2Q1p/PPPBBPPP/R3K2R w KQkq - 0 1", 5),
    ("position3", "8/2p5/3p4/KP5r/1R3p1k/8/4P1P1/8 w - - 0 1", 7),
    ("position4", "r3k2r/Pppp1ppp/1b3nbN/nP6/BBP1P3/q4N2/Pp1P2PP/R2Q1RK1 w kq - 0 1", 5),
    ("position5", "rnbq1k1r/pp1Pbppp/2p5/8/2B5/8/PPP1NnPP/RNBQK2R w KQ - 1 8", 5),
    ("position6", "r4rk1/1pp1qppp/p1np1n2/2b1p1B1/2B1P1b1/P1NP1N2/1PP1QPPP/R4RK1 w - - 0 10", 5),
]


class Stockfish:
    def __init__(self, path: str) -> None:
        self.proc = subprocess.Popen(
            [path], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1
        )
        self._send("uci")
        self._wait("uciok")
        self.version = ""

    def _send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def _wait(self, prefix: str) -> str:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("id name"):
                self.version = line[8:].strip()
            if line.startswith(prefix):
                return line
        raise RuntimeError(f"stockfish exited before printing {prefix!r}")

    def perft(self, fen: str, depth: int) -> tuple[int, float]:
        self._send(f"position fen {fen}")
        self._send("isready")
        self._wait("readyok")
        start = time.perf_counter()
        self._send(f"go perft {depth}")
        line = self._wait("Nodes searched")
        elapsed = time.perf_counter() - start
        return int(line.split(":")[1]), elapsed

    def close(self) -> None:
        self._send("quit")
        self.proc.wait(timeout=10)


def python_chess_perft(fen: str, depth: int) -> tuple[int, float]:
    import chess

    board = chess.Board(fen)

    def rec(d: int) -> int:
        if d == 1:
            return board.legal_moves.count()
        n = 0
        for mv in board.legal_moves:
            board.push(mv)
            n += rec(d - 1)
            board.pop()
        return n

    start = time.perf_counter()
    nodes = rec(depth)
    return nodes, time.perf_counter() - start


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--stockfish", default=shutil.which("stockfish") or "/usr/games/stockfish")
    ap.add_argument(
        "--python-chess-depth-drop",
        type=int,
        default=2,
        help="python-chess runs this many plies shallower (it is ~1000x slower)",
    )
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    sf = Stockfish(args.stockfish)
    rows = []
    for name, fen, depth in POSITIONS:
        board = Board(fen)
        pc_depth = max(1, depth - args.python_chess_depth_drop)
        ours, theirs, pcs = [], [], []
        for _ in range(args.repeat):  # interleaved so machine drift hits all three alike
            start = time.perf_counter()
            n_ours = board.perft(depth)
            ours.append(time.perf_counter() - start)
            n_sf, t_sf = sf.perft(fen, depth)
            theirs.append(t_sf)
            if n_ours != n_sf:
                raise SystemExit(
                    f"{name}: node counts differ: chessformer {n_ours}, stockfish {n_sf}"
                )
            n_pc, t_pc = python_chess_perft(fen, pc_depth)
            pcs.append(t_pc)
        if n_pc != board.perft(pc_depth):
            raise SystemExit(f"{name}: node counts differ from python-chess at depth {pc_depth}")
        nps_ours = n_ours / statistics.median(ours)
        nps_sf = n_sf / statistics.median(theirs)
        nps_pc = n_pc / statistics.median(pcs)
        rows.append(
            {
                "position": name,
                "depth": depth,
                "nodes": n_ours,
                "chessformer_nps": nps_ours,
                "stockfish_nps": nps_sf,
                "ratio_vs_stockfish": nps_ours / nps_sf,
                # nodes/s at each engine's own depth: python-chess runs shallower to finish
                "python_chess_depth": pc_depth,
                "python_chess_nps": nps_pc,
                "ratio_vs_python_chess": nps_ours / nps_pc,
            }
        )
        r = rows[-1]
        print(
            f"{name:10s} d{depth} {n_ours:>11,} nodes  chessformer {nps_ours / 1e6:7.1f}M nps  "
            f"stockfish {nps_sf / 1e6:7.1f}M nps  ratio {r['ratio_vs_stockfish']:.2f}x  "
            f"python-chess (d{pc_depth}) {nps_pc / 1e6:.2f}M nps  "
            f"ratio {r['ratio_vs_python_chess']:,.0f}x",
            flush=True,
        )
    sf.close()
    result = {
        "benchmark": "perft",
        "machine": platform.processor() or platform.machine(),
        "stockfish": sf.version,
        "python": sys.version.split()[0],
        "repeat": args.repeat,
        "rows": rows,
    }
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        write_json(args.json, result, allow_nan=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
