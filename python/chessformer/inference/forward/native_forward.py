"""The ``native`` backend: the whole forward pass is one C++ call (``chessformer._core.NativeGPT``,
cpp/infer; GIL released) over numpy views of the parameters and of the KV cache (no copies):
flat chunks and offsets, every weight row read once per call for all its tokens, and with
candidates only those logits (the others -inf). See docs/inference.md."""

from __future__ import annotations

from dataclasses import fields
from itertools import accumulate, chain

import numpy as np
import torch

from chessformer.inference.forward.base import Feed, KVCache, LayerWeights, Weights


def native_vectorised() -> bool:
    """Whether the C++ forward was built with SIMD dot products (a portable build without
    ``-march=native`` has only the scalar fallback, slower than PyTorch's BLAS)."""
    from chessformer import _core

    return _core.native_isa() != "scalar"


def _view(t: torch.Tensor | None) -> np.ndarray | None:
    return None if t is None else t.detach().numpy()


def _layer_arrays(lw: LayerWeights) -> dict[str, object]:
    """A block's record as the C++ side's layer dict (same names; tensors as numpy views)."""
    out: dict[str, object] = {}
    for f in fields(lw):
        v = getattr(lw, f.name)
        out[f.name] = _view(v) if v is None or isinstance(v, torch.Tensor) else v
    return out


class NativeForward:
    backend = "native"

    def __init__(
        self, weights: Weights, cache: KVCache, *, bf16: bool = False, threads: int = 1
    ) -> None:
        """Raises ValueError when the C++ side cannot borrow a tensor (dtype, layout...).
        ``bf16``: the C++ side reads bf16 copies of the matrices (fp32 activations);
        ``threads``: threads splitting each matrix product."""
        from chessformer import _core

        self.cache = cache
        self.threads = threads
        w = weights
        self.cpp = _core.NativeGPT(
            _view(w.wte),
            _view(w.wpe),
            _view(w.lnf_w),
            _view(w.lnf_b),
            _view(w.head),
            [_layer_arrays(lw) for lw in w.layers],
            [c.numpy() for c in cache.k],
            [c.numpy() for c in cache.v],
            n_head=cache.n_head,
            eps=w.eps,
            bf16=bf16,
            wbe=_view(w.wbe),
            board_width=_core.MAX_FEATURES if w.wbe is not None else 0,
            board_pad=w.board_pad,
        )

    def __call__(self, feed: Feed) -> torch.Tensor:
        """K/V written in place, logits (n, V) in the feed's order; only ``feed.candidates``
        (when given) are computed."""
        flat = list(chain.from_iterable(feed.chunks))
        offsets = [0, *accumulate(feed.lens)]
        cand = cand_off = None
        if feed.candidates is not None:
            cand = list(chain.from_iterable(feed.candidates))
            cand_off = [0, *accumulate(len(c) for c in feed.candidates)]
        feats = np.concatenate(feed.features) if feed.features is not None else None
        out = self.cpp.forward(
            flat, offsets, feed.slots, feed.base, cand, cand_off, self.threads, feats
        )
        return torch.from_numpy(out)
