"""Cost of board features: training throughput and batch-1 decode latency of the same model with
and without them, interleaved in one run (CPU time, so other load on the machine matters less).

    python bench/bench_board.py --data DATASET [--rounds 3] [--out bench/results/board-cpu.json]

DATASET: a `move` dataset (`chessformer prep ... --tokenizer move`). Training: steps of the same
model (4 layers, d 128, context 160, 32 rows) from the same seed, with board_features none and
perspective, alternating; tokens per CPU second of the step (batching included). Decode: the
`small` config (6 layers, d 384, as large as the bundled model) on the native backend, a game of
40 plies fed, then one token per call at batch 1.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch

from chessformer.board import Board
from chessformer.data.dataset import Batcher, Dataset, GameStream
from chessformer.inference import InferenceEngine
from chessformer.model.evaluate import model_inputs
from chessformer.model.gpt import CONFIGS, GPT


def _model(board: str, block: int, config: str = "lab") -> GPT:
    """``lab``: 4 layers, d 128 (the CPU comparison's size); else a named config."""
    torch.manual_seed(0)
    base = (
        CONFIGS["tiny"].with_(n_layer=4, n_head=4, n_embd=128)
        if config == "lab"
        else CONFIGS[config]
    )
    return GPT(base.with_(vocab_size=1974, block_size=block, board_features=board))


def train_rate(ds: Dataset, board: str, steps: int, block: int) -> float:
    """Tokens per CPU second of optimizer steps, batches built inside the timed loop."""
    model = _model(board, block)
    opt = model.configure_optimizer(1e-3, 0.1, (0.9, 0.95))
    batcher = Batcher(GameStream(ds.splits["train"], seed=0), ds.tokenizer, block, None, board)
    batch = batcher.next_batch(32)  # warm-up step
    loss = model(batch[0], batch[1], **model_inputs(batch))[1]
    assert loss is not None
    loss.backward()
    t0 = time.process_time()
    for _ in range(steps):
        batch = batcher.next_batch(32)
        _, loss = model(batch[0], batch[1], **model_inputs(batch))
        assert loss is not None
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    return steps * 32 * block / (time.process_time() - t0)


def decode_ms(board: str, calls: int) -> float:
    """Median CPU ms of a batch-1 native call that feeds one new move."""
    eng = InferenceEngine(_model(board, 256, "small").eval(), "move", max_batch=1, backend="native")
    b = Board()
    times = []
    for ply in range(40 + calls):
        moves = list(b.legal_moves)
        if not moves:
            break
        t0 = time.process_time()
        choice = eng.choose_moves([b], temperature=0.0)[0]
        if ply >= 40:
            times.append(1e3 * (time.process_time() - t0))
        b.push(choice.move or moves[0])
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--calls", type=int, default=40)
    p.add_argument("--out", type=Path)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    ds = Dataset.open(args.data)
    rows: dict[str, list[float]] = {}
    for r in range(args.rounds):
        for board in ("none", "perspective") if r % 2 == 0 else ("perspective", "none"):
            rows.setdefault(f"train_tok_per_cpu_s/{board}", []).append(
                train_rate(ds, board, args.steps, 160)
            )
            rows.setdefault(f"decode_cpu_ms/{board}", []).append(decode_ms(board, args.calls))
    med = {k: statistics.median(v) for k, v in rows.items()}
    result = {
        "machine": platform.processor() or platform.machine(),
        "runs": rows,
        "median": med,
        "train_ratio": med["train_tok_per_cpu_s/perspective"] / med["train_tok_per_cpu_s/none"],
        "decode_ratio": med["decode_cpu_ms/perspective"] / med["decode_cpu_ms/none"],
    }
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
