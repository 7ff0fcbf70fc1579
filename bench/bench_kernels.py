"""Time the Triton decode kernels against their PyTorch references on CUDA, at paper shapes.

Each configuration is first checked against the reference, then timed for the Triton kernel, the
eager reference and ``torch.compile`` of the reference. The table gives milliseconds and the
achieved bandwidth from a written-down bytes formula (compulsory traffic: every input read once,
every output written once), next to the device's peak bandwidth:

    decode_attention  q + out: 2*B*H*D*e;  K and V: 2*H*D*e*sum(lengths)
    add_layernorm     x, residual read, h, y written: 4*M*N*e;  weight: N*e
    sample            logits: B*V*e;  packed mask: B*ceil(V/8);  temperature 4*B;  ids 8*B
    linear_gelu       x: M*K*e;  weight: N*K*e;  out: M*N*e   (and 2*M*N*K FLOPs)

with e the element size. Needs CUDA; elsewhere it says so and exits 0.

    python bench/bench_kernels.py [--quick] [--json results.json]
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import torch

# Peak DRAM bandwidth in bytes/s by substring of torch.cuda.get_device_name(), first match wins.
PEAK_BANDWIDTH = [
    ("H200", 4.8e12),
    ("H100 PCIe", 2.0e12),
    ("H100", 3.35e12),  # SXM, "NVIDIA H100 80GB HBM3"
    ("A100-SXM4-80GB", 2.04e12),
    ("A100-PCIE-80GB", 1.94e12),
    ("A100", 1.555e12),
    ("L40S", 0.864e12),
    ("A10", 0.6e12),
    ("RTX 4090", 1.008e12),
]

BATCHES = (1, 64, 256, 1024)
H, D, D_MODEL = 8, 64, 512
VOCABS = (32, 1974)


def _kernels() -> ModuleType:
    """``chessformer.kernels`` when installed, else ``kernels`` from this source tree."""
    try:
        return importlib.import_module("chessformer.kernels")
    except ModuleNotFoundError:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        return importlib.import_module("kernels")


def peak_bandwidth(name: str) -> float | None:
    return next((bw for key, bw in PEAK_BANDWIDTH if key in name), None)


def time_ms(fn: Callable[..., Any], *args: Any) -> float:
    """Median milliseconds of ``fn(*args)`` (CUDA events, L2 flushed between runs)."""
    from triton.testing import do_bench

    return float(do_bench(lambda: fn(*args), warmup=25, rep=100, return_mode="median"))


def _impls(kernel: Callable[..., Any], ref: Callable[..., Any]) -> dict[str, Callable[..., Any]]:
    return {"triton": kernel, "torch": ref, "torch.compile": torch.compile(ref, dynamic=False)}


def bench_decode_attention(pkg: ModuleType, quick: bool) -> list[dict[str, Any]]:
    mod = importlib.import_module(f"{pkg.__name__}.decode_attention")
    rows = []
    e = 2
    for B in BATCHES:
        for T, ragged in ((256, False), (1023, False), (1023, True)):
            if quick and T != 1023:
                continue
            g = torch.Generator(device="cuda").manual_seed(0)
            q = torch.randn(B, H, D, device="cuda", dtype=torch.float16, generator=g)
            k = torch.randn(B, H, T, D, device="cuda", dtype=torch.float16, generator=g)
            v = torch.randn_like(k)
            if ragged:  # rows at very different points of their games
                lens = torch.randint(1, T + 1, (B,), device="cuda", generator=g)
            else:
                lens = torch.full((B,), T, device="cuda")
            lens = lens.to(torch.int32)
            torch.testing.assert_close(
                mod.decode_attention(q, k, v, lens),
                mod.decode_attention_ref(q, k, v, lens),
                atol=2e-3,
                rtol=2e-3,
            )
            nbytes = 2 * B * H * D * e + 2 * H * D * e * int(lens.sum())
            shape = f"B={B} H={H} T={T}{' ragged' if ragged else ''} D={D} fp16"
            for impl, fn in _impls(mod.decode_attention, mod.decode_attention_ref).items():
                ms = time_ms(fn, q, k, v, lens)
                rows.append(
                    {
                        "op": "decode_attention",
                        "shape": shape,
                        "impl": impl,
                        "ms": ms,
                        "bytes": nbytes,
                    }
                )
    return rows


def bench_add_layernorm(pkg: ModuleType, quick: bool) -> list[dict[str, Any]]:
    mod = importlib.import_module(f"{pkg.__name__}.layernorm")
    rows = []
    e = 2
    # Decode rows (one token per game) and one prefill-sized block (64 games x 1023 tokens).
    for M in (*BATCHES, 64 * 1023):
        if quick and M not in (64, 64 * 1023):
            continue
        x = torch.randn(M, D_MODEL, device="cuda", dtype=torch.float16)
        r = torch.randn_like(x)
        w = torch.randn(D_MODEL, device="cuda", dtype=torch.float16)
        y, h = mod.add_layernorm(x, r, w)
        y_ref, h_ref = mod.add_layernorm_ref(x, r, w)
        torch.testing.assert_close(h, h_ref, atol=0, rtol=0)
        torch.testing.assert_close(y, y_ref, atol=2e-3, rtol=2e-3)
        nbytes = 4 * M * D_MODEL * e + D_MODEL * e
        for impl, fn in _impls(mod.add_layernorm, mod.add_layernorm_ref).items():
            ms = time_ms(fn, x, r, w)
            rows.append(
                {
                    "op": "add_layernorm",
                    "shape": f"M={M} N={D_MODEL} fp16",
                    "impl": impl,
                    "ms": ms,
                    "bytes": nbytes,
                }
            )
    return rows


def bench_sample(pkg: ModuleType, quick: bool) -> list[dict[str, Any]]:
    mod = importlib.import_module(f"{pkg.__name__}.sample")
    rows = []
    for B in BATCHES:
        for V in VOCABS:
            if quick and B not in (1, 1024):
                continue
            logits = torch.randn(B, V, device="cuda", dtype=torch.float32)
            legal = torch.rand(B, V, device="cuda") < 0.2
            legal[:, 0] = True
            mask = mod.pack_mask(legal)
            tau = torch.zeros(B, device="cuda")
            if not torch.equal(
                mod.sample(logits, mask, tau, 0), mod.sample_ref(logits, mask, tau, 0)
            ):
                raise AssertionError(f"sample disagrees with argmax at B={B} V={V}")
            tau.fill_(1.0)
            nbytes = B * V * 4 + B * math.ceil(V / 8) + 4 * B + 8 * B
            for impl, fn in _impls(mod.sample, mod.sample_ref).items():
                ms = time_ms(fn, logits, mask, tau, 1234)
                rows.append(
                    {
                        "op": "sample",
                        "shape": f"B={B} V={V} fp32 packed",
                        "impl": impl,
                        "ms": ms,
                        "bytes": nbytes,
                    }
                )
    return rows


def bench_linear_gelu(pkg: ModuleType, quick: bool) -> list[dict[str, Any]]:
    mod = importlib.import_module(f"{pkg.__name__}.fused_mlp")
    rows = []
    e = 2
    K, N = D_MODEL, 4 * D_MODEL
    for M in BATCHES:
        if quick and M not in (1, 1024):
            continue
        x = torch.randn(M, K, device="cuda", dtype=torch.float16)
        w = torch.randn(N, K, device="cuda", dtype=torch.float16) / math.sqrt(K)
        torch.testing.assert_close(
            mod.linear_gelu(x, w), mod.linear_gelu_ref(x, w), atol=2e-3, rtol=2e-3
        )
        nbytes = (M * K + N * K + M * N) * e
        for impl, fn in _impls(mod.linear_gelu, mod.linear_gelu_ref).items():
            ms = time_ms(fn, x, w)
            rows.append(
                {
                    "op": "linear_gelu",
                    "shape": f"M={M} K={K} N={N} fp16",
                    "impl": impl,
                    "ms": ms,
                    "bytes": nbytes,
                    "flops": 2 * M * N * K,
                }
            )
    return rows


BENCHES = {
    "decode_attention": bench_decode_attention,
    "add_layernorm": bench_add_layernorm,
    "sample": bench_sample,
    "linear_gelu": bench_linear_gelu,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    parser.add_argument("--quick", action="store_true", help="fewer shapes")
    parser.add_argument("--ops", nargs="+", choices=sorted(BENCHES), default=sorted(BENCHES))
    args = parser.parse_args(argv)

    if not torch.cuda.is_available():
        print("bench_kernels: needs a CUDA device; nothing to time here", file=sys.stderr)
        return 0
    try:
        import triton  # noqa: F401
    except ImportError:
        print("bench_kernels: needs triton (pip install triton)", file=sys.stderr)
        return 0

    torch._dynamo.config.cache_size_limit = 64  # one compiled graph per benchmarked shape
    pkg = _kernels()
    name = torch.cuda.get_device_name()
    peak = peak_bandwidth(name)
    peak_txt = f"{peak / 1e9:.0f} GB/s" if peak else "unknown"
    print(f"device: {name}  peak DRAM bandwidth: {peak_txt}")
    print(f"{'op':<17} {'shape':<34} {'impl':<14} {'ms':>9} {'GB/s':>8} {'% peak':>7}")

    results = []
    for op in args.ops:
        for row in BENCHES[op](pkg, args.quick):
            row["gb_per_s"] = row["bytes"] / (row["ms"] * 1e-3) / 1e9
            row["pct_peak"] = 100 * row["gb_per_s"] * 1e9 / peak if peak else None
            if "flops" in row:
                row["tflop_per_s"] = row["flops"] / (row["ms"] * 1e-3) / 1e12
            pct = f"{row['pct_peak']:6.1f}%" if peak else "    n/a"
            extra = f"  {row['tflop_per_s']:.1f} TFLOP/s" if "flops" in row else ""
            print(
                f"{row['op']:<17} {row['shape']:<34} {row['impl']:<14} {row['ms']:9.4f} "
                f"{row['gb_per_s']:8.1f} {pct}{extra}",
                flush=True,
            )
            results.append(row)

    if args.json:
        payload = {
            "device": name,
            "peak_bytes_per_s": peak,
            "torch": torch.__version__,
            "results": results,
        }
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
        print(f"wrote {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
