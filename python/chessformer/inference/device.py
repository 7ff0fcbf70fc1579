"""Host-to-device copies and the kernels' backend module, shared by the forward passes and the
sampler."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch


def kernels() -> Any:
    """``chessformer.kernels.backend`` (imported on first use: Triton loads slowly)."""
    from chessformer.kernels import backend

    return backend


def to_device(
    values: list[int] | np.ndarray, dtype: torch.dtype, device: torch.device
) -> torch.Tensor:
    """One tensor from a host list or array, on ``device``: one copy, asynchronous on CUDA (from
    pinned memory, which the caching host allocator keeps until the copy has run)."""
    if isinstance(values, np.ndarray):
        host = torch.from_numpy(values).to(dtype)
        if device.type != "cuda":
            return host
        return host.pin_memory().to(device, non_blocking=True)
    if device.type != "cuda":
        return torch.tensor(values, dtype=dtype)
    host = torch.tensor(values, dtype=dtype, pin_memory=True)
    return host.to(device, non_blocking=True)
