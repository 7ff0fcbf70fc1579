"""What a training run will cost on a CPU, said before it starts: tokens/s, time, memory.

Throughput comes from a short fp32 matrix-multiply probe on this machine (~0.3 s) and the
model's training FLOPs per token (6N + 12·L·d·T). Memory is the weights, gradients and AdamW's
two moments (16 bytes a parameter) plus the activations that one micro-batch keeps for the
backward pass: ~96 bytes per token, layer and unit of width, and ~14 bytes per token and
vocabulary entry for the logits and their gradient (measured with ``ru_maxrss`` on the ``small``
and ``tiny`` configs, within 10% of the formula).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import torch

from chessformer.model.gpt import GPT

ACT_BYTES_PER_LAYER_WIDTH = 96  # per token: saved activations of one block, per unit of n_embd
ACT_BYTES_PER_VOCAB = 14  # per token: logits, their softmax and gradient (fp32)
STATE_BYTES_PER_PARAM = 16  # fp32 weights, gradients, AdamW's exp_avg and exp_avg_sq


@dataclass(frozen=True)
class CpuEstimate:
    gemm_flops: float  # fp32 FLOP/s of the probe, all torch threads
    tokens_per_s: float
    step_s: float
    total_s: float  # the steps left
    state_bytes: int  # weights + gradients + optimizer state
    act_bytes: int  # one micro-batch's activations
    ram_bytes: int | None  # physical memory of the machine, when known

    @property
    def memory_bytes(self) -> int:
        return self.state_bytes + self.act_bytes


def gemm_probe(seconds: float = 0.3) -> float:
    """fp32 FLOP/s of a (1024 × 512) @ (512 × 2048) matrix multiply, repeated for ``seconds``."""
    a, w = torch.randn(1024, 512), torch.randn(512, 2048)
    a @ w  # warm-up
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        a @ w
        n += 1
    return n * 2 * 1024 * 512 * 2048 / (time.perf_counter() - t0)


def physical_memory() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def estimate_cpu(model: GPT, batch_size: int, tokens_per_step: int, steps: int) -> CpuEstimate:
    c = model.config
    flops = gemm_probe()
    tps = flops / model.flops_per_token()
    step_s = tokens_per_step / tps
    n_params = sum(p.numel() for p in model.parameters())
    tokens = batch_size * c.block_size
    act = tokens * (
        ACT_BYTES_PER_LAYER_WIDTH * c.n_layer * c.n_embd + ACT_BYTES_PER_VOCAB * c.vocab_size
    )
    return CpuEstimate(
        flops,
        tps,
        step_s,
        step_s * steps,
        STATE_BYTES_PER_PARAM * n_params,
        act,
        physical_memory(),
    )


def _gb(n: float) -> str:
    return f"{n / 1e9:.1f} GB" if n >= 1e8 else f"{n / 1e6:.0f} MB"


def duration(seconds: float) -> str:
    """A rough length of time: '0.8 s', '12 min', '5.3 h', '3.1 days', '2.4 years'."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    if seconds < 2 * 365 * 86400:
        return f"{seconds / 86400:.1f} days"
    return f"{seconds / (365 * 86400):.1f} years"


def describe(est: CpuEstimate, steps: int, batch_size: int) -> tuple[str, list[str]]:
    """The estimate as one line, and warnings (a run of more than a day, or short of memory)."""
    n = torch.get_num_threads()
    line = (
        f"CPU estimate: ~{est.tokens_per_s:,.0f} tokens/s (matmul probe "
        f"{est.gemm_flops / 1e9:.0f} GFLOP/s on {n} thread{'s' if n != 1 else ''}), "
        f"{duration(est.step_s)}/step, {steps} steps ~{duration(est.total_s)}; memory "
        f"~{_gb(est.memory_bytes)} (weights + AdamW {_gb(est.state_bytes)}, activations of a "
        f"{batch_size}-row micro-batch {_gb(est.act_bytes)})"
    )
    warnings = []
    if est.ram_bytes is not None and est.memory_bytes > 0.9 * est.ram_bytes:
        warnings.append(
            f"the run needs ~{_gb(est.memory_bytes)} but this machine has "
            f"{_gb(est.ram_bytes)}: lower batch_size (raise grad_accum to keep the tokens/step)"
        )
    if est.total_s > 86400:
        warnings.append(
            "this run is sized for a GPU; on a CPU start with --config tiny "
            "(docs/training.md, 'CPU quick-start')"
        )
    return line, warnings
