"""The ``torch`` backend: PyTorch ops only (the reference), attention by SDPA over the slots'
caches -- a view of the cache when the slots are a contiguous range (queries placed at their
slots when it has gaps), a gather of only the rows and positions needed otherwise."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from chessformer.inference.forward.base import Feed
from chessformer.inference.forward.tensor import Attend, Span, TensorForward

# per prefill group: (rows, Tg, S, span, offset of its slots, pad offset, kept offset, n kept)
_Group = tuple[int, int, int, Span, int, "int | None", "int | None", int]


class TorchForward(TensorForward):
    backend = "torch"

    @torch.no_grad()
    def __call__(self, feed: Feed) -> torch.Tensor:
        slots, chunks, lens, base = list(feed.slots), feed.chunks, feed.lens, feed.base
        feats = feed.features
        n = len(slots)
        inv: list[int] | None = None
        order = sorted(range(n), key=slots.__getitem__)
        if order != list(range(n)):
            # rows sorted by slot (so a permuted contiguous range is still a slice); the logits
            # come back in the caller's order
            inv = [0] * n
            for r, i in enumerate(order):
                inv[i] = r
            slots = [slots[i] for i in order]
            chunks = [chunks[i] for i in order]
            lens = [lens[i] for i in order]
            base = [base[i] for i in order]
            if feats is not None:
                feats = [feats[i] for i in order]
        return self._run(slots, chunks, lens, base, inv, self.span(slots), feats)

    def _decode_attention(
        self, slot_t: torch.Tensor, pos: torch.Tensor, S: int, span: Span
    ) -> Attend:
        n, C = slot_t.size(0), self.n_embd
        mask = (self.cache.key_pos[:S][None, :] <= pos[:, None])[:, None, None]  # (n, 1, 1, S)
        rows, mask = self._attention_rows(slot_t, span, mask)

        def attend(q: torch.Tensor, layer: int) -> torch.Tensor:
            return self._attend(q[:, :, None], layer, S, span, rows, mask).reshape(n, C)

        return attend

    def _plan_prefill(
        self, ints: list[int], slots: list[int], lens: list[int], base: list[int], start: list[int]
    ) -> Any:
        """Rows grouped by chunk length (powers of two), each group padded to its longest chunk
        for SDPA -- a padding query repeats one of the row's real tokens and its output is
        dropped. Returns the groups and the offset of the permutation back to flat order."""
        nv = sum(lens)
        by_len: dict[int, list[int]] = {}
        for i, ln in enumerate(lens):
            by_len.setdefault((ln - 1).bit_length(), []).append(i)
        single = len(by_len) == 1
        groups: list[_Group] = []
        order: list[int] = []  # flat tokens in group order
        for rows in by_len.values():
            g, Tg = len(rows), max(lens[i] for i in rows)
            g_slots = [slots[i] for i in rows]
            padded = any(lens[i] < Tg for i in rows)
            pad: list[int] = []
            kept: list[int] = []
            for j, i in enumerate(rows):
                ln = lens[i]
                pad.extend(range(start[i], start[i] + ln))
                pad.extend([start[i] + ln - 1] * (Tg - ln))
                kept.extend(range(j * Tg, j * Tg + ln))
                order.extend(range(start[i], start[i] + ln))
            S = max(base[i] + lens[i] for i in rows)
            off = len(ints)
            ints += g_slots
            pad_off = kept_off = None
            if padded or not single:
                pad_off = len(ints)
                ints += pad
            if padded:
                kept_off = len(ints)
                ints += kept
            groups.append((g, Tg, S, self.span(g_slots), off, pad_off, kept_off, len(kept)))
        perm_off = None
        if not single:
            perm = [0] * nv
            for k, f in enumerate(order):
                perm[f] = k
            perm_off = len(ints)
            ints += perm
        return groups, perm_off

    def _prefill_attention(
        self, packed: torch.Tensor, pos_t: torch.Tensor, n: int, plan: Any
    ) -> Attend:
        groups, perm_off = plan
        nv, C, H, D = pos_t.size(0), self.n_embd, self.cache.n_head, self.cache.head_dim
        key_pos = self.cache.key_pos
        steps = []  # per group (g, Tg, S, span, rows, pad, kept, mask)
        for g, Tg, S, g_span, off, pad_off, kept_off, n_kept in groups:
            pad_t = packed[pad_off : pad_off + g * Tg] if pad_off is not None else None
            kept_t = packed[kept_off : kept_off + n_kept] if kept_off is not None else None
            posg = pos_t if pad_t is None else pos_t.index_select(0, pad_t)
            mask = (key_pos[:S][None, None, :] <= posg.view(g, Tg, 1))[:, None]
            rows_t, mask = self._attention_rows(packed[off : off + g], g_span, mask)
            steps.append((g, Tg, S, g_span, rows_t, pad_t, kept_t, mask))
        perm_t = packed[perm_off : perm_off + nv] if perm_off is not None else None

        def attend(q: torch.Tensor, layer: int) -> torch.Tensor:
            outs = []
            for g, Tg, S, g_span, rows_t, pad_t, kept_t, mask in steps:
                qg = q if pad_t is None else q.index_select(0, pad_t)
                qg = qg.view(g, Tg, H, D).transpose(1, 2)  # (g, H, Tg, D)
                og = self._attend(qg, layer, S, g_span, rows_t, mask)
                og = og.transpose(1, 2).reshape(g * Tg, C)
                outs.append(og if kept_t is None else og.index_select(0, kept_t))
            return outs[0] if perm_t is None else torch.cat(outs).index_select(0, perm_t)

        return attend

    # ---- attention over a subset of the slots -----------------------------------------------
    @staticmethod
    def span(sorted_slots: list[int]) -> Span:
        """How these (sorted, distinct) slots' caches are reached: ``(lo, span)`` -- attend over
        the view of slots lo..lo+span-1 (queries placed at their slots when the range has gaps),
        or ``(None, 0)`` -- gather the rows (when the range is > 3x the rows, a gather, which
        copies, reads less than the whole range)."""
        lo, span = sorted_slots[0], sorted_slots[-1] - sorted_slots[0] + 1
        return (lo, span) if span <= 3 * len(sorted_slots) else (None, 0)

    def _attention_rows(
        self, slot_t: torch.Tensor, span: Span, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per call: the index ``_attend`` uses for these slots and the mask ``(g, 1, T, S)``
        widened to the span's rows (rows of other slots see position 0 only; dropped)."""
        lo, width = span
        g = slot_t.size(0)
        if lo is None:
            return slot_t, mask
        rows = slot_t - lo
        if width == g:
            return rows, mask
        wide = torch.zeros((width, *mask.shape[1:]), dtype=torch.bool, device=mask.device)
        wide[..., 0] = True
        return rows, wide.index_copy_(0, rows, mask)

    def _attend(
        self,
        q: torch.Tensor,
        layer: int,
        S: int,
        span: Span,
        rows: torch.Tensor,
        mask: torch.Tensor,
    ) -> torch.Tensor:
        """SDPA of ``q`` (g, H, T, D) -- row i at slot ``slot_i`` -- over positions < S of the
        slots' caches; ``rows``/``mask`` from ``_attention_rows``."""
        kc, vc = self.cache.k[layer], self.cache.v[layer]
        lo, width = span
        if lo is None:
            ks = kc[:, :, :S].index_select(0, rows)  # (g, H, S, D): only the rows needed
            vs = vc[:, :, :S].index_select(0, rows)
            return F.scaled_dot_product_attention(q, ks, vs, attn_mask=mask)
        ks, vs = kc[lo : lo + width, :, :S], vc[lo : lo + width, :, :S]  # views, no copy
        if width == q.size(0):
            return F.scaled_dot_product_attention(q, ks, vs, attn_mask=mask)
        wide = q.new_zeros((width, *q.shape[1:])).index_copy_(0, rows, q)
        return F.scaled_dot_product_attention(wide, ks, vs, attn_mask=mask).index_select(0, rows)
