"""Validation: the fixed rows a run evaluates on, and its metrics over them (move loss, top-1
accuracy, and a value head's loss). Also what a batch carries beyond (inputs, targets)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from chessformer.data.dataset import Batcher, Dataset, GameStream
from chessformer.data.tokenizers import Tokenizer
from chessformer.model.gpt import GPT, mask_illegal

# inputs, targets: (B, T) int64 each; a board-aware model's batches add features, value targets;
# a legal-softmax model's end with the packed legal-move masks (uint8)
Batch = tuple[torch.Tensor, ...]


def model_inputs(batch: Batch) -> dict[str, torch.Tensor]:
    """The keyword inputs beyond (x, y) that a batch carries for the model."""
    extra = list(batch[2:])
    out: dict[str, torch.Tensor] = {}
    if extra and extra[-1].dtype == torch.uint8:
        out["legal"] = extra.pop()
    if extra:
        out["features"], out["value_targets"] = extra
    return out


@torch.no_grad()
def evaluate(
    model: nn.Module,
    batches: Sequence[Batch],
    tok: Tokenizer,
    autocast: Callable[[], contextlib.AbstractContextManager[Any]] = contextlib.nullcontext,
) -> dict[str, float]:
    """Mean loss over all scored targets, and top-1 accuracy (for ``move``: over moves only).

    Sums are all-reduced, so every rank returns the global numbers.
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    # loss sum, n, correct, n scored, value loss sum, n value targets
    sums = torch.zeros(6, dtype=torch.float64, device=device)
    gpt = _unwrap(model)
    for batch in batches:
        x, y = batch[0].to(device), batch[1].to(device)
        board = {k: v.to(device) for k, v in model_inputs(batch).items()}
        with autocast():
            hidden = gpt.hidden(x, features=board.get("features"))  # (B, T, C)
            logits = gpt.lm_head(hidden)  # (B, T, V)
        logits = logits.float()
        if "legal" in board:
            logits = mask_illegal(logits, board["legal"])
        keep = y != -1  # (B, T)
        loss = F.cross_entropy(
            logits.view(-1, logits.size(-1)), y.view(-1), ignore_index=-1, reduction="sum"
        )
        scored = tok.scored(y)  # (B, T)
        correct = (logits.argmax(-1) == y) & scored  # (B, T)
        value_sum = torch.zeros((), dtype=torch.float64, device=device)
        n_value = torch.zeros((), dtype=torch.float64, device=device)
        if gpt.value_head is not None and "value_targets" in board:
            v = board["value_targets"].reshape(-1).long()
            with autocast():
                vlogits = gpt.value_head(hidden)
            value_sum = F.cross_entropy(
                vlogits.float().view(-1, 3), v, ignore_index=-1, reduction="sum"
            ).double()
            n_value = (v >= 0).sum().double()
        sums += torch.stack(
            [
                loss.double(),
                keep.sum().double(),
                correct.sum().double(),
                scored.sum().double(),
                value_sum,
                n_value,
            ]
        )
    if dist.is_initialized():
        dist.all_reduce(sums)
    model.train(was_training)
    loss_sum, n, n_correct, n_scored, v_sum, n_v = sums.tolist()
    out = {"loss": loss_sum / max(n, 1.0), "acc": n_correct / max(n_scored, 1.0)}
    if n_v:
        out["value_loss"] = v_sum / n_v
    return out


def _unwrap(model: nn.Module) -> GPT:
    """The GPT inside a DDP and/or torch.compile wrapper."""
    inner: Any = model
    while not isinstance(inner, GPT):
        inner = getattr(inner, "module", None) or getattr(inner, "_orig_mod", None)
        if inner is None:
            raise TypeError(f"{type(model).__name__} wraps no GPT")
    return inner


def validation_rows(
    ds: Dataset, block_size: int, n_rows: int, rank: int, world: int, packed: bool | None = None,
    board_features: str = "none", legal: bool = False,
) -> list[Batch]:  # fmt: skip
    """Fixed validation micro-batches: the val split in file order (no shuffle), rank-strided,
    at most one pass (small val splits are not repeated)."""
    split = ds.splits.get("val")
    if split is None or int(split.shard_games.sum()) <= rank:
        return []
    stream = GameStream(split, seed=0, rank=rank, world=world, shuffle=False)
    batcher = Batcher(stream, ds.tokenizer, block_size, packed, board_features, legal)
    out: list[Batch] = []
    while len(out) < n_rows and stream.epoch == 0:
        out.append(batcher.next_batch(1))
    # regroup single rows into micro-batches of up to 16 rows
    return [
        tuple(torch.cat(parts) for parts in zip(*out[i : i + 16], strict=True))
        for i in range(0, len(out), 16)
    ]
