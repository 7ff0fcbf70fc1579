"""`chessformer bench inference`: decode throughput of the inference engine, side by side.

    chessformer bench inference [--config paper-50m | --model RUN] [--batch 1,8,64,256]
                                [--context 256] [--steps 16] [--backends torch,triton]
                                [--baselines] [--json FILE]

For each batch size and backend it prefills every slot with ``--context`` tokens, then times
``--steps`` single-token decode steps (KV cache, one batched forward per step), reporting tokens/s
(= moves/s for the move tokenizer; a char model needs ~5 tokens a move), the time per step, and
the memory-bandwidth roofline: the bytes one step must read (weights once + each row's KV cache)
over the device's bandwidth. ``--baselines`` adds, in the same run, a no-KV-cache implementation
(the whole context recomputed each step) and, on CUDA, ``torch.compile`` of the model's SDPA path.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

import torch

# Peak memory bandwidth (bytes/s) by device-name fragment; CPU is measured with a large copy.
PEAK_BANDWIDTH = {
    "H200": 4.8e12,
    "H100 SXM": 3.35e12,
    "H100 80GB HBM3": 3.35e12,
    "H100 PCIe": 2.0e12,
    "H100": 3.35e12,
    "A100-SXM4-80GB": 2.04e12,
    "A100": 1.56e12,
    "L4": 0.3e12,
}


def device_bandwidth(device: torch.device) -> tuple[str, float, str]:
    """(device name, bytes/s, where the number comes from)."""
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        for frag, bw in PEAK_BANDWIDTH.items():
            if frag in name:
                return name, bw, "datasheet"
        return name, float("nan"), "unknown device"
    # CPU: time a copy much larger than the caches (bytes read + bytes written)
    src = torch.empty(64 * 2**20, dtype=torch.uint8).fill_(1)
    dst = torch.empty_like(src)
    dst.copy_(src)
    best = float("inf")
    for _ in range(5):
        t = time.perf_counter()
        dst.copy_(src)
        best = min(best, time.perf_counter() - t)
    return platform.processor() or platform.machine(), 2 * src.numel() / best, "measured copy"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _model(args: argparse.Namespace, device: torch.device) -> tuple[Any, str]:
    from chessformer.model import CONFIGS, GPT

    if args.model:
        from chessformer.checkpoint import load_model

        model, tok = load_model(args.model)
        return model, str(tok["name"])
    cfg = CONFIGS[args.config]
    if args.tokenizer == "move":
        cfg = cfg.with_(vocab_size=1974)
    torch.manual_seed(0)
    return GPT(cfg), args.tokenizer


def bench_engine(model: Any, tokenizer: str, batch: int, context: int, steps: int,
                 backend: str, device: torch.device) -> dict[str, float]:  # fmt: skip
    from chessformer.inference import InferenceEngine

    eng = InferenceEngine(model, tokenizer, max_batch=batch, max_seq=context + steps + 2,
                          device=device, backend=backend)  # fmt: skip
    vocab = min(model.config.vocab_size, 1968)
    gen = torch.Generator().manual_seed(1)
    prompt = torch.randint(0, vocab, (batch, context), generator=gen).tolist()
    slots = list(range(batch))
    eng._forward(slots, prompt)  # prefill
    nxt = [[t[-1]] for t in prompt]
    for _ in range(2):  # warm-up steps (compilation, allocator)
        eng._forward(slots, nxt)
    _sync(device)
    t = time.perf_counter()
    for _ in range(steps):
        logits = eng._forward(slots, nxt)
        nxt = [[int(i)] for i in logits.argmax(-1).tolist()]
    _sync(device)
    dt = (time.perf_counter() - t) / steps
    return {"step_s": dt, "tokens_per_s": batch / dt}


@torch.no_grad()
def bench_no_cache(model: Any, batch: int, context: int, steps: int,
                   device: torch.device, compiled: bool = False) -> dict[str, float]:  # fmt: skip
    """The baseline without a KV cache: each step runs the whole (growing) context."""
    m = model.to(device).eval()
    fwd = torch.compile(m) if compiled else m
    vocab = min(model.config.vocab_size, 1968)
    idx = torch.randint(0, vocab, (batch, context), device=device)
    for _ in range(2):
        fwd(idx)
    _sync(device)
    t = time.perf_counter()
    for _ in range(steps):
        logits, _ = fwd(idx)
        idx = torch.cat([idx[:, 1:], logits[:, -1].argmax(-1, keepdim=True)], dim=1)
    _sync(device)
    dt = (time.perf_counter() - t) / steps
    return {"step_s": dt, "tokens_per_s": batch / dt}


def roofline_bytes(model: Any, batch: int, context: int, dtype_bytes: int) -> float:
    cfg = model.config
    weights = sum(p.numel() for p in model.parameters()) * dtype_bytes
    kv = batch * cfg.n_layer * 2 * context * cfg.n_embd * dtype_bytes
    return float(weights + kv)


def inference(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="chessformer bench inference", description=__doc__)
    ap.add_argument(
        "--config", default="small", help="model config when no --model (random weights)"
    )
    ap.add_argument("--model", help="a trained run folder instead of --config")
    ap.add_argument("--tokenizer", default="move", choices=("move", "char"))
    ap.add_argument("--batch", default="1,8,64", help="comma-separated batch sizes")
    ap.add_argument("--context", type=int, default=256, help="tokens already cached per game")
    ap.add_argument("--steps", type=int, default=16)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--backends", default="auto", help="torch,triton (auto: what the device runs)")
    ap.add_argument("--baselines", action="store_true", help="also no-KV-cache (and compile)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)

    device = torch.device(
        ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    )
    model, tokenizer = _model(args, device)
    if args.context + args.steps + 2 > model.config.block_size:
        raise SystemExit(
            f"--context {args.context} + --steps {args.steps} exceed the model's "
            f"block_size {model.config.block_size}"
        )
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    model = model.to(device, dtype)
    if args.backends == "auto":
        backends = ["torch", "triton"] if device.type == "cuda" else ["torch"]
    else:
        backends = args.backends.split(",")
    name, bandwidth, bw_source = device_bandwidth(device)
    print(f"device {name}: {bandwidth / 1e9:.0f} GB/s ({bw_source}); model "
          f"{sum(p.numel() for p in model.parameters()) / 1e6:.1f}M params, {tokenizer} tokenizer, "
          f"context {args.context}", file=sys.stderr)  # fmt: skip
    rows: list[dict[str, Any]] = []
    for b in [int(x) for x in args.batch.split(",")]:
        floor = (
            roofline_bytes(model, b, args.context, 2 if dtype == torch.bfloat16 else 4) / bandwidth
        )
        for backend in backends:
            r = bench_engine(model, tokenizer, b, args.context, args.steps, backend, device)
            rows.append({"batch": b, "impl": f"kv-cache/{backend}", **r,
                         "roofline_fraction": floor / r["step_s"]})  # fmt: skip
        if args.baselines:
            r = bench_no_cache(model, b, args.context, args.steps, device)
            rows.append({"batch": b, "impl": "no-cache/eager", **r,
                         "roofline_fraction": floor / r["step_s"]})  # fmt: skip
            if device.type == "cuda":
                r = bench_no_cache(model, b, args.context, args.steps, device, compiled=True)
                rows.append({"batch": b, "impl": "no-cache/compile", **r,
                             "roofline_fraction": floor / r["step_s"]})  # fmt: skip
        base = {r["impl"]: r for r in rows if r["batch"] == b}
        for r in rows:
            if r["batch"] == b and "no-cache/eager" in base:
                r["speedup_vs_no_cache"] = base["no-cache/eager"]["step_s"] / r["step_s"]
    head = ("batch", "impl", "ms/step", "tokens/s", "roofline", "vs no-cache")
    print(f"{head[0]:>6} {head[1]:<18} {head[2]:>9} {head[3]:>11} {head[4]:>9} {head[5]:>11}")
    for r in rows:
        sp = r.get("speedup_vs_no_cache")
        speed = f"{sp:.1f}x" if sp else ""
        print(
            f"{r['batch']:>6} {r['impl']:<18} {r['step_s'] * 1e3:>9.2f} "
            f"{r['tokens_per_s']:>11,.0f} {r['roofline_fraction']:>8.1%} {speed:>11}"
        )
    result = {
        "benchmark": "inference", "device": name, "bandwidth_bytes_per_s": bandwidth,
        "bandwidth_source": bw_source, "dtype": str(dtype), "tokenizer": tokenizer,
        "config": args.model or args.config, "context": args.context, "rows": rows,
    }  # fmt: skip
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: chessformer bench inference [options]   (see --help of the subcommand)")
        return 0 if argv else 2
    if argv[0] == "inference":
        return inference(argv[1:])
    print(f"chessformer bench: unknown benchmark {argv[0]!r} (known: inference)", file=sys.stderr)
    return 2
