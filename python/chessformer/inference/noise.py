"""Counter-based noise for per-game seeds: uniforms that are a pure function of (game seed, ply,
draw number, token id), so a game's draws do not depend on which other games share the batch, on
its slot or on earlier calls.

32-bit arithmetic held in int64 (numpy arrays or Python ints): products stay below 2**49, so the
results are exact, with no reliance on integer overflow. It runs on the host over the allowed
entries only (a few dozen a row), and the noise travels to the device with the temperatures.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

_M32 = 0xFFFFFFFF


def _mul32(x: Any, c: int) -> Any:
    """``x * c mod 2**32`` for 0 <= x < 2**32, without overflowing int64."""
    return (x * (c & 0xFFFF) + (((x * (c >> 16)) & 0xFFFF) << 16)) & _M32


def _mix32(x: Any) -> Any:
    """A bijective 32-bit integer hash (the 'lowbias32' constants of C. Wellons)."""
    x = x ^ (x >> 16)
    x = _mul32(x, 0x7FEB352D)
    x = x ^ (x >> 15)
    x = _mul32(x, 0x846CA68B)
    return x ^ (x >> 16)


def game_key(seed: int, ply: int) -> tuple[int, int]:
    """Two 32-bit words identifying (seed, ply); mixed further per draw and entry."""
    z = (int(seed) * 0x9E3779B97F4A7C15 + int(ply) * 0xC2B2AE3D27D4EB4F + 0x165667B1) & (2**64 - 1)
    return z & _M32, z >> 32


def seeded_uniform(
    key_lo: np.ndarray, key_hi: np.ndarray, draw: int, cols: np.ndarray
) -> np.ndarray:
    """Uniforms in (0, 1) (float64, 24-bit) for entries ``cols`` of rows keyed (key_lo, key_hi)
    (int64 arrays of one shape) at draw number ``draw``: a pure function of those, so any subset
    of entries can be drawn and a row's values do not depend on the other rows."""
    ka = _mix32(_mix32(key_lo ^ _mix32(draw & _M32)) ^ key_hi)
    kb = _mix32(ka ^ 0x5BD1E995)
    x = _mix32(_mix32((cols + ka) & _M32) ^ kb)
    return ((x >> 8).astype(np.float64) + 0.5) * (1.0 / 2**24)


def _mix32_u64(x: np.ndarray) -> np.ndarray:
    """``_mix32`` of a uint64 array of 32-bit values (products of two 32-bit numbers fit in 64
    bits, so plain multiplication is exact)."""
    x = x ^ (x >> 16)
    x = (x * 0x7FEB352D) & _M32
    x = x ^ (x >> 15)
    x = (x * 0x846CA68B) & _M32
    return x ^ (x >> 16)


def seeded_uniform_rows(
    key_lo: Sequence[int], key_hi: Sequence[int], draw: int, rows: np.ndarray, cols: np.ndarray
) -> np.ndarray:
    """``seeded_uniform(key_lo[rows], key_hi[rows], draw, cols)`` with the per-row part of the
    hash done once a row on Python ints: the same values, a few numpy operations fewer."""
    d = _mix32(draw & _M32)
    ka = [_mix32(_mix32(lo ^ d) ^ hi) for lo, hi in zip(key_lo, key_hi, strict=True)]
    kb = np.asarray([_mix32(k ^ 0x5BD1E995) for k in ka], np.uint64)[rows]
    x = (cols.astype(np.uint64) + np.asarray(ka, np.uint64)[rows]) & _M32
    x = _mix32_u64(_mix32_u64(x) ^ kb)
    return ((x >> 8).astype(np.float64) + 0.5) * (1.0 / 2**24)
