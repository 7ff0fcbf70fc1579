"""Board-aware against move-only training: validation loss against tokens seen and CPU time,
from the runs' ``metrics.jsonl`` (written by ``chessformer train``), as a table and a plot.

    python bench/board_vs_move.py RUN_DIR [RUN_DIR ...] --out docs/results/board-vs-move

The first run is the reference (the move-only model): the table gives, for every other run, the
tokens it needed to reach the reference's final validation loss, as a fraction of the
reference's tokens.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from chessformer.model.runlog import iter_metrics


def cumulative_cpu(val: list[dict[str, float]]) -> list[float]:
    """CPU seconds since the run began: a resumed run's process starts its clock at 0 again, so
    each restart continues from the last value logged before it (the CPU spent after that last
    evaluation and before the crash or stop is not counted)."""
    out, offset, last = [], 0.0, 0.0
    for r in val:
        t = float(r.get("cpu_s", 0.0))
        if t < last:
            offset += last
        last = t
        out.append(offset + t)
    return out


def tokens_to_reach(val: list[dict[str, float]], target: float) -> float | None:
    """Tokens at which validation loss first reaches ``target`` (linear between evaluations)."""
    prev = None
    for r in val:
        if r["loss"] <= target:
            if prev is None:
                return float(r["tokens"])
            t0, l0 = prev["tokens"], prev["loss"]
            frac = (l0 - target) / max(l0 - r["loss"], 1e-12)
            return float(t0 + frac * (r["tokens"] - t0))
        prev = r
    return None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+", type=Path, help="run folders; the first is the reference")
    p.add_argument("--out", type=Path, required=True, help="folder for README.md and the plot")
    args = p.parse_args(argv)
    vals = {run: [dict(r) for r in iter_metrics(run, "val")] for run in args.runs}
    ref_run = args.runs[0]
    ref = vals[ref_run]
    if not ref:
        raise SystemExit(f"{ref_run}: no validation records yet")
    target = ref[-1]["loss"]
    rows = []
    for run, val in vals.items():
        if not val:
            continue
        last = val[-1]
        need = tokens_to_reach(val, target)
        rows.append(
            "| {} | {:,} | {:.0f} | {:.4f} | {:.4f} | {} | {} |".format(
                run.name,
                int(last["tokens"]),
                cumulative_cpu(val)[-1],
                last["loss"],
                last["acc"],
                f"{last['value_loss']:.4f}" if "value_loss" in last else "",
                f"{need / ref[-1]['tokens']:.2f}" if need is not None else "not reached",
            )
        )
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for run, val in vals.items():
        axes[0].plot([r["tokens"] / 1e6 for r in val], [r["loss"] for r in val], label=run.name)
        axes[1].plot(
            [r.get("cpu_s", 0) / 60 for r in val], [r["loss"] for r in val], label=run.name
        )
    axes[0].set_xlabel("tokens seen (millions, padded rows)")
    axes[1].set_xlabel("CPU minutes of the training process")
    for ax in axes:
        ax.set_ylabel("validation move loss (nats)")
        ax.axhline(target, color="grey", lw=0.8, ls="--")
        ax.legend()
        ax.grid(alpha=0.3)
    args.out.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(args.out / "val_loss.png", dpi=110)
    table = "\n".join(
        [
            "| run | tokens | CPU s | val loss | top-1 move acc | value loss "
            f"| tokens to reach {target:.4f}, × the reference's |",
            "|---|---|---|---|---|---|---|",
            *rows,
        ]
    )
    print(table)
    (args.out / "table.md").write_text(table + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
