"""Fused residual add + LayerNorm (the paper's ``LayerNorm(bias=False)``, or with a bias).

``y, h = add_layernorm(x, residual, weight, bias)`` reads each row of the block output and of the
residual stream once and writes both the new stream ``h = x + residual`` and ``LN(h)``: three
memory passes instead of the five of ``h = x + r; y = layer_norm(h)``. One program per row keeps
the whole row in registers (d_model = 512 is one tile), so mean and variance need no second read.

Run the tests on CPU with ``TRITON_INTERPRET=1 pytest tests/test_kernels.py``.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from . import _launch
from .reference import add_layernorm_ref, layernorm_ref

__all__ = ["add_layernorm", "add_layernorm_ref", "layernorm", "layernorm_ref"]


@triton.jit
def _add_layernorm_kernel(  # type: ignore[no-untyped-def]  # Triton types the arguments
    x_ptr,  # (M, N) input rows, last dim contiguous
    res_ptr,  # (M, N) residual rows, last dim contiguous; read only when HAS_RESIDUAL
    w_ptr,  # (N,) LayerNorm weight; read only when HAS_WEIGHT
    b_ptr,  # (N,) LayerNorm bias; read only when HAS_BIAS
    y_ptr,  # (M, N) normalised output, contiguous
    h_ptr,  # (M, N) new residual stream x + residual, contiguous; written only when HAS_RESIDUAL
    stride_x,  # x row stride
    stride_r,  # residual row stride
    stride_y,  # y row stride
    stride_h,  # h row stride
    N,  # row length (d_model)
    eps,  # added to the variance
    HAS_RESIDUAL: tl.constexpr,  # fuse the residual add (else plain LayerNorm of x)
    HAS_WEIGHT: tl.constexpr,  # multiply by weight (else weight = 1)
    HAS_BIAS: tl.constexpr,  # add bias (else bias = 0)
    BLOCK_N: tl.constexpr,  # next power of two >= N: the whole row in one tile
):
    row = tl.program_id(0).to(tl.int64)
    offs = tl.arange(0, BLOCK_N)
    mask = offs < N

    x = tl.load(x_ptr + row * stride_x + offs, mask=mask, other=0.0).to(tl.float32)
    if HAS_RESIDUAL:
        x += tl.load(res_ptr + row * stride_r + offs, mask=mask, other=0.0).to(tl.float32)
        h = x.to(h_ptr.dtype.element_ty)
        tl.store(h_ptr + row * stride_h + offs, h, mask=mask)
        # Normalise the stream as stored (rounded to its dtype), as the next layer will read it.
        x = h.to(tl.float32)

    mean = tl.sum(x, axis=0) / N
    xc = tl.where(mask, x - mean, 0.0)
    var = tl.sum(xc * xc, axis=0) / N
    y = xc * tl.math.rsqrt(var + eps)
    if HAS_WEIGHT:
        y *= tl.load(w_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    if HAS_BIAS:
        y += tl.load(b_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    tl.store(y_ptr + row * stride_y + offs, y.to(y_ptr.dtype.element_ty), mask=mask)


def _launch_layernorm(
    x: torch.Tensor,
    residual: torch.Tensor | None,
    weight: torch.Tensor | None,
    eps: float,
    bias: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    N = x.shape[-1]
    if residual is not None and residual.shape != x.shape:
        raise ValueError(
            f"residual shape {tuple(residual.shape)} does not match x {tuple(x.shape)}"
        )
    if weight is not None and weight.shape != (N,):
        raise ValueError(f"weight shape {tuple(weight.shape)}, expected ({N},)")
    if bias is not None and bias.shape != (N,):
        raise ValueError(f"bias shape {tuple(bias.shape)}, expected ({N},)")
    block = triton.next_power_of_2(N)
    if block > _launch.LN_MAX_BLOCK:
        raise ValueError(f"row length {N} exceeds the single-tile limit {_launch.LN_MAX_BLOCK}")

    x2 = x.reshape(-1, N)  # (M, N); a view when x is contiguous
    if x2.stride(-1) != 1:
        x2 = x2.contiguous()
    out_dtype = x.dtype if residual is None else torch.promote_types(x.dtype, residual.dtype)
    y = torch.empty(x2.shape, device=x.device, dtype=out_dtype)
    if residual is not None:
        r2 = residual.reshape(-1, N)
        if r2.stride(-1) != 1:
            r2 = r2.contiguous()
        h = torch.empty_like(y)
    else:
        r2 = h = x2  # unused by the kernel; any pointer will do
    M = x2.shape[0]
    if M > 0:
        _add_layernorm_kernel[(M,)](
            x2,
            r2,
            weight if weight is not None else x2,
            bias if bias is not None else x2,
            y,
            h,
            x2.stride(0),
            r2.stride(0),
            y.stride(0),
            h.stride(0),
            N,
            eps,
            HAS_RESIDUAL=residual is not None,
            HAS_WEIGHT=weight is not None,
            HAS_BIAS=bias is not None,
            BLOCK_N=block,
            num_warps=_launch.warps_for_block(block),
        )
    y = y.view(x.shape)
    return y, (h.view(x.shape) if residual is not None else None)


def add_layernorm(
    x: torch.Tensor,
    residual: torch.Tensor,
    weight: torch.Tensor | None = None,
    eps: float = 1e-5,
    bias: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``h = x + residual`` and ``y = LayerNorm(h) * weight + bias`` over the last dim.

    x, residual: (..., N) of the same shape; weight, bias: (N,) or None. Returns ``(y, h)``,
    both in the promoted dtype of x and residual; statistics in fp32 over h as stored.
    """
    y, h = _launch_layernorm(x, residual, weight, eps, bias)
    assert h is not None
    return y, h


def layernorm(
    x: torch.Tensor,
    weight: torch.Tensor | None = None,
    eps: float = 1e-5,
    bias: torch.Tensor | None = None,
) -> torch.Tensor:
    """``LayerNorm(x) * weight + bias`` over the last dim; statistics in fp32."""
    return _launch_layernorm(x, None, weight, eps, bias)[0]
