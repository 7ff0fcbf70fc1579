"""Fused logits -> legal-move mask -> temperature -> sample, without a host sync.

Gumbel-max: ``argmax_j(logit_j + tau * g_j)`` over legal j, with ``g_j = -log(-log(u_j))`` and
``u_j`` from Triton's counter-based Philox RNG keyed by ``(seed, row * V + j)``, is an exact
sample from ``softmax(logit / tau)`` restricted to legal moves (for tau > 0; argmax_j of
``logit/tau + g`` and of ``logit + tau*g`` coincide). At tau = 0 the noise term vanishes and it
is exactly the argmax (first index on ties). No softmax, no cumulative sum, no ``multinomial``
round trip to the host: one read of the logits and mask, eight bytes written per row.

Pass a fresh ``seed`` per decode step (e.g. ``base_seed + step``): the same seed and inputs give
the same tokens.

Mask formats (chosen by dtype): ``torch.bool (B, V)``, or bit-packed ``torch.uint8
(B, ceil(V/8))`` with little bit order -- move j is bit ``j % 8`` of byte ``j // 8``, as
``numpy.packbits(..., bitorder="little")`` and :func:`pack_mask` produce. The packed form is 8x
less to move from the host's move generator.

Run the tests on CPU with ``TRITON_INTERPRET=1 pytest tests/test_kernels.py``.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from . import _launch
from .reference import pack_mask, sample_probs_ref, sample_ref, unpack_mask

__all__ = ["pack_mask", "sample", "sample_probs_ref", "sample_ref", "unpack_mask"]


@triton.jit
def _sample_kernel(  # type: ignore[no-untyped-def]  # Triton types the arguments
    logits_ptr,  # (B, V) fp32 or fp16 logits, last dim contiguous
    mask_ptr,  # (B, V) uint8 0/1, or (B, ceil(V/8)) uint8 bit-packed when PACKED
    temp_ptr,  # (B,) fp32 temperature per row; 0 means argmax
    out_ptr,  # (B,) int64 sampled id, -1 when the row has no legal entry
    logprob_ptr,  # (B,) fp32 log-prob of the sampled id; written only when WRITE_LOGPROB
    stride_l,  # logits row stride
    stride_m,  # mask row stride (bytes)
    B,  # rows
    V,  # vocabulary size
    seed,  # RNG seed; the counter is row * V + column
    PACKED: tl.constexpr,  # mask is bit-packed, little bit order
    WRITE_LOGPROB: tl.constexpr,  # also compute log softmax(logit / tau)[sampled]
    BLOCK_B: tl.constexpr,  # rows per program (several when V is small, e.g. the 32-char vocab)
    BLOCK_V: tl.constexpr,  # vocabulary tile
):
    rows = tl.program_id(0) * BLOCK_B + tl.arange(0, BLOCK_B)  # (BLOCK_B,)
    row_ok = rows < B
    tau = tl.load(temp_ptr + rows, mask=row_ok, other=0.0)
    # Log-prob only; tau = 0 is handled at the end. Dividing by the where() keeps 1/0 away.
    inv_tau = 1.0 / tl.where(tau > 0.0, tau, 1.0)
    logits_rows = logits_ptr + rows.to(tl.int64)[:, None] * stride_l  # (BLOCK_B, 1)
    mask_rows = mask_ptr + rows.to(tl.int64)[:, None] * stride_m

    best = tl.full([BLOCK_B], -float("inf"), tl.float32)  # running max of the perturbed score
    best_idx = tl.full([BLOCK_B], -1, tl.int32)  # stays -1 if no legal score is above -inf
    best_logit = tl.zeros([BLOCK_B], tl.float32)  # unperturbed logit of best_idx
    run_max = tl.full([BLOCK_B], -float("inf"), tl.float32)  # online log-sum-exp of logit/tau
    run_sum = tl.zeros([BLOCK_B], tl.float32)
    for v0 in range(0, V, BLOCK_V):
        offs = v0 + tl.arange(0, BLOCK_V)  # (BLOCK_V,)
        ok = row_ok[:, None] & (offs < V)[None, :]  # (BLOCK_B, BLOCK_V)
        logit = tl.load(logits_rows + offs[None, :], mask=ok, other=0.0).to(tl.float32)
        if PACKED:
            byte = tl.load(mask_rows + (offs // 8)[None, :], mask=ok, other=0)
            legal = ((byte >> (offs % 8).to(tl.uint8)[None, :]) & 1) != 0
        else:
            legal = tl.load(mask_rows + offs[None, :], mask=ok, other=0) != 0
        legal = legal & ok

        # u in [0, 1); clamping away 0 keeps the Gumbel noise finite, so tau * g = 0 at tau = 0.
        u = tl.maximum(tl.rand(seed, rows[:, None] * V + offs[None, :]), 1e-10)
        gumbel = -tl.log(-tl.log(u))
        score = tl.where(legal, logit + tau[:, None] * gumbel, -float("inf"))
        tile_best = tl.max(score, axis=1)  # (BLOCK_B,)
        tile_idx = tl.argmax(score, axis=1, tie_break_left=True)
        take = tile_best > best  # strict: the earlier tile wins ties, as torch.argmax does
        best = tl.where(take, tile_best, best)
        best_idx = tl.where(take, v0 + tile_idx, best_idx)
        if WRITE_LOGPROB:
            at_idx = offs[None, :] == (v0 + tile_idx)[:, None]
            tile_logit = tl.sum(tl.where(at_idx, logit, 0.0), axis=1)
            best_logit = tl.where(take, tile_logit, best_logit)
            z = tl.where(legal, logit * inv_tau[:, None], -float("inf"))
            new_max = tl.maximum(run_max, tl.max(z, axis=1))
            safe_max = tl.where(new_max == -float("inf"), 0.0, new_max)  # all illegal so far
            run_sum = run_sum * tl.exp(run_max - safe_max) + tl.sum(
                tl.exp(z - safe_max[:, None]), axis=1
            )
            run_max = new_max

    tl.store(out_ptr + rows, best_idx.to(tl.int64), mask=row_ok)
    if WRITE_LOGPROB:
        # run_sum = 0 only for a row without a legal entry, which gets -inf below.
        lp = best_logit * inv_tau - (run_max + tl.log(tl.where(run_sum > 0.0, run_sum, 1.0)))
        lp = tl.where(tau > 0.0, lp, 0.0)  # a point mass at tau = 0
        lp = tl.where(best_idx >= 0, lp, -float("inf"))
        tl.store(logprob_ptr + rows, lp, mask=row_ok)


def sample(
    logits: torch.Tensor,
    mask: torch.Tensor,
    temperature: torch.Tensor,
    seed: int,
    return_logprob: bool = False,
    *,
    block_v: int | None = None,
    block_b: int | None = None,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Sample one id per row from ``softmax(logits / temperature)`` over legal entries.

    logits: (B, V) fp32/fp16; mask: bool (B, V) or packed uint8 (B, ceil(V/8)); temperature:
    (B,) fp32, 0 for argmax; seed: int in [0, 2**63). Returns int64 ids (B,), -1 for a row
    without a legal entry, and with ``return_logprob`` also fp32 ``log p(id)`` under the sampled
    distribution (0 at temperature 0, -inf for a row without a legal entry). ``block_v`` and
    ``block_b`` (powers of two) override the vocabulary tile and rows per program; tests use
    them to reach the multi-tile and one-row paths.
    """
    B, V = logits.shape
    packed = mask.dtype == torch.uint8
    if not packed and mask.dtype != torch.bool:
        raise ValueError(f"mask dtype {mask.dtype} is neither torch.bool nor packed torch.uint8")
    expected = (B, triton.cdiv(V, 8)) if packed else (B, V)
    if mask.shape != expected:
        raise ValueError(f"mask shape {tuple(mask.shape)}, expected {expected}")
    if temperature.shape != (B,):
        raise ValueError(f"temperature shape {tuple(temperature.shape)}, expected ({B},)")
    if not 0 <= seed < 2**63:
        raise ValueError(f"seed {seed!r} is outside [0, 2**63)")
    if logits.stride(-1) != 1:
        logits = logits.contiguous()
    mask_u8 = mask if packed else mask.view(torch.uint8)  # bool is one byte 0/1: a free view
    if mask_u8.stride(-1) != 1:
        mask_u8 = mask_u8.contiguous()
    temperature = temperature.to(torch.float32)

    out = torch.empty(B, device=logits.device, dtype=torch.int64)
    logprob = torch.empty(B if return_logprob else 1, device=logits.device, dtype=torch.float32)
    block = block_v or min(triton.next_power_of_2(max(V, 1)), _launch.SAMPLE_MAX_BLOCK_V)
    rows = block_b or _launch.sample_rows_per_program(B, block)
    if B > 0:
        _sample_kernel[(triton.cdiv(B, rows),)](
            logits,
            mask_u8,
            temperature,
            out,
            logprob,
            logits.stride(0),
            mask_u8.stride(0),
            B,
            V,
            seed,
            PACKED=packed,
            WRITE_LOGPROB=return_logprob,
            BLOCK_B=rows,
            BLOCK_V=block,
            num_warps=_launch.warps_for_block(rows * block),
        )
    return (out, logprob) if return_logprob else out
