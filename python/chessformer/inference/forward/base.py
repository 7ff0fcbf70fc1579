"""The ``Forward`` interface every backend implements, and what it works on: the model's weights
as named records, the engine's KV cache, and one call's ``Feed``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from chessformer.model.gpt import GPT, Block


@dataclass(frozen=True, slots=True)
class LayerWeights:
    """One transformer block's parameters (the model's own tensors: in-place changes of the
    weights are seen); biases are None in a bias-free model. The field names are those of the
    native forward's layer dict (``_core.NativeGPT``)."""

    ln1_w: torch.Tensor
    ln1_b: torch.Tensor | None
    attn_w: torch.Tensor  # (3C, C): q, k, v
    attn_b: torch.Tensor | None
    proj_w: torch.Tensor
    proj_b: torch.Tensor | None
    ln2_w: torch.Tensor
    ln2_b: torch.Tensor | None
    fc_w: torch.Tensor  # (4C, C)
    fc_b: torch.Tensor | None
    mproj_w: torch.Tensor  # (C, 4C)
    mproj_b: torch.Tensor | None
    gelu: str  # "none" (erf) or "tanh", as the model's nn.GELU says
    eps1: float
    eps2: float


@dataclass(frozen=True, slots=True)
class Weights:
    """The parameters a forward pass reads, fetched once from the model (module attribute
    lookups are a large part of a small model's step on the host)."""

    wte: torch.Tensor  # (V, C) token embedding
    wpe: torch.Tensor  # (block_size, C) position embedding
    lnf_w: torch.Tensor
    lnf_b: torch.Tensor | None
    head: torch.Tensor  # (V, C) output projection (tied to wte in the paper's models)
    eps: float  # of the final LayerNorm
    layers: tuple[LayerWeights, ...]
    # a board-aware model's feature embedding bag (FEATURES_VOCAB, C) and its padding id
    wbe: torch.Tensor | None = None
    board_pad: int = -1

    @classmethod
    def of(cls, model: GPT) -> Weights:
        tr = model.transformer
        layers = tuple(_layer(b) for b in tr.blocks())
        return cls(
            tr.wte.weight,
            tr.wpe.weight,
            tr.ln_f.weight,
            tr.ln_f.bias,
            model.lm_head.weight,
            float(tr.ln_f.eps),
            layers,
            tr.wbe.weight if tr.wbe is not None else None,
            tr.wbe.padding_idx if tr.wbe is not None and tr.wbe.padding_idx is not None else -1,
        )


def _layer(b: Block) -> LayerWeights:
    return LayerWeights(
        ln1_w=b.ln_1.weight,
        ln1_b=b.ln_1.bias,
        attn_w=b.attn.c_attn.weight,
        attn_b=b.attn.c_attn.bias,
        proj_w=b.attn.c_proj.weight,
        proj_b=b.attn.c_proj.bias,
        ln2_w=b.ln_2.weight,
        ln2_b=b.ln_2.bias,
        fc_w=b.mlp.c_fc.weight,
        fc_b=b.mlp.c_fc.bias,
        mproj_w=b.mlp.c_proj.weight,
        mproj_b=b.mlp.c_proj.bias,
        gelu=getattr(b.mlp.gelu, "approximate", "none"),
        eps1=float(b.ln_1.eps),
        eps2=float(b.ln_2.eps),
    )


class KVCache:
    """Per layer, keys and values ``(max_batch, n_head, max_seq, head_dim)``: slot ``s`` holds
    one game, a row's positions contiguous (the decode kernel's layout)."""

    def __init__(
        self,
        n_layer: int,
        max_batch: int,
        n_head: int,
        max_seq: int,
        head_dim: int,
        dtype: torch.dtype,
        device: torch.device,
    ) -> None:
        self.n_head, self.max_seq, self.head_dim, self.device = n_head, max_seq, head_dim, device
        shape = (max_batch, n_head, max_seq, head_dim)
        self.k = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(n_layer)]
        self.v = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(n_layer)]
        # (B * H * T, D) views: row (slot * H + h) * T + pos; new K/V are index_copy_'d in place
        self.k_flat = [c.view(-1, head_dim) for c in self.k]
        self.v_flat = [c.view(-1, head_dim) for c in self.v]
        self.head_offsets = torch.arange(n_head, device=device) * max_seq  # (H,)
        self.key_pos = torch.arange(max_seq, device=device)  # (T,)


@dataclass(frozen=True, slots=True)
class Feed:
    """One forward call: ``chunks[i]`` (>= 1 token) is fed to slot ``slots[i]`` from position
    ``base[i]`` (the slot's cached length; ``lens[i] = len(chunks[i])``). ``candidates[i]``:
    the only logits of row i the caller reads (e.g. the legal moves), or None for all.
    Checked by the engine: distinct slots, positions within the cache."""

    slots: list[int]
    chunks: Sequence[Sequence[int]]
    lens: list[int]
    base: list[int]
    candidates: Sequence[Sequence[int]] | None = None
    # a board-aware model's feature ids: per chunk, (len, MAX_FEATURES) int16 -- the position
    # each token leaves (docs/formats.md, "Board features")
    features: Sequence[np.ndarray] | None = None


class Forward(Protocol):
    """A backend's forward pass over the engine's KV cache."""

    backend: str  # "native", "triton" or "torch"
    cache: KVCache

    def __call__(self, feed: Feed) -> torch.Tensor:
        """Write the chunks' keys and values into the cache and return float32 logits
        ``(len(feed.slots), V)`` after each chunk's last token, in the feed's order. Rows of
        different lengths share the call: each token attends to its slot's cached prefix and to
        its chunk so far. Logits outside ``feed.candidates`` may be left -inf."""
        ...
