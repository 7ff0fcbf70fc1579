"""What a training run writes as it goes: ``metrics.jsonl`` (plus TensorBoard events when the
``tensorboard`` package is installed), and readers for it. (The progress display on stderr is
`chessformer._progress.Progress`.)

``metrics.jsonl`` holds one JSON object per line, each with a ``kind`` and a ``step``:
``train`` (every ``log_interval`` steps), ``val`` (every ``eval_interval`` steps and at the end)
and ``data`` (once per session: the baseline a model must beat, ``unigram_entropy``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from chessformer._io import write_atomic
from chessformer.data.dataset import Split


class MetricsLog:
    """metrics.jsonl (append, one JSON object per line) plus TensorBoard when installed."""

    def __init__(self, run_dir: Path, enabled: bool) -> None:
        self.enabled = enabled
        self.path = run_dir / "metrics.jsonl"
        self.tb: Any = None
        if enabled:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.tb = SummaryWriter(str(run_dir / "tb"))
            except ImportError:  # tensorboard not installed: JSONL only
                self.tb = None

    def truncate_after(self, step: int) -> None:
        if not self.path.is_file():
            return
        lines = self.path.read_text().splitlines(keepends=True)
        kept = [line for line in lines if json.loads(line).get("step", 0) <= step]
        if len(kept) != len(lines):
            write_atomic(self.path, "".join(kept))

    def write(self, record: dict[str, Any]) -> None:
        if not self.enabled:
            return
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")
        if self.tb is not None:
            for k, v in record.items():
                if k not in ("step", "kind") and isinstance(v, int | float):
                    self.tb.add_scalar(f"{record['kind']}/{k}", v, record["step"])

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()


def iter_metrics(run_dir: str | os.PathLike[str], kind: str = "train") -> Iterator[dict[str, Any]]:
    """Records of one kind from RUN_DIR/metrics.jsonl (for tests and notebooks)."""
    with open(Path(run_dir) / "metrics.jsonl") as f:
        for line in f:
            rec = json.loads(line)
            if rec.get("kind") == kind:
                yield rec


def capped_unigram_entropy(split: Split, vocab_size: int, cap: int = 20_000_000) -> float:
    """Entropy in nats of the token frequencies of the split's first ``cap`` tokens."""
    counts = np.zeros(vocab_size, dtype=np.float64)
    left = cap
    for t in split.tokens:
        part = np.asarray(t[:left])
        counts += np.bincount(part, minlength=vocab_size)[:vocab_size]
        left -= len(part)
        if left <= 0:
            break
    p = counts[counts > 0] / max(counts.sum(), 1.0)
    return float(-(p * np.log(p)).sum())
