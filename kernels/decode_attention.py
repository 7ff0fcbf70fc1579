"""Attention for one decode step over a KV cache, batched over rows of different lengths.

Flash-decoding: each (row, head) is split into chunks along the cache, different programs reduce
different chunks to a partial (max, sum, unnormalised output), and a second kernel combines them.
With one chunk per (row, head) -- a large batch already fills the GPU -- the first kernel
normalises and writes the output itself and the reduction is skipped.

Cache layout ``(B, H, T_max, D)``, last dimension contiguous. Decode is bound by reading the
cache, and in this layout the valid prefix of one (row, head) is a single contiguous run of
``length * D`` elements: every tile a program loads is one contiguous block (64 positions x
D=64 fp16 = 8 KiB), rows shorter than ``T_max`` read only their prefix, and appending a token
writes H small slabs. The ``(B, T_max, H, D)`` layout would interleave heads, turning each
program's stream into ``D``-element pieces ``H * D`` apart.

Run the tests on CPU with ``TRITON_INTERPRET=1 pytest tests/test_kernels.py``.
"""

from __future__ import annotations

import math

import torch
import triton
import triton.language as tl

from . import _launch
from .reference import decode_attention_ref

__all__ = ["decode_attention", "decode_attention_ref"]


@triton.jit
def _decode_attention_kernel(  # type: ignore[no-untyped-def]  # Triton types the arguments
    q_ptr,  # (B, H, D) query of the current token, last dim contiguous
    k_ptr,  # (B, H, T_max, D) key cache, last dim contiguous
    v_ptr,  # (B, H, T_max, D) value cache, last dim contiguous
    len_ptr,  # (B,) int32 valid cached positions per row, current token included
    slot_ptr,  # (B,) int32 cache row of each query row; read only when HAS_SLOTS
    out_ptr,  # (B, H, D) output; written only when SINGLE
    m_ptr,  # (B*H, S) fp32 workspace: per-chunk running max of the log2-scaled scores
    l_ptr,  # (B*H, S) fp32 workspace: per-chunk sum of exp2(score - max)
    acc_ptr,  # (B*H, S, D) fp32 workspace: per-chunk unnormalised output
    stride_qb,  # q stride over B
    stride_qh,  # q stride over H
    stride_kb,  # k_cache stride over B
    stride_kh,  # k_cache stride over H
    stride_kt,  # k_cache stride over T
    stride_vb,  # v_cache stride over B
    stride_vh,  # v_cache stride over H
    stride_vt,  # v_cache stride over T
    stride_ob,  # out stride over B
    stride_oh,  # out stride over H
    H,  # number of heads
    T_max,  # cache capacity; lengths are clamped to it so no load leaves the cache
    chunk,  # positions per split, a multiple of BLOCK_T
    qk_scale,  # softmax scale * log2(e): scores live in the log2 domain so exp2 is used
    D: tl.constexpr,  # head dim, a power of two
    BLOCK_T: tl.constexpr,  # cache positions per tile
    SINGLE: tl.constexpr,  # one split: normalise and write out directly
    HAS_SLOTS: tl.constexpr,  # query row b reads cache row slots[b] (else cache row b)
):
    pid_bh = tl.program_id(0)
    split = tl.program_id(1)
    num_splits = tl.num_programs(1)
    b = pid_bh // H
    h = pid_bh % H
    row = tl.load(slot_ptr + b).to(tl.int64) if HAS_SLOTS else b.to(tl.int64)

    length = tl.minimum(tl.load(len_ptr + b), T_max)
    start = split * chunk
    end = tl.minimum(start + chunk, length)

    offs_d = tl.arange(0, D)
    q = tl.load(q_ptr + b * stride_qb + h * stride_qh + offs_d).to(tl.float32) * qk_scale
    k_base = k_ptr + row * stride_kb + h * stride_kh
    v_base = v_ptr + row * stride_vb + h * stride_vh

    m_i = -float("inf")
    l_i = 0.0
    acc = tl.zeros([D], dtype=tl.float32)
    # Chunks past the row's length run zero iterations and leave (max=-inf, sum=0, acc=0),
    # which the reduction weights by exp2(-inf) = 0.
    for t0 in range(start, end, BLOCK_T):
        offs_t = t0 + tl.arange(0, BLOCK_T)
        valid = offs_t < end
        k = tl.load(
            k_base + offs_t[:, None] * stride_kt + offs_d[None, :],
            mask=valid[:, None],
            other=0.0,
        ).to(tl.float32)  # (BLOCK_T, D)
        # One query row: a broadcast multiply-reduce; tl.dot needs at least 16 query rows.
        s = tl.sum(k * q[None, :], axis=1)  # (BLOCK_T,)
        s = tl.where(valid, s, -float("inf"))
        m_new = tl.maximum(m_i, tl.max(s, axis=0))  # finite: the tile has a valid position
        alpha = tl.exp2(m_i - m_new)
        p = tl.exp2(s - m_new)  # (BLOCK_T,)
        v = tl.load(
            v_base + offs_t[:, None] * stride_vt + offs_d[None, :],
            mask=valid[:, None],
            other=0.0,
        ).to(tl.float32)  # (BLOCK_T, D)
        l_i = l_i * alpha + tl.sum(p, axis=0)
        acc = acc * alpha + tl.sum(p[:, None] * v, axis=0)
        m_i = m_new

    if SINGLE:
        # A length-0 row has l_i = 0 and acc = 0: write zeros rather than 0/0.
        out = acc / tl.where(l_i > 0.0, l_i, 1.0)
        out_ptrs = out_ptr + b * stride_ob + h * stride_oh + offs_d
        tl.store(out_ptrs, out.to(out_ptr.dtype.element_ty))
    else:
        part = pid_bh * num_splits + split
        tl.store(m_ptr + part, m_i)
        tl.store(l_ptr + part, l_i)
        tl.store(acc_ptr + part.to(tl.int64) * D + offs_d, acc)


