"""Before and after issue 14's refactors: prep, perft, CPU decode and UCI latency of two checkouts.

    python bench/house_before_after.py --old ../old267 --new . --corpus gnuchess-book-1.02.pgn.zst
        [--rounds 5] [--work DIR] [--json bench/results/house-before-after.json]

Each checkout is measured with its own ``.venv`` and its own bench scripts (the benches themselves
did not change, only their imports), in interleaved rounds: old then new, then new then old, so
that a busy machine's drift hits both alike. Every measurement is a fresh process and records the
load average before it. Single-threaded figures are CPU time (user + sys of the measured code, or
of the whole child process), which a shared machine distorts far less than the wall clock;
UCI latency is wall clock by nature. Reported: each figure's median over the rounds and the ratio
new/old (for times, below 1: new is faster; for rates, above 1), and the same for each side's best
round.

- prep: ``bench_prep.ours`` (``_core.prep_chunk`` over the decompressed GNU corpus as `prep` cuts
  it, one thread, move tokenizer, best of ``--prep-repeat`` passes).
- perft: ``Board(fen).perft(depth)`` over bench/perft_vs_peers.py's six positions.
- decode: ``choose_moves`` per call, batch 1 and 8, native and torch backends (1 thread each),
  warm, on bench_cpu_decode.py's seeded games, the cache reused as in a match.
- uci: bench/bench_uci.py (a real `chessformer uci` process; its CPU time is the whole run's);
  and the same game in process, ``UciEngine.handle`` from ``go`` to ``bestmove`` timed by the
  process's CPU clock (all threads) as well as the wall clock.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from chessformer._io import write_json

PREP = """
import json, sys
sys.path.insert(0, "bench")
import bench_prep
data = open(sys.argv[1], "rb").read()
r = bench_prep.ours(data, 1, repeat=int(sys.argv[2]))
print(json.dumps({"cpu_s": r["cpu_seconds"], "wall_s": r["seconds"], "mb": len(data) / 1e6,
                  "plies": r["plies"], "games": r["games"]}))
"""

PERFT = """
import json, sys, time
sys.path.insert(0, "bench")
from perft_vs_peers import POSITIONS
from chessformer import Board
out = {}
for name, fen, depth in POSITIONS:
    board = Board(fen)
    c, t = time.process_time(), time.perf_counter()
    nodes = board.perft(depth)
    out[name] = {"depth": depth, "nodes": nodes, "cpu_s": time.process_time() - c,
                 "wall_s": time.perf_counter() - t}
print(json.dumps(out))
"""

DECODE = """
import json, statistics, sys, time
sys.path.insert(0, "bench")
import torch
torch.set_num_threads(1)
import bench_cpu_decode as b
calls = int(sys.argv[1])
model, info = b.load_model(b.resolve_model(None))
tokenizer = b.get_tokenizer(info)
out = {}
for batch in (1, 8):
    seqs = b.games(batch, calls + 1, seed=batch)
    for backend in ("native", "torch"):
        kw = {"threads": 1} if backend == "native" else {}
        eng = b.InferenceEngine(model, tokenizer, max_batch=batch, backend=backend, **kw)
        eng.choose_moves([s[0] for s in seqs], temperature=1.0, seeds=list(range(batch)))
        cpu, wall = [], []
        for k in range(1, calls + 1):
            boards = [s[k] for s in seqs]
            c, t = time.process_time(), time.perf_counter()
            eng.choose_moves(boards, temperature=1.0, seeds=list(range(batch)))
            cpu.append(time.process_time() - c)
            wall.append(time.perf_counter() - t)
        out[f"batch{batch}_{backend}"] = {"cpu_ms": 1000 * statistics.median(cpu),
                                          "wall_ms": 1000 * statistics.median(wall)}
print(json.dumps(out))
"""

UCI_IN_PROCESS = """
import json, statistics, sys, threading, time
try:
    from chessformer.engine.uci import UciEngine
