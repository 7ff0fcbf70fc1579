"""Does ``go depth 1+S`` reproduce Stockfish's Skill Level S at the paper's ``go movetime 100``?

Stockfish weakens its play at Skill Level S by picking among its MultiPV lines once iterative
deepening reaches depth 1 + S; a longer search does not change that pick. This script measures
it: for each test position and level, it draws K moves with ``go movetime 100`` (twice: arms A and
A') and K moves with ``go depth 1+S`` (arm B), each after ``ucinewgame``, and compares the move
distributions by total-variation distance. TV(A, B) close to TV(A, A') (two samples of the same
distribution, the noise floor) means the two are the same opponent.

    python bench/lab_skill_depth.py [--positions 30] [--samples 10] [--levels 0,1,3,5]

Results: bench/results/lab-skill-depth.json.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from chessformer import _core
from chessformer.arena.stockfish import find_stockfish


class Engine:
    def __init__(self, path: str) -> None:
        self.p = subprocess.Popen(
            [path], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1
        )
        self.send("uci")
        self.wait("uciok")

    def send(self, line: str) -> None:
        assert self.p.stdin is not None
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()

    def wait(self, prefix: str) -> str:
        assert self.p.stdout is not None
        for line in self.p.stdout:
            if line.startswith(prefix):
                return line.strip()
        raise RuntimeError("engine exited")

    def move(self, fen: str, go: str, skill: int) -> str:
        self.send(f"setoption name Skill Level value {skill}")
        self.send("ucinewgame")
        self.send("isready")
        self.wait("readyok")
        self.send(f"position fen {fen}")
        self.send(go)
        return self.wait("bestmove").split()[1]

    def close(self) -> None:
        self.send("quit")
        self.p.wait()


def positions(n: int, seed: int, engine: Engine) -> list[str]:
    """Realistic positions: 4 random plies, then up to 40 plies of full-strength depth-6 play."""
    rng = random.Random(seed)
    out: list[str] = []
    while len(out) < n:
        b = _core.Board()
        for _ in range(4):
            b.push_uci(rng.choice(b.legal_moves_uci()))
        for _ in range(rng.randrange(0, 41)):
            if b.outcome() is not None:
                break
            b.push_uci(engine.move(b.fen(), "go depth 6", 20))
        if b.outcome() is None and b.count_legal() > 1:
            out.append(b.fen())
    return out


def tv(a: Counter[str], b: Counter[str]) -> float:
    na, nb = sum(a.values()), sum(b.values())
    return 0.5 * sum(abs(a[m] / na - b[m] / nb) for m in set(a) | set(b))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--positions", type=int, default=30)
    p.add_argument("--samples", type=int, default=10)
    p.add_argument("--levels", default="0,1,3,5")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", default="bench/results/lab-skill-depth.json")
    args = p.parse_args()
    engine = Engine(find_stockfish(None))
    fens = positions(args.positions, args.seed, engine)
    levels = [int(x) for x in args.levels.split(",")]
    rows = []
    for level in levels:
        tv_ab, tv_aa, same_best = [], [], 0
        t_a = t_b = 0.0
        for fen in fens:
            arms: dict[str, Counter[str]] = {"A": Counter(), "A2": Counter(), "B": Counter()}
            for _ in range(args.samples):
                for arm, go in (
                    ("A", "go movetime 100"),
                    ("A2", "go movetime 100"),
                    ("B", f"go depth {1 + level}"),
                ):
                    t0 = time.perf_counter()
                    arms[arm][engine.move(fen, go, level)] += 1
                    dt = time.perf_counter() - t0
                    if arm == "A":
                        t_a += dt
                    elif arm == "B":
                        t_b += dt
            tv_ab.append(tv(arms["A"], arms["B"]))
            tv_aa.append(tv(arms["A"], arms["A2"]))
            same_best += arms["A"].most_common(1)[0][0] == arms["B"].most_common(1)[0][0]
        n = len(fens) * args.samples
        row = {
            "level": level,
            "go_depth": 1 + level,
            "mean_tv_movetime_vs_depth": sum(tv_ab) / len(tv_ab),
            "mean_tv_movetime_vs_movetime": sum(tv_aa) / len(tv_aa),
            "modal_move_agrees": same_best / len(fens),
            "ms_per_move_movetime": 1000 * t_a / n,
            "ms_per_move_depth": 1000 * t_b / n,
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    engine.close()
    result = {
        "what": "Stockfish Skill Level S: go movetime 100 vs go depth 1+S (TV distance of the "
        "move distributions; movetime vs movetime is the sampling-noise floor)",
        "engine": "Stockfish (find_stockfish)",
        "positions": len(fens),
        "samples_per_arm": args.samples,
        "rows": rows,
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
