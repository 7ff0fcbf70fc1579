"""Calibration of a value head on held-out games: the predicted expected score of the side to
move (win + draw / 2) against the actual one, by bins of the prediction.

    python bench/value_calibration.py RUN_DIR --data DATASET [--games 1000] [--out FILE.md]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from chessformer.data.dataset import Batcher, Dataset, GameStream
from chessformer.model.checkpoint import load_model


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run", type=Path)
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--games", type=int, default=1000)
    p.add_argument("--bins", type=int, default=10)
    p.add_argument("--out", type=Path)
    args = p.parse_args(argv)
    model, _ = load_model(args.run)
    model.eval()
    cfg = model.config
    if model.value_head is None:
        raise SystemExit(f"{args.run}: the model has no value head")
    ds = Dataset.open(args.data)
    stream = GameStream(ds.splits["val"], seed=0, shuffle=False)
    batcher = Batcher(stream, ds.tokenizer, cfg.block_size, None, cfg.board_features)
    pred, actual = [], []
    with torch.no_grad():
        for _ in range(0, args.games, 32):
            x, _, f, v = batcher.next_batch(32)
            probs = model.value(model.hidden(x, features=f))  # (B, T, 3): loss, draw, win
            keep = v >= 0
            pred.append((probs[..., 2] + 0.5 * probs[..., 1])[keep].numpy())
            actual.append((v[keep].float() / 2).numpy())
    e, a = np.concatenate(pred), np.concatenate(actual)
    edges = np.linspace(0, 1, args.bins + 1)
    idx = np.clip(np.digitize(e, edges) - 1, 0, args.bins - 1)
    lines = [
        f"Value head calibration, {args.run.name}, {len(e):,} positions of {args.games} held-out "
        f"games; Brier score {float(np.mean((e - a) ** 2)):.4f} (constant mean "
        f"{float(np.mean((a.mean() - a) ** 2)):.4f})",
        "",
        "| predicted expected score | positions | mean predicted | mean actual |",
        "|---|---|---|---|",
    ]
    for b in range(args.bins):
        sel = idx == b
        if sel.any():
            lines.append(
                f"| {edges[b]:.1f}–{edges[b + 1]:.1f} | {int(sel.sum()):,} | "
                f"{float(e[sel].mean()):.3f} | {float(a[sel].mean()):.3f} |"
            )
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
