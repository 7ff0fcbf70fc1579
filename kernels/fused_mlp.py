"""Decode MLP up-projection with the GELU fused into the matmul epilogue.

``gelu(x @ weight.T + bias)`` for ``x (M, K)`` and an ``nn.Linear`` weight ``(N, K)``: the
(M, 4*d_model) pre-activation never goes to memory. At decode M is the batch (1..1024) and the
op is bound by reading the weight, so the win is the skipped write + read of the activation and
one launch fewer; the GEMM itself is a plain tiled ``tl.dot`` loop.

Run the tests on CPU with ``TRITON_INTERPRET=1 pytest tests/test_kernels.py``.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from . import _launch
from .reference import linear_gelu_ref

__all__ = ["linear_gelu", "linear_gelu_ref"]


@triton.jit
def _linear_gelu_kernel(  # type: ignore[no-untyped-def]  # Triton types the arguments
    x_ptr,  # (M, K) activations
    w_ptr,  # (N, K) weight, nn.Linear layout
    b_ptr,  # (N,) bias; read only when HAS_BIAS
    y_ptr,  # (M, N) output
    M,  # rows (decode batch)
    N,  # output features
    K,  # input features
    stride_xm,  # x stride over M
    stride_xk,  # x stride over K
    stride_wn,  # weight stride over N
    stride_wk,  # weight stride over K
    stride_ym,  # y stride over M
    stride_yn,  # y stride over N
    HAS_BIAS: tl.constexpr,  # add bias before the GELU
    INPUT_PRECISION: tl.constexpr,  # "ieee" for fp32 inputs (matches the reference), else "tf32"
    BLOCK_M: tl.constexpr,  # rows per tile (>= 16 for tl.dot)
    BLOCK_N: tl.constexpr,  # output features per tile
    BLOCK_K: tl.constexpr,  # reduction step
):
    pid_m = tl.program_id(0)
    pid_n = tl.program_id(1)
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    offs_k = tl.arange(0, BLOCK_K)
    m_mask = offs_m < M
    n_mask = offs_n < N

    acc = tl.zeros([BLOCK_M, BLOCK_N], dtype=tl.float32)
    for k0 in range(0, K, BLOCK_K):
        k_mask = (k0 + offs_k) < K
        a = tl.load(
            x_ptr + offs_m[:, None] * stride_xm + (k0 + offs_k)[None, :] * stride_xk,
            mask=m_mask[:, None] & k_mask[None, :],
            other=0.0,
        )  # (BLOCK_M, BLOCK_K)
        b = tl.load(
            w_ptr + offs_n[None, :] * stride_wn + (k0 + offs_k)[:, None] * stride_wk,
            mask=k_mask[:, None] & n_mask[None, :],
            other=0.0,
        )  # (BLOCK_K, BLOCK_N): the weight read transposed through its strides
        acc = tl.dot(a, b, acc, input_precision=INPUT_PRECISION)

    if HAS_BIAS:
        acc += tl.load(b_ptr + offs_n, mask=n_mask, other=0.0).to(tl.float32)[None, :]
    # Exact (erf) GELU, as nn.GELU() in the model.
    y = 0.5 * acc * (1.0 + tl.math.erf(acc * 0.7071067811865476))
    tl.store(
        y_ptr + offs_m[:, None] * stride_ym + offs_n[None, :] * stride_yn,
        y.to(y_ptr.dtype.element_ty),
        mask=m_mask[:, None] & n_mask[None, :],
    )


def linear_gelu(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
) -> torch.Tensor:
    """``gelu(x @ weight.T + bias)``: x (M, K), weight (N, K), bias (N,) or None -> (M, N).

    x and weight share a dtype (fp16, bf16 or fp32); accumulation in fp32; output in x's dtype.
    """
    M, K = x.shape
    N = weight.shape[0]
    if weight.shape != (N, K):
        raise ValueError(f"weight shape {tuple(weight.shape)}, expected (N, {K})")
    if weight.dtype != x.dtype:
        raise ValueError(f"weight dtype {weight.dtype} differs from x dtype {x.dtype}")
    if bias is not None and bias.shape != (N,):
        raise ValueError(f"bias shape {tuple(bias.shape)}, expected ({N},)")
    y = torch.empty(M, N, device=x.device, dtype=x.dtype)
    bm, bn, bk = _launch.MLP_BLOCK_M, _launch.MLP_BLOCK_N, _launch.MLP_BLOCK_K
    if M == 0 or N == 0:
        return y
    _linear_gelu_kernel[(triton.cdiv(M, bm), triton.cdiv(N, bn))](
        x,
        weight,
        bias if bias is not None else weight,
        y,
        M,
        N,
        K,
        x.stride(0),
        x.stride(1),
        weight.stride(0),
        weight.stride(1),
        y.stride(0),
        y.stride(1),
        HAS_BIAS=bias is not None,
        INPUT_PRECISION="ieee" if x.dtype == torch.float32 else "tf32",
        BLOCK_M=bm,
        BLOCK_N=bn,
        BLOCK_K=bk,
        num_warps=4,
    )
    return y
