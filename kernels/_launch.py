"""Launch heuristics shared by the kernels in this package: block sizes, warps, split counts.

Everything here is plain Python run on the host before a launch; nothing reads device memory,
so choosing a configuration never forces a device sync.
"""

from __future__ import annotations

import torch
import triton

# Decode attention: positions of the KV cache per inner-loop tile. 64 rows x D=64 fp16 is 8 KiB
# per K or V tile: big enough for coalesced 128-byte loads, small enough to keep several
# programs resident per SM.
ATTN_BLOCK_T = 64
# Flash-decoding aims for this many programs per SM so that a batch of 1 still fills the GPU.
ATTN_PROGRAMS_PER_SM = 4
# Largest number of chunks one (row, head) is split into; the reduction loads them as one block.
ATTN_MAX_SPLITS = 64

# LayerNorm keeps a whole row in registers; beyond this the single-block design spills.
LN_MAX_BLOCK = 65536 // 4  # fp32 elements

# Sampler: vocabulary tile per inner-loop step (the move tokenizer's ~1974 fits one tile), and
# the tile a program handles at most: small vocabularies (the 32 characters) pack several rows.
SAMPLE_MAX_BLOCK_V = 2048
SAMPLE_TILE = 2048

# Fused MLP tiles. BLOCK_M = 16 is the smallest tile tl.dot accepts; decode batches are small.
MLP_BLOCK_M = 16
MLP_BLOCK_N = 64
MLP_BLOCK_K = 64


def num_sms(device: torch.device) -> int:
    """Streaming multiprocessors on ``device``; a nominal 132 (H100 SXM) off CUDA."""
    if device.type == "cuda":
        return torch.cuda.get_device_properties(device).multi_processor_count
    return 132


def warps_for_block(block: int) -> int:
    """Warps for a 1-D reduction over ``block`` elements: about 256 elements per warp."""
    return max(1, min(16, block // 256))


def attention_splits(batch_heads: int, t_max: int, device: torch.device) -> tuple[int, int]:
    """Split count and chunk length (a multiple of ATTN_BLOCK_T) for decode attention.

    Sized from ``t_max`` (a host value), not from ``lengths`` (device values), so no sync: rows
    shorter than a chunk boundary simply leave their later chunks empty.
    """
    tiles = triton.cdiv(max(t_max, 1), ATTN_BLOCK_T)
    target = ATTN_PROGRAMS_PER_SM * num_sms(device)
    splits = max(1, min(tiles, ATTN_MAX_SPLITS, triton.cdiv(target, max(batch_heads, 1))))
    chunk = triton.cdiv(tiles, splits) * ATTN_BLOCK_T
    splits = triton.cdiv(max(t_max, 1), chunk)  # drop chunks that would start past t_max
    return splits, chunk


def sample_rows_per_program(batch: int, block_v: int) -> int:
    """Rows per sampler program: fill a SAMPLE_TILE-element tile, but not past the batch."""
    return max(1, min(SAMPLE_TILE // block_v, triton.next_power_of_2(max(batch, 1))))