except ImportError:  # before the house refactor
    from chessformer.uci import UciEngine
from chessformer import Board

class Out:
    def __init__(self):
        self.best, self.done = None, threading.Event()
    def write(self, text):
        if text.startswith("bestmove"):
            self.best = text.split()[1]
            self.done.set()
        return len(text)
    def flush(self):
        pass

out = Out()
engine = UciEngine(out=out)
engine.log = lambda text: None
engine.handle("isready")
board, moves, cpu, wall = Board(), [], [], []
for _ in range(int(sys.argv[1])):
    engine.handle("position startpos" + (" moves " + " ".join(moves) if moves else ""))
    out.done.clear()
    c, t = time.process_time(), time.perf_counter()
    engine.handle("go wtime 60000 btime 60000")
    out.done.wait()
    cpu.append(1000 * (time.process_time() - c))
    wall.append(1000 * (time.perf_counter() - t))
    board.push_uci(out.best)
    moves.append(out.best)
    replies = [m.uci() for m in board.legal_moves]
    if not replies:
        break
    board.push_uci(replies[0])
    moves.append(replies[0])
    if not any(True for _ in board.legal_moves):
        break
engine.handle("quit")
print(json.dumps({"first_cpu_ms": cpu[0], "later_cpu_ms": statistics.median(cpu[1:]),
                  "first_wall_ms": wall[0], "later_wall_ms": statistics.median(wall[1:]),
                  "moves": len(cpu)}))
