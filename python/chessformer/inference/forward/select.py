"""Which backend runs the forward pass, and building it over a model and a KV cache."""

from __future__ import annotations

import os

import torch

from chessformer.inference.device import kernels
from chessformer.inference.forward.base import Forward, KVCache, Weights
from chessformer.inference.forward.native_forward import NativeForward, native_vectorised
from chessformer.inference.forward.torch_forward import TorchForward
from chessformer.inference.forward.triton_forward import TritonForward


def asked_backend(force: str | None) -> str:
    """The backend asked for: ``force``, else ``$CHESSFORMER_BACKEND``, else "auto"."""
    return (force or os.environ.get(kernels().ENV_VAR) or "auto").lower()


def choose_backend(device: torch.device, dtype: torch.dtype, force: str | None) -> str:
    """``native`` (the C++ forward, when vectorised) for fp32 on the CPU unless ``force`` or
    ``$CHESSFORMER_BACKEND`` asks for another; else the kernels' choice (``triton``/``torch``).
    Forced ``native`` also takes bf16 (bf16 weights, fp32 activations: opt-in only)."""
    choice = asked_backend(force)
    cpu = device.type == "cpu"
    if choice == "native":
        if not cpu or dtype not in (torch.float32, torch.bfloat16):
            raise ValueError(
                "the native backend runs float32 (or bfloat16 weights) on the CPU, not "
                f"{dtype} on {str(device)!r}"
            )
        return "native"
    if choice == "auto" and cpu and dtype == torch.float32 and native_vectorised():
        return "native"
    return str(kernels().get_backend(device, force))


def build_forward(
    backend: str,
    weights: Weights,
    cache: KVCache,
    *,
    native_bf16: bool = False,
    threads: int = 1,
    cuda_graphs: bool = False,
    forced: bool = False,
) -> Forward:
    """The forward pass of ``backend`` (from ``choose_backend``). A ``native`` backend chosen by
    default (not ``forced``) that cannot borrow the model's tensors (e.g. a non-contiguous
    weight) falls back to ``torch``, which takes anything."""
    if backend == "native":
        try:
            return NativeForward(weights, cache, bf16=native_bf16, threads=threads)
        except ValueError:
            if forced:
                raise
            return TorchForward(weights, cache)
    if backend == "triton":
        return TritonForward(weights, cache, cuda_graphs=cuda_graphs)
    return TorchForward(weights, cache)
