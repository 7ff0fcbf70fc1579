"""Per-call time of ``choose_moves`` on the CPU, native (C++) backend vs torch, warm and cold.

    python bench/bench_cpu_decode.py [--model RUN_DIR] [--batch 1,2] [--calls 40] [--repeat 3]
        [--threads 1] [--bf16] [--json bench/results/cpu-decode.json]

A match calls the engine once per model move, with each game two plies longer than at its
previous call (our move and the reply: two new tokens for the move tokenizer), and Stockfish
thinks ~100 ms in between -- long enough to evict the weights and PyTorch's own code and data
from the caches. This script replays that pattern on seeded random games: every call is timed
alone, "warm" back to back, "cold" after writing a buffer larger than the last-level cache
(``--flush-mb``). The backends (``--bf16``: also native with bf16 weights) alternate call by
call (side by side, so a busy machine slows them alike); each configuration reports the median
and the best over ``--repeat`` passes of ``--calls`` calls. Default model: the bundled one.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from chessformer._io import write_json
from chessformer.board import Board
from chessformer.data.tokenizers import get_tokenizer
from chessformer.engine.bundled import resolve_model
from chessformer.inference import InferenceEngine
from chessformer.model.checkpoint import load_model


def games(n: int, calls: int, seed: int) -> list[list[Board]]:
    """``n`` games as the boards seen at ``calls`` successive calls (two plies apart, from ply
    20 on; a game that ends early restarts)."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        seq: list[Board] = []
        b = Board()
        while len(seq) < calls:
            moves = list(b.legal_moves)
            if not moves or b.ply >= 200:
                b = Board()
                continue
            b.push(rng.choice(moves))
            if b.ply >= 20 and b.ply % 2 == 0 and any(True for _ in b.legal_moves):
                seq.append(b.copy())
        out.append(seq)
    return out


def flush(buf: np.ndarray) -> None:
    buf += 1  # read and write every byte: the weights and the interpreter's data are evicted


def run(args: argparse.Namespace) -> dict[str, Any]:
    model, tok_info = load_model(resolve_model(args.model))
    tokenizer = get_tokenizer(tok_info)
    buf = np.zeros(args.flush_mb * 2**20 // 8, dtype=np.int64)
    rows = []
    for batch in [int(b) for b in args.batch.split(",")]:
        engines = {
            "native": InferenceEngine(
                model, tokenizer, max_batch=batch, threads=args.threads, backend="native"
            ),
            "torch": InferenceEngine(model, tokenizer, max_batch=batch, backend="torch"),
        }
        if args.bf16:
            engines["native-bf16"] = InferenceEngine(
                model,
                tokenizer,
                max_batch=batch,
                threads=args.threads,
                dtype=torch.bfloat16,
                backend="native",
            )
        assert engines["native"].backend == "native"
        for mode in ("warm", "cold"):
            times: dict[str, list[float]] = {k: [] for k in engines}
            best: dict[str, list[float]] = {k: [] for k in engines}
            for rep in range(args.repeat):
                seqs = games(batch, args.calls + 1, seed=1000 * rep + batch)
                per: dict[str, list[float]] = {k: [] for k in engines}
                for eng in engines.values():
                    eng.reset()
                    eng.choose_moves(
                        [s[0] for s in seqs], temperature=1.0, seeds=list(range(batch))
                    )
                for c in range(1, args.calls + 1):
                    boards = [s[c] for s in seqs]
                    for name, eng in engines.items():
                        if mode == "cold":
                            flush(buf)
                        t = time.perf_counter()
                        eng.choose_moves(boards, temperature=1.0, seeds=list(range(batch)))
                        per[name].append(time.perf_counter() - t)
                for name in engines:
                    times[name].extend(per[name])
                    best[name].append(statistics.median(per[name]))
            for name in engines:
                row = {
                    "batch": batch,
                    "mode": mode,
                    "backend": name,
                    "median_ms": 1000 * statistics.median(times[name]),
                    "best_pass_median_ms": 1000 * min(best[name]),
                    "min_ms": 1000 * min(times[name]),
                    "calls": len(times[name]),
                }
                rows.append(row)
                print(
                    f"batch {batch} {mode:4s} {name:11s}: median {row['median_ms']:.2f} ms, best "
                    f"pass {row['best_pass_median_ms']:.2f} ms, min {row['min_ms']:.2f} ms",
                    file=sys.stderr,
                )
    return {
        "benchmark": "cpu-decode",
        "machine": platform.machine(),
        "cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "model": str(resolve_model(args.model)),
        "model_parameters": sum(p.numel() for p in model.parameters()),
        "settings": {k: v for k, v in vars(args).items() if k != "json"},
        "rows": rows,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="run folder (default: the bundled model)")
    ap.add_argument("--batch", default="1,2", help="comma-separated batch sizes")
    ap.add_argument("--calls", type=int, default=40)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1, help="native backend threads")
    ap.add_argument("--torch-threads", type=int, default=1)
    ap.add_argument("--flush-mb", type=int, default=400)
    ap.add_argument("--bf16", action="store_true", help="also the opt-in bf16-weight native path")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    torch.set_num_threads(args.torch_threads)
    result = run(args)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        write_json(args.json, result, allow_nan=True)
        print(f"wrote {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