"""


def child_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def measure(tree: Path, argv: list[str]) -> dict[str, Any]:
    """Run ``argv`` (its first word a script or ``-c``) with ``tree``'s Python in ``tree``: its
    output's last line (JSON), the child's CPU time and wall clock, and the load before."""
    load = os.getloadavg()
    cmd = [str(tree / ".venv" / "bin" / "python"), *argv]
    c, t = child_cpu(), time.perf_counter()
    proc = subprocess.run(cmd, cwd=tree, capture_output=True, text=True, check=False)
    wall, cpu = time.perf_counter() - t, child_cpu() - c
    if proc.returncode != 0:
        raise SystemExit(f"{tree}: {argv[:2]} failed:\n{proc.stderr[-3000:]}")
    return {
        "result": proc.stdout.strip().splitlines()[-1],
        "process_cpu_s": round(cpu, 3),
        "process_wall_s": round(wall, 3),
        "load_before": [round(x, 2) for x in load],
    }


def figures(kind: str, run: dict[str, Any]) -> dict[str, float]:
    """The figures compared, from one measurement."""
    r = run["result"]
    if kind == "prep":
        return {"cpu_mb_s": r["mb"] / r["cpu_s"], "wall_mb_s": r["mb"] / r["wall_s"]}
    if kind == "perft":
        nodes = sum(p["nodes"] for p in r.values())
        return {
            "cpu_mnps": nodes / sum(p["cpu_s"] for p in r.values()) / 1e6,
            "wall_mnps": nodes / sum(p["wall_s"] for p in r.values()) / 1e6,
        }
    if kind == "decode":
        return {f"{k}_{m}": v[m] for k, v in r.items() for m in ("cpu_ms", "wall_ms")}
    if kind == "uci_in_process":
        return {k: v for k, v in r.items() if k != "moves"}
    return {
        "first_bestmove_ms": r["first_bestmove_ms"],
        "later_moves_median_ms": r["later_moves_median_ms"],
        "process_start_to_uciok_ms": r["process_start_to_uciok_ms"],
        "isready_load_s": r["isready_load_s"],
        "whole_run_cpu_s": run["process_cpu_s"],
    }


def summarize(runs: dict[str, dict[str, list[dict[str, Any]]]]) -> dict[str, Any]:
    """Each figure's median over the rounds, old and new, and the ratio new/old; also the best
    round of each (the least disturbed by the machine's load: the highest rate, the lowest time)."""
    summary: dict[str, Any] = {}
    for kind, sides in runs.items():
        summary[kind] = {}
        for name in sides["old"][0]["figures"]:
            best = max if ("mb_s" in name or "mnps" in name) else min
            row: dict[str, float] = {}
            for side in ("old", "new"):
                values = [r["figures"][name] for r in sides[side]]
                row[side] = statistics.median(values)
                row[f"{side}_best"] = best(values)
            row["new_over_old"] = row["new"] / row["old"]
            row["best_new_over_old"] = row["new_best"] / row["old_best"]
            summary[kind][name] = row
            print(
                f"{kind:6s} {name:28s} median old {row['old']:8.4g} new {row['new']:8.4g} "
                f"new/old {row['new_over_old']:.3f}; best {row['best_new_over_old']:.3f}"
            )
    return summary


def commit(tree: Path) -> str:
    return subprocess.run(
        ["git", "-C", str(tree), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--old", type=Path, required=True, help="checkout before, with its .venv")
    ap.add_argument("--new", type=Path, required=True, help="checkout after, with its .venv")
    ap.add_argument("--corpus", type=Path, required=True, help="gnuchess-book-1.02.pgn.zst")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--prep-repeat", type=int, default=3)
    ap.add_argument("--decode-calls", type=int, default=40)
    ap.add_argument("--uci-moves", type=int, default=20)
    ap.add_argument("--only", help="comma-separated measurements (default: all)")
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "house-bench")
    ap.add_argument("--json", type=Path, default=Path("bench/results/house-before-after.json"))
    args = ap.parse_args()
    trees = {"old": args.old.resolve(), "new": args.new.resolve()}
    args.work.mkdir(parents=True, exist_ok=True)
    pgn = args.work / "gnuchess-book.pgn"
    if not pgn.exists():
        with open(pgn, "wb") as f:
            subprocess.run(["zstd", "-dc", str(args.corpus)], stdout=f, check=True)
    uci_json = args.work / "uci.json"
    kinds: dict[str, list[str]] = {
        "prep": ["-c", PREP, str(pgn), str(args.prep_repeat)],
        "perft": ["-c", PERFT],
        "decode": ["-c", DECODE, str(args.decode_calls)],
        "uci_in_process": ["-c", UCI_IN_PROCESS, str(args.uci_moves)],
        "uci": ["bench/bench_uci.py", "--moves", str(args.uci_moves), "--json", str(uci_json)],
    }
    if args.only:
        kinds = {k: v for k, v in kinds.items() if k in args.only.split(",")}
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {k: {"old": [], "new": []} for k in kinds}
    for rnd in range(args.rounds):
        order = ("old", "new") if rnd % 2 == 0 else ("new", "old")
        for kind, argv in kinds.items():
            for side in order:
                run = measure(trees[side], argv)
                # bench_uci prints indented JSON: its --json file instead
                text = uci_json.read_text() if kind == "uci" else run["result"]
                run["result"] = json.loads(text)
                run["round"] = rnd
                run["figures"] = figures(kind, run)
                runs[kind][side].append(run)
                shown = ", ".join(f"{k} {v:.4g}" for k, v in run["figures"].items())
                print(f"round {rnd} {kind:6s} {side}: {shown} (load {run['load_before'][0]})")
    summary = summarize(runs)
    loads = [r["load_before"][0] for sides in runs.values() for s in sides.values() for r in s]
    result = {
        "benchmark": "house-before-after",
        "commits": {side: commit(tree) for side, tree in trees.items()},
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "rounds": args.rounds,
        "load_1min": {"min": min(loads), "median": statistics.median(loads), "max": max(loads)},
        # each "-c NAME" is the program NAME in this file
        "argv": {k: [f"-c {k.upper()}", *v[2:]] if v[0] == "-c" else v for k, v in kinds.items()},
        "summary": summary,
        "runs": runs,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    write_json(args.json, result, allow_nan=True)
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