@triton.jit
def _decode_attention_reduce_kernel(  # type: ignore[no-untyped-def]  # Triton types the arguments
    m_ptr,  # (B*H, S) fp32 per-chunk max (log2 domain)
    l_ptr,  # (B*H, S) fp32 per-chunk sum
    acc_ptr,  # (B*H, S, D) fp32 per-chunk unnormalised output
    out_ptr,  # (B, H, D) output, last dim contiguous
    stride_ob,  # out stride over B
    stride_oh,  # out stride over H
    H,  # number of heads
    num_splits,  # S, chunks per (row, head)
    D: tl.constexpr,  # head dim, a power of two
    BLOCK_S: tl.constexpr,  # next power of two >= S
):
    pid_bh = tl.program_id(0)
    b = pid_bh // H
    h = pid_bh % H
    offs_s = tl.arange(0, BLOCK_S)
    offs_d = tl.arange(0, D)
    s_mask = offs_s < num_splits
    base = pid_bh * num_splits

    m = tl.load(m_ptr + base + offs_s, mask=s_mask, other=-float("inf"))  # (BLOCK_S,)
    l = tl.load(l_ptr + base + offs_s, mask=s_mask, other=0.0)  # noqa: E741
    acc = tl.load(
        acc_ptr + (base + offs_s.to(tl.int64))[:, None] * D + offs_d[None, :],
        mask=s_mask[:, None],
        other=0.0,
    )  # (BLOCK_S, D)

    m_max = tl.max(m, axis=0)
    m_max = tl.where(m_max == -float("inf"), 0.0, m_max)  # length-0 row: every chunk empty
    w = tl.exp2(m - m_max)  # empty chunks get weight 0
    l_tot = tl.sum(w * l, axis=0)
    out = tl.sum(w[:, None] * acc, axis=0) / tl.where(l_tot > 0.0, l_tot, 1.0)
    tl.store(out_ptr + b * stride_ob + h * stride_oh + offs_d, out.to(out_ptr.dtype.element_ty))


