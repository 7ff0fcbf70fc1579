"""``chessformer plot``: the loss curves of a training run, from its ``metrics.jsonl``.

    chessformer plot runs/quick                  # writes runs/quick/loss.png, prints a summary
    chessformer plot runs/a runs/b --out cmp.png # several runs on one plot

Draws the training loss (every logged interval) and the validation loss (every evaluation)
against the step, with the unigram entropy of the data (the loss of a model that ignores context,
written by ``chessformer train`` at the start) as a dashed line. The plot needs matplotlib
(``pip install 'chessformer[plot]'``); without it the summary is still printed.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class RunError(ValueError):
    """A run folder without readable metrics."""


@dataclass
class Curves:
    name: str
    train: list[tuple[int, float]] = field(default_factory=list)  # (step, loss)
    val: list[tuple[int, float, float]] = field(default_factory=list)  # (step, loss, acc)
    unigram: float | None = None
    tokens: int = 0
    tok_per_s: float | None = None


def read_run(run_dir: Path) -> Curves:
    """The curves of one run; a resumed run's records are in step order already."""
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        what = "is not a folder" if not run_dir.is_dir() else "has no metrics.jsonl"
        raise RunError(f"{run_dir} {what} (expected a `chessformer train --out` folder)")
    c = Curves(run_dir.name or str(run_dir))
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec: dict[str, Any] = json.loads(line)
            kind, step = rec.get("kind"), int(rec["step"])
            if kind == "train":
                c.train.append((step, float(rec["loss"])))
                c.tokens = int(rec.get("tokens", c.tokens))
                c.tok_per_s = rec.get("tok_per_s", c.tok_per_s)
            elif kind == "val":
                c.val.append((step, float(rec["loss"]), float(rec.get("acc", math.nan))))
            elif kind == "data":
                c.unigram = float(rec["unigram_entropy"])
        except (ValueError, KeyError, TypeError) as e:
            raise RunError(f"{path}:{n}: not a metrics record ({e})") from None
    if not c.train and not c.val:
        raise RunError(f"{path} holds no train or val records yet")
    return c


def summary(c: Curves) -> str:
    parts: list[str] = []
    if c.train:
        parts.append(f"step {c.train[-1][0]}, train loss {c.train[-1][1]:.4f}")
    if c.val:
        step, loss, acc = min(c.val, key=lambda v: v[1])
        parts.append(f"best val loss {loss:.4f} (acc {acc:.3f}) at step {step}")
    if c.unigram is not None:
        parts.append(f"unigram entropy {c.unigram:.4f}")
        if c.val:
            best = min(v[1] for v in c.val)
            ratio = best / c.unigram if c.unigram > 0 else math.nan
            parts.append(f"val/unigram {ratio:.2f}")
    if c.tokens:
        parts.append(f"{c.tokens:,} tokens")
    return f"{c.name}: " + ", ".join(parts)


def write_plot(runs: list[Curves], out: Path) -> None:
    """Loss against step, one colour per run. Raises ImportError without matplotlib."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.0, 4.5), layout="constrained")
    ax = fig.add_subplot()
    for c in runs:
        prefix = f"{c.name}: " if len(runs) > 1 else ""
        color = None
        if c.train:
            (line,) = ax.plot(*zip(*c.train, strict=True), lw=1, alpha=0.8, label=f"{prefix}train")
            color = line.get_color()
        if c.val:
            steps, losses = [v[0] for v in c.val], [v[1] for v in c.val]
            ax.plot(steps, losses, "o-", ms=3, color=color, label=f"{prefix}validation")
        if c.unigram is not None:
            ax.axhline(
                c.unigram,
                ls="--",
                color=color or "0.4",
                lw=1,
                label=f"{prefix}unigram entropy ({c.unigram:.2f})",
            )
    ax.set_xlabel("step")
    ax.set_ylabel("loss (nats per token)")
    ax.set_title("Training run" if len(runs) == 1 else "Training runs")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        fig.savefig(tmp, format=out.suffix.lstrip(".") or "png", dpi=120)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="chessformer plot", description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", type=Path, help="run folders (chessformer train --out)")
    ap.add_argument("--out", type=Path, help="image file (.png, .svg, .pdf); default RUN/loss.png")
    args = ap.parse_args(argv)
    if args.out is not None and args.out.suffix.lower() not in (".png", ".svg", ".pdf"):
        print(f"chessformer plot: --out {args.out}: expected .png, .svg or .pdf", file=sys.stderr)
        return 2
    try:
        runs = [read_run(r) for r in args.runs]
    except RunError as e:
        print(f"chessformer plot: {e}", file=sys.stderr)
        return 2
    for c in runs:
        print(summary(c))
    out = args.out or args.runs[0] / "loss.png"
    try:
        write_plot(runs, out)
    except ImportError:
        print(
            "chessformer plot: matplotlib is not installed, so no plot was written; install it "
            "with `pip install 'chessformer[plot]'`",
            file=sys.stderr,
        )
        return 1
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
