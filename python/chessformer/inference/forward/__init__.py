"""The model's forward pass over the engine's KV cache, one ``Forward`` per backend: ``native``
(the C++ forward, CPU), ``triton`` (CUDA kernels) and ``torch`` (the reference). See
docs/inference.md."""

from chessformer.inference.forward.base import Feed, Forward, KVCache, LayerWeights, Weights
from chessformer.inference.forward.select import asked_backend, build_forward, choose_backend

__all__ = [
    "Feed",
    "Forward",
    "KVCache",
    "LayerWeights",
    "Weights",
    "asked_backend",
    "build_forward",
    "choose_backend",
]