def decode_attention(
    q: torch.Tensor,
    k_cache: torch.Tensor,
    v_cache: torch.Tensor,
    lengths: torch.Tensor,
    scale: float | None = None,
    *,
    slots: torch.Tensor | None = None,
    num_splits: int | None = None,
    block_t: int | None = None,
) -> torch.Tensor:
    """Softmax attention of one query per (row, head) over the first ``lengths[b]`` cache slots.

    q: (B, H, D); k_cache, v_cache: (B, H, T_max, D), last dim contiguous; lengths: (B,) int,
    the current token already written (a length above T_max is clamped to T_max, a length of 0
    gives zeros). scale defaults to D**-0.5. Returns (B, H, D) in q's dtype; math in fp32.
    ``slots`` (B,) int: query row b attends to cache row ``slots[b]`` of a (B_cache, H, T_max, D)
    cache -- a subset of a larger cache's rows, in any order, repeats allowed -- without
    gathering it (indices must lie in 0..B_cache-1; they are not checked, as that would sync).
    ``num_splits`` and ``block_t`` override the launch heuristics (tests use them to reach the
    split path with tiny shapes).
    """
    B, H, D = q.shape
    rows = k_cache.shape[0] if slots is not None else B
    if k_cache.shape[:2] != (rows, H) or k_cache.shape[3] != D or v_cache.shape != k_cache.shape:
        raise ValueError(
            f"cache shapes {tuple(k_cache.shape)}, {tuple(v_cache.shape)} do not match q "
            f"{tuple(q.shape)}; expected (B, H, T_max, D)"
        )
    if lengths.shape != (B,):
        raise ValueError(f"lengths has shape {tuple(lengths.shape)}, expected ({B},)")
    if slots is not None and slots.shape != (B,):
        raise ValueError(f"slots has shape {tuple(slots.shape)}, expected ({B},)")
    if D & (D - 1):
        raise ValueError(f"head dim {D} is not a power of two")
    for name, t in (("q", q), ("k_cache", k_cache), ("v_cache", v_cache)):
        if t.stride(-1) != 1:
            raise ValueError(f"{name} must be contiguous in its last dimension")
    T_max = k_cache.shape[2]
    if scale is None:
        scale = D**-0.5
    lengths = lengths.to(torch.int32)  # no-op for int32; an async cast otherwise, never a sync
    slot_arg = slots.to(torch.int32) if slots is not None else lengths  # unread without slots

    block = block_t if block_t is not None else _launch.ATTN_BLOCK_T
    if num_splits is None:
        if block_t is None:
            splits, chunk = _launch.attention_splits(B * H, T_max, q.device)
        else:
            splits, chunk = 1, triton.cdiv(max(T_max, 1), block) * block
    else:
        chunk = triton.cdiv(triton.cdiv(max(T_max, 1), num_splits), block) * block
        splits = triton.cdiv(max(T_max, 1), chunk)

    out = torch.empty_like(q)
    single = splits == 1
    n_part = 1 if single else B * H * splits
    m_ws = torch.empty(n_part, device=q.device, dtype=torch.float32)
    l_ws = torch.empty(n_part, device=q.device, dtype=torch.float32)
    acc_ws = torch.empty(n_part, D, device=q.device, dtype=torch.float32)
    _decode_attention_kernel[(B * H, splits)](
        q,
        k_cache,
        v_cache,
        lengths,
        slot_arg,
        out,
        m_ws,
        l_ws,
        acc_ws,
        q.stride(0),
        q.stride(1),
        k_cache.stride(0),
        k_cache.stride(1),
        k_cache.stride(2),
        v_cache.stride(0),
        v_cache.stride(1),
        v_cache.stride(2),
        out.stride(0),
        out.stride(1),
        H,
        T_max,
        chunk,
        scale * math.log2(math.e),
        D=D,
        BLOCK_T=block,
        SINGLE=single,
        HAS_SLOTS=slots is not None,
        num_warps=4,
    )
    if not single:
        _decode_attention_reduce_kernel[(B * H,)](
            m_ws,
            l_ws,
            acc_ws,
            out,
            out.stride(0),
            out.stride(1),
            H,
            splits,
            D=D,
            BLOCK_S=triton.next_power_of_2(splits),
            num_warps=1,
        )
    return out
