"""How well `chessformer match` keeps Stockfish busy: the model's share of wall time and the run's
wall time against the ideal (total Stockfish thinking time) / concurrency.

    python bench/bench_match.py [--model RUN_DIR] [--games 16] [--level 1] [--movetime 0.1]
        [--concurrency 2] [--shape tiny|small|paper] [--tokenizer move|char] [--device cpu]
        [--json bench/results/match-cpu.json]

The engine's backend is the default one (``native`` for fp32 on the CPU); set
``CHESSFORMER_BACKEND=torch`` to time the PyTorch path instead.

Without ``--model`` (or the bundled model) it builds a random-weight model of ``--shape``
(tiny: 2 layers x 64; small: 8 x 256; paper: the paper's 16 x 512, ~50M parameters) and says so:
timings depend on the model's size and tokenizer, not on its weights, but a random model loses
quickly, so its games are shorter than a trained model's.

Goals (issue 7): model share of wall < 10% on CPU; wall <= 1.2 x (Stockfish time / N). The wall
clock runs from the first game's start to the last game's end (model loading and the parallel
start of the Stockfish processes are reported apart); Stockfish time is the sum over searches of
`go` -> `bestmove`, timestamped by each engine's reader thread.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

from chessformer._io import write_json
from chessformer.arena.match import MatchConfig, load_model_engine, run_match
from chessformer.arena.stockfish import UciClient, find_stockfish
from chessformer.data.tokenizers import get_tokenizer
from chessformer.model.checkpoint import save_checkpoint
from chessformer.model.gpt import GPT, GPTConfig

SHAPES = {"tiny": (2, 2, 64), "small": (8, 8, 256), "paper": (16, 8, 512)}


def random_model(folder: Path, shape: str, tokenizer: str) -> Path:
    tok = get_tokenizer(tokenizer)
    n_layer, n_head, n_embd = SHAPES[shape]
    torch.manual_seed(0)
    model = GPT(
        GPTConfig(
            vocab_size=tok.vocab_size,
            block_size=1023,
            n_layer=n_layer,
            n_head=n_head,
            n_embd=n_embd,
        )
    )
    save_checkpoint(folder, 0, model, {}, tok.info())
    return folder


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="a trained model (default: bundled, else a random one)")
    ap.add_argument("--shape", choices=sorted(SHAPES), default="tiny")
    ap.add_argument("--tokenizer", choices=("move", "char"), default="move")
    ap.add_argument("--games", type=int, default=16)
    ap.add_argument("--level", type=int, default=1)
    ap.add_argument("--movetime", type=float, default=0.1)
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--concurrency", type=int, default=2)
    ap.add_argument("--model-threads", type=int, default=1)
    ap.add_argument("--device", default="cpu", help="model device (default cpu)")
    ap.add_argument("--batch-window", type=float, default=0.0, metavar="MS")
    ap.add_argument("--stockfish")
    ap.add_argument("--json", type=Path, help="write the results here")
    args = ap.parse_args()

    torch.set_num_threads(args.model_threads)
    with tempfile.TemporaryDirectory() as tmp:
        if args.model:
            model_path, source = Path(args.model), f"trained model {args.model}"
        else:
            from chessformer.engine.bundled import default_model_path

            bundled = default_model_path()
            if bundled is not None:
                model_path, source = bundled, f"bundled model {bundled}"
            else:
                model_path = random_model(Path(tmp) / "model", args.shape, args.tokenizer)
                source = (
                    f"RANDOM-WEIGHT {args.shape} {args.tokenizer} model "
                    "(no trained model available)"
                )
        print(f"model: {source}", file=sys.stderr)
        sf = find_stockfish(args.stockfish)
        probe = UciClient(sf)
        sf_name = probe.name
        probe.close()
        cfg = MatchConfig(
            model_path=str(model_path),
            model_name="bench",
            temperatures=(args.temperature,),
            games=args.games,
            levels=(args.level,),
            anchors={str(args.level): 1500.0},
            movetime=args.movetime,
            stockfish=sf_name,
        )
        t = time.perf_counter()
        engine = load_model_engine(model_path, args.concurrency, args.device)
        load = time.perf_counter() - t
        params = sum(p.numel() for p in engine.model.parameters())
        stats = run_match(
            cfg,
            Path(tmp) / "out",
            stockfish_path=sf,
            concurrency=args.concurrency,
            engine=engine,
            progress=False,
            batch_window=args.batch_window / 1000.0,
        )
    s = stats.to_json()
    ok_share = stats.model_share < 0.10
    ok_ratio = stats.stockfish_ratio <= 1.2
    print(
        f"{stats.games} games, concurrency {stats.concurrency}, {sf_name} level {args.level} at "
        f"{args.movetime} s/move; model: {source}, {params / 1e6:.2f}M parameters, "
        f"{engine.backend} backend\n"
        f"  wall {stats.wall:.2f} s (+ model load {load:.2f} s, Stockfish start "
        f"{stats.startup:.2f} s)\n"
        f"  model {stats.model_time:.2f} s in {stats.model_calls} calls "
        f"({1000 * stats.model_time / max(1, stats.model_calls):.1f} ms/call, "
        f"{s['mean_batch']:.2f} games/call): {100 * stats.model_share:.1f}% of wall "
        f"[goal < 10%: {'PASS' if ok_share else 'FAIL'}]\n"
        f"  Stockfish {stats.stockfish_time:.2f} s over {stats.stockfish_moves} moves; "
        f"wall / (Stockfish time / {stats.concurrency}) = {stats.stockfish_ratio:.3f} "
        f"[goal <= 1.2: {'PASS' if ok_ratio else 'FAIL'}]"
    )
    if args.json:
        result = {
            "benchmark": "match",
            "machine": platform.machine(),
            "cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
            "python": platform.python_version(),
            "torch": torch.__version__,
            "stockfish": sf_name,
            "model": source,
            "model_parameters": params,
            "tokenizer": engine.tokenizer.name,
            "backend": engine.backend,
            "settings": {
                "games": args.games,
                "level": args.level,
                "movetime": args.movetime,
                "temperature": args.temperature,
                "concurrency": args.concurrency,
                "model_threads": args.model_threads,
                "device": args.device,
                "batch_window_ms": args.batch_window,
            },
            "model_load_s": load,
            "stats": s,
            "goals": {"model_share_below_0.10": ok_share, "wall_ratio_at_most_1.2": ok_ratio},
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        write_json(args.json, result, allow_nan=True)
        print(f"wrote {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
