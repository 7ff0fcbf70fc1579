"""PyTorch references for the kernels in this package, importable without Triton.

Each ``op_ref`` takes the same arguments as the Triton launcher ``op`` and does the same math in
fp32 with plain tensor ops. They are the correctness oracle for ``tests/test_kernels.py``, the
baseline of ``bench/bench_kernels.py``, and the ``torch`` backend of :mod:`.backend` on
machines without CUDA or Triton (which is why they live here and not beside the kernels: the
kernel modules import Triton). Each kernel module re-exports its reference.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

# Uniforms are clamped to at least this before the Gumbel transform, in the kernel and here:
# it keeps -log(-log(u)) finite, so temperature 0 gives noise 0 * g = 0 exactly.
GUMBEL_U_MIN = 1e-10


def decode_attention_ref(
    q: torch.Tensor,
    k_cache: torch.Tensor,
    v_cache: torch.Tensor,
    lengths: torch.Tensor,
    scale: float | None = None,
    slots: torch.Tensor | None = None,
) -> torch.Tensor:
    """PyTorch reference of :func:`decode_attention` (same arguments, fp32 math)."""
    if slots is not None:  # query row b reads cache row slots[b]
        k_cache = k_cache.index_select(0, slots.long())
        v_cache = v_cache.index_select(0, slots.long())
    T_max, D = k_cache.shape[2:]
    if scale is None:
        scale = D**-0.5
    s = torch.einsum("bhd,bhtd->bht", q.float(), k_cache.float()) * scale  # (B, H, T_max)
    valid = torch.arange(T_max, device=q.device)[None, :] < lengths[:, None]  # (B, T_max)
    s = s.masked_fill(~valid[:, None, :], -math.inf)
    p = torch.softmax(s, dim=-1).nan_to_num(0.0)  # a length-0 row is all -inf: zeros, not NaN
    return torch.einsum("bht,bhtd->bhd", p, v_cache.float()).to(q.dtype)  # (B, H, D)


def add_layernorm_ref(
    x: torch.Tensor,
    residual: torch.Tensor,
    weight: torch.Tensor | None = None,
    eps: float = 1e-5,
    bias: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """PyTorch reference of ``add_layernorm``: ``(LayerNorm(x + residual), x + residual)``."""
    h = x + residual
    return layernorm_ref(h, weight, eps, bias), h


def layernorm_ref(
    x: torch.Tensor,
    weight: torch.Tensor | None = None,
    eps: float = 1e-5,
    bias: torch.Tensor | None = None,
) -> torch.Tensor:
    """PyTorch reference of ``layernorm``: LayerNorm (bias optional), statistics in fp32."""
    w = weight.float() if weight is not None else None
    b = bias.float() if bias is not None else None
    return F.layer_norm(x.float(), (x.shape[-1],), w, b, eps).to(x.dtype)


def pack_mask(legal: torch.Tensor) -> torch.Tensor:
    """Bool (B, V) -> uint8 (B, ceil(V/8)), little bit order (entry j: bit j % 8 of byte j // 8)."""
    B, V = legal.shape
    nbytes = (V + 7) // 8
    padded = torch.zeros(B, nbytes * 8, dtype=torch.uint8, device=legal.device)
    padded[:, :V] = legal
    bits = torch.tensor([1 << i for i in range(8)], dtype=torch.uint8, device=legal.device)
    return (padded.view(B, nbytes, 8) * bits).sum(dim=-1, dtype=torch.uint8)  # (B, nbytes)


def unpack_mask(packed: torch.Tensor, V: int) -> torch.Tensor:
    """Inverse of :func:`pack_mask`: uint8 (B, ceil(V/8)) -> bool (B, V)."""
    shifts = torch.arange(8, dtype=torch.uint8, device=packed.device)
    bits = (packed[:, :, None] >> shifts) & 1  # (B, nbytes, 8)
    return bits.reshape(packed.shape[0], -1)[:, :V].bool()


def _legal(mask: torch.Tensor, V: int) -> torch.Tensor:
    return unpack_mask(mask, V) if mask.dtype == torch.uint8 else mask.bool()


def sample_ref(
    logits: torch.Tensor,
    mask: torch.Tensor,
    temperature: torch.Tensor,
    seed: int,
    return_logprob: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """PyTorch reference of ``sample``: the same Gumbel-max math with torch's generator.

    Same arguments and results as the kernel; the random stream differs (torch's Philox or
    Mersenne Twister, not Triton's), so only temperature-0 rows agree id for id.
    """
    B, V = logits.shape
    legal = _legal(mask, V)  # (B, V)
    gen = torch.Generator(device=logits.device).manual_seed(seed)
    u = torch.rand(B, V, generator=gen, device=logits.device).clamp_min(GUMBEL_U_MIN)
    gumbel = -torch.log(-torch.log(u))
    tau = temperature.float()[:, None]  # (B, 1)
    score = (logits.float() + tau * gumbel).masked_fill(~legal, -math.inf)
    idx = score.argmax(dim=-1)  # first index on ties
    best = score.gather(1, idx[:, None])[:, 0]
    idx = torch.where(best == -math.inf, -1, idx)
    if not return_logprob:
        return idx
    inv_tau = torch.where(tau > 0, 1.0 / tau, torch.ones_like(tau))
    logp = torch.log_softmax((logits.float() * inv_tau).masked_fill(~legal, -math.inf), dim=-1)
    lp = logp.gather(1, idx.clamp_min(0)[:, None])[:, 0]
    lp = torch.where(temperature > 0, lp, torch.zeros_like(lp))
    lp = torch.where(idx >= 0, lp, torch.full_like(lp, -math.inf))
    return idx, lp


def sample_probs_ref(
    logits: torch.Tensor,
    mask: torch.Tensor,
    temperature: torch.Tensor,
) -> torch.Tensor:
    """The exact distribution ``sample`` draws from: (B, V) fp32, rows summing to 1.

    ``softmax(logits / tau)`` over legal entries; a one-hot argmax where tau = 0; zeros for a
    row without a legal entry. For distribution tests (compare with ``torch.multinomial``).
    """
    V = logits.shape[1]
    legal = _legal(mask, V)
    tau = temperature.float()[:, None]
    z = logits.float().masked_fill(~legal, -math.inf)
    soft = torch.softmax(z / torch.where(tau > 0, tau, torch.ones_like(tau)), dim=-1)
    hard = F.one_hot(z.argmax(dim=-1), V).float()
    probs = torch.where(tau > 0, soft, hard)
    return torch.where(legal.any(dim=-1, keepdim=True), probs, torch.zeros_like(probs)).nan_to_num(
        0.0
    )


def linear_gelu_ref(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
) -> torch.Tensor:
    """PyTorch reference of ``linear_gelu``: exact GELU of ``x @ weight.T + bias`` in fp32."""
    b = bias.float() if bias is not None else None
    return F.gelu(F.linear(x.float(), weight.float(), b)).to(x.dtype)
