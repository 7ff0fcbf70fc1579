"""Choose between the Triton kernels and their PyTorch references, and dispatch to them.

``get_backend(device)`` is ``"triton"`` on CUDA devices when Triton imports and ``"torch"``
elsewhere. ``force=`` or the ``CHESSFORMER_BACKEND`` environment variable (``auto``, ``triton``,
``torch``, ``native``; the argument wins) overrides it. ``native`` names the inference engine's C++
CPU forward pass (``chessformer.inference``); these kernels have no native variant, so for them it
means ``torch``. Forcing ``triton`` for CPU tensors is allowed only
under ``TRITON_INTERPRET=1``, which runs the kernels in Triton's interpreter -- that is how the
tests exercise them on machines without a GPU.

This module imports Triton lazily, so the ``torch`` backend works where Triton is not installed.
"""

from __future__ import annotations

import functools
import importlib.util
import os
from typing import Literal

import torch

from . import reference

Backend = Literal["triton", "torch"]
ENV_VAR = "CHESSFORMER_BACKEND"
_CHOICES = ("auto", "triton", "torch", "native")


@functools.cache
def triton_available() -> bool:
    """True when the ``triton`` package is installed (checked once, without importing it)."""
    return importlib.util.find_spec("triton") is not None


def interpreting() -> bool:
    """True when ``TRITON_INTERPRET`` asks Triton to run kernels in its CPU interpreter."""
    return os.environ.get("TRITON_INTERPRET", "0").lower() in ("1", "true", "on", "yes")


def get_backend(device: torch.device | str, force: str | None = None) -> Backend:
    """The backend for tensors on ``device``: ``force``, else ``$CHESSFORMER_BACKEND``, else auto.

    Raises ValueError for an unknown choice and RuntimeError when ``triton`` is forced where it
    cannot run (not installed, or a non-CUDA device outside the interpreter).
    """
    choice = (force or os.environ.get(ENV_VAR) or "auto").lower()
    if choice not in _CHOICES:
        raise ValueError(f"backend {choice!r} is not one of {_CHOICES}")
    if choice in ("torch", "native"):
        return "torch"
    device = torch.device(device)
    if choice == "auto":
        return "triton" if device.type == "cuda" and triton_available() else "torch"
    if not triton_available():
        raise RuntimeError("backend 'triton' was forced but triton is not installed")
    if device.type != "cuda" and not interpreting():
        raise RuntimeError(
            f"backend 'triton' was forced for device {str(device)!r}; "
            "non-CUDA tensors need TRITON_INTERPRET=1 (set before triton is imported)"
        )
    return "triton"


def decode_attention(
    q: torch.Tensor,
    k_cache: torch.Tensor,
    v_cache: torch.Tensor,
    lengths: torch.Tensor,
    scale: float | None = None,
    *,
    slots: torch.Tensor | None = None,
    backend: str | None = None,
) -> torch.Tensor:
    """One decode step of attention over a (B, H, T_max, D) KV cache; see decode_attention.py.

    With ``slots`` (B,), query row b attends to cache row ``slots[b]`` of a larger cache."""
    if get_backend(q.device, backend) == "triton":
        from .decode_attention import decode_attention as kernel

        return kernel(q, k_cache, v_cache, lengths, scale, slots=slots)
    return reference.decode_attention_ref(q, k_cache, v_cache, lengths, scale, slots)


def add_layernorm(
    x: torch.Tensor,
    residual: torch.Tensor,
    weight: torch.Tensor | None = None,
    eps: float = 1e-5,
    *,
    bias: torch.Tensor | None = None,
    backend: str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(LayerNorm(x + residual), x + residual)``, bias optional; see layernorm.py."""
    if get_backend(x.device, backend) == "triton":
        from .layernorm import add_layernorm as kernel

        return kernel(x, residual, weight, eps, bias)
    return reference.add_layernorm_ref(x, residual, weight, eps, bias)


def layernorm(
    x: torch.Tensor,
    weight: torch.Tensor | None = None,
    eps: float = 1e-5,
    *,
    bias: torch.Tensor | None = None,
    backend: str | None = None,
) -> torch.Tensor:
    """LayerNorm over the last dim, bias optional; see layernorm.py."""
    if get_backend(x.device, backend) == "triton":
        from .layernorm import layernorm as kernel

        return kernel(x, weight, eps, bias)
    return reference.layernorm_ref(x, weight, eps, bias)


def sample(
    logits: torch.Tensor,
    mask: torch.Tensor,
    temperature: torch.Tensor,
    seed: int,
    return_logprob: bool = False,
    *,
    backend: str | None = None,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Masked, tempered Gumbel-max sampling, -1 for rows without a legal id; see sample.py.

    The two backends draw from the same distribution with different random streams.
    """
    if get_backend(logits.device, backend) == "triton":
        from .sample import sample as kernel

        return kernel(logits, mask, temperature, seed, return_logprob)
    return reference.sample_ref(logits, mask, temperature, seed, return_logprob)


def linear_gelu(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    *,
    backend: str | None = None,
) -> torch.Tensor:
    """``gelu(x @ weight.T + bias)``, the decode MLP up-projection; see fused_mlp.py."""
    if get_backend(x.device, backend) == "triton":
        from .fused_mlp import linear_gelu as kernel

        return kernel(x, weight, bias)
    return reference.linear_gelu_ref(x, weight, bias)
