"""Triton kernels for decoding (attention over a KV cache, fused add + LayerNorm, sampling).

Shipped as ``chessformer.kernels``; importable as ``kernels`` from a source checkout. Model code
should call the dispatchers in :mod:`.backend`, which fall back to the PyTorch references in
:mod:`.reference` off CUDA. Kernel modules import Triton; this package and those two do not.
"""
