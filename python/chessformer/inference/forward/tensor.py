"""The forward pass in PyTorch ops, shared by the ``torch`` and ``triton`` backends: embedding,
the blocks (K/V written in place into the cache), the head; the subclasses supply attention over
the cache (and the Triton one its fused residual-add + LayerNorm and CUDA graphs).

A step where every row feeds one token (the usual decode step) runs a dedicated single-token
path: one host-to-device copy of the step's indices and no device-to-host sync until the caller
reads the logits. Longer chunks run as one flat batch of their tokens (no padding) through every
layer but attention.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from chessformer.inference.device import to_device
from chessformer.inference.forward.base import Feed, KVCache, Weights

# attention of one layer: (queries (m, H, D) of the step's m tokens, layer) -> outputs (m, C)
Attend = Callable[[torch.Tensor, int], torch.Tensor]
# torch path: how a group of rows reaches its slots' caches (see TorchForward.span)
Span = tuple[int | None, int]


class TensorForward(ABC):
    backend: str

    def __init__(self, weights: Weights, cache: KVCache) -> None:
        self.w = weights
        self.cache = cache
        self.device = cache.device
        self.n_embd = weights.wte.size(1)

    @torch.no_grad()
    def __call__(self, feed: Feed) -> torch.Tensor:
        return self._run(
            list(feed.slots), feed.chunks, feed.lens, feed.base, None, (None, 0), feed.features
        )

    def _run(
        self,
        slots: list[int],
        chunks: Sequence[Sequence[int]],
        lens: list[int],
        base: list[int],
        inv: list[int] | None,
        span: Span,
        feats: Sequence[np.ndarray] | None = None,
    ) -> torch.Tensor:
        """``inv``: where each row's logits go (rows reordered by the caller), None: in order;
        ``feats``: per chunk, a board-aware model's feature ids."""
        flat = None
        if feats is not None:
            flat = torch.from_numpy(np.concatenate(feats)).to(self.device, non_blocking=True)
        if max(lens) == 1:
            return self._decode(slots, [c[0] for c in chunks], base, span, inv, flat)
        return self._prefill(slots, chunks, lens, base, inv, flat)

    # ---- the single-token step --------------------------------------------------------------
    def _decode(
        self,
        slots: list[int],
        tokens: list[int],
        base: list[int],
        span: Span,
        inv: list[int] | None,
        feats: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Row i feeds ``tokens[i]`` at position ``base[i]`` of its slot."""
        packed = to_device(slots + tokens + base + (inv or []), torch.long, self.device)
        return self._decode_core(packed, len(slots), span, max(base) + 1, inv is not None, feats)

    def _decode_core(
        self,
        packed: torch.Tensor,
        n: int,
        span: Span,
        S: int,
        reorder: bool,
        feats: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The single-token forward from the packed (slots, tokens, positions[, inverse order])
        device tensor; no host syncs, no allocation that depends on values (graph-capturable on
        the Triton path). ``S``: the longest slot's length after the step (torch path)."""
        slot_t, tok, pos = packed[:n], packed[n : 2 * n], packed[2 * n : 3 * n]
        c = self.cache
        # cache row of (row i, head h): (slot_i * H + h) * T + pos_i
        widx = ((slot_t * (c.n_head * c.max_seq) + pos)[:, None] + c.head_offsets).view(-1)
        x = self._blocks(
            self._embed(tok, pos, feats), widx, self._decode_attention(slot_t, pos, S, span)
        )
        if reorder:
            x = x.index_select(0, packed[3 * n : 4 * n])
        return self._logits(x)  # (n, V)

    # ---- chunks of any lengths --------------------------------------------------------------
    def _prefill(
        self,
        slots: list[int],
        chunks: Sequence[Sequence[int]],
        lens: list[int],
        base: list[int],
        inv: list[int] | None,
        feats: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Every chunk's tokens as one flat batch; the logits after each chunk's last token."""
        n = len(slots)
        H, T = self.cache.n_head, self.cache.max_seq
        tok: list[int] = []
        pos: list[int] = []
        wrow: list[int] = []  # cache rows (slot * H) * T_max + position of the tokens
        start: list[int] = []  # flat index of each row's first token
        for c, b, ln, s in zip(chunks, base, lens, slots, strict=True):
            start.append(len(tok))
            tok.extend(c)
            pos.extend(range(b, b + ln))
            r = s * H * T
            wrow.extend(range(r + b, r + b + ln))
        nv = len(tok)
        last = [start[i] + lens[i] - 1 for i in range(n)]
        if inv is not None:
            last = [last[r] for r in inv]  # the caller's order
        ints = tok + pos + wrow + last
        plan = self._plan_prefill(ints, slots, lens, base, start)  # appends its indices to ints
        packed = to_device(ints, torch.long, self.device)
        tok_t, pos_t, wrow_t = packed[:nv], packed[nv : 2 * nv], packed[2 * nv : 3 * nv]
        last_t = packed[3 * nv : 3 * nv + n]
        widx = (wrow_t[:, None] + self.cache.head_offsets).view(-1)  # (nv * H,)
        attend = self._prefill_attention(packed, pos_t, n, plan)
        x = self._blocks(self._embed(tok_t, pos_t, feats), widx, attend)
        return self._logits(x.index_select(0, last_t))  # (n, V), the caller's order

    # ---- the model --------------------------------------------------------------------------
    def _embed(
        self, tok: torch.Tensor, pos: torch.Tensor, feats: torch.Tensor | None = None
    ) -> torch.Tensor:
        x = F.embedding(tok, self.w.wte) + F.embedding(pos, self.w.wpe)  # (m, C)
        if self.w.wbe is not None:
            if feats is None:
                raise ValueError("this model is board-aware: the feed needs its board features")
            bag = F.embedding_bag(
                feats.long(), self.w.wbe, mode="sum", padding_idx=self.w.board_pad
            )  # (m, C)
            x = x + bag.to(x.dtype)
        return x

    def _blocks(self, x: torch.Tensor, widx: torch.Tensor, attend: Attend) -> torch.Tensor:
        """The residual stream (m, C) after every block; each token's K/V are written to cache
        rows ``widx`` (m * H,) before ``attend`` reads them."""
        m, C = x.size(0), self.n_embd
        H, D = self.cache.n_head, self.cache.head_dim
        k_flat, v_flat = self.cache.k_flat, self.cache.v_flat
        h = None  # pending residual branch output, fused into the next LayerNorm
        for layer, w in enumerate(self.w.layers):
            y, x = self._add_norm(h, x, w.ln1_w, w.ln1_b, w.eps1)
            qkv = F.linear(y, w.attn_w, w.attn_b)  # (m, 3C)
            k_flat[layer].index_copy_(0, widx, qkv[:, C : 2 * C].reshape(m * H, D))
            v_flat[layer].index_copy_(0, widx, qkv[:, 2 * C :].reshape(m * H, D))
            a = F.linear(attend(qkv[:, :C].view(m, H, D), layer), w.proj_w, w.proj_b)
            y, x = self._add_norm(a, x, w.ln2_w, w.ln2_b, w.eps2)
            h = F.linear(
                F.gelu(F.linear(y, w.fc_w, w.fc_b), approximate=w.gelu), w.mproj_w, w.mproj_b
            )
        assert h is not None
        return x + h

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        w = self.w
        return F.linear(F.layer_norm(x, (self.n_embd,), w.lnf_w, w.lnf_b, w.eps), w.head).float()

    def _add_norm(
        self,
        branch: torch.Tensor | None,
        x: torch.Tensor,
        w: torch.Tensor,
        b: torch.Tensor | None,
        eps: float,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(LayerNorm(x + branch), x + branch); ``branch`` None: nothing to add (first block)."""
        if branch is not None:
            x = x + branch
        return F.layer_norm(x, (x.size(-1),), w, b, eps), x

    # ---- attention, per backend -------------------------------------------------------------
    @abstractmethod
    def _decode_attention(
        self, slot_t: torch.Tensor, pos: torch.Tensor, S: int, span: Span
    ) -> Attend:
        """Attention of the single-token step: row i (slot ``slot_t[i]``, position ``pos[i]``)
        over its slot's positions <= pos[i]."""

    @abstractmethod
    def _plan_prefill(
        self, ints: list[int], slots: list[int], lens: list[int], base: list[int], start: list[int]
    ) -> Any:
        """Host side of prefill attention: append its indices to ``ints`` (copied to the device
        with the tokens) and return what ``_prefill_attention`` needs to find them."""

    @abstractmethod
    def _prefill_attention(
        self, packed: torch.Tensor, pos_t: torch.Tensor, n: int, plan: Any
    ) -> Attend:
        """Attention of the flat prefill batch: token j over its slot's positions <=
        ``pos_t[j]``."""
