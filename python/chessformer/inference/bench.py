"""`chessformer bench inference`: decode throughput of the inference engine, side by side.

    chessformer bench inference [--config paper-50m | --model RUN] [--batch 1,8,64,256]
                                [--context 256] [--steps 16] [--backends torch,triton,native]
                                [--baselines] [--choose] [--cuda-graphs] [--threads N]
                                [--json FILE]

For each batch size and backend it prefills every slot with ``--context`` tokens, then times
``--steps`` single-token decode steps (KV cache, one batched forward per step), reporting tokens/s
(= moves/s for the move tokenizer; a char model needs ~5 tokens a move), the time per step, and
the memory-bandwidth roofline: the bytes one step must read (weights once + each row's KV cache)
over the device's bandwidth. ``--baselines`` adds, in the same run, a no-KV-cache implementation
(the whole context recomputed each step) and, on CUDA, ``torch.compile`` of the model's SDPA path.
``--choose`` adds whole ``choose_moves`` calls (tokenizing, legal moves, decoding, sampling) on
games that advance two plies per call -- the fixed cost a match pays per batch. ``--config tiny``
(a 0.1M-parameter model) makes that overhead dominate. Each row also has the process CPU time per
step (``cpu_s``), steadier than wall time on a busy machine.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path
from typing import Any

import torch

from chessformer._io import write_json
from chessformer.data.tokenizers import NUM_MOVES, TOKENIZERS
from chessformer.model.gpt import CONFIGS

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
    from chessformer.model.gpt import GPT

    if args.model:
        from chessformer.model.checkpoint import load_model

        model, tok = load_model(args.model)  # errors: reported by the caller as one line
        return model, str(tok["name"])
    cfg = CONFIGS[args.config]
    if args.tokenizer == "move":
        cfg = cfg.with_(vocab_size=TOKENIZERS["move"].vocab_size)
    torch.manual_seed(0)
    return GPT(cfg), args.tokenizer


def bench_engine(
    model: Any,
    tokenizer: str,
    batch: int,
    context: int,
    steps: int,
    backend: str,
    device: torch.device,
    cuda_graphs: bool = False,
    engine_cls: Any = None,
) -> dict[str, float]:
    from chessformer.inference import InferenceEngine

    kwargs: dict[str, Any] = {"cuda_graphs": True} if cuda_graphs else {}
    eng = (engine_cls or InferenceEngine)(
        model,
        tokenizer,
        max_batch=batch,
        max_seq=context + steps + 2,
        device=device,
        backend=backend,
        **kwargs,
    )
    vocab = min(model.config.vocab_size, NUM_MOVES)
    gen = torch.Generator().manual_seed(1)
    prompt = torch.randint(0, vocab, (batch, context), generator=gen).tolist()
    slots = list(range(batch))
    eng._forward(slots, prompt)  # prefill
    nxt = [[t[-1]] for t in prompt]
    for _ in range(2):  # warm-up steps (compilation, allocator)
        eng._forward(slots, nxt)
    _sync(device)
    t, c = time.perf_counter(), time.process_time()
    for _ in range(steps):
        logits = eng._forward(slots, nxt)
        nxt = [[int(i)] for i in logits.argmax(-1).tolist()]
    _sync(device)
    dt = (time.perf_counter() - t) / steps
    return {"step_s": dt, "cpu_s": (time.process_time() - c) / steps, "tokens_per_s": batch / dt}


def bench_choose(
    model: Any,
    tokenizer: str,
    batch: int,
    calls: int,
    backend: str,
    device: torch.device,
    engine_cls: Any = None,
) -> dict[str, float]:
    """ms per ``choose_moves`` call for ``batch`` games (temperature 1, per-game seeds when the
    engine takes them), each advancing by the model's move and a random reply per call."""
    import inspect
    import random

    from chessformer.board import Board
    from chessformer.inference import InferenceEngine

    cls = engine_cls or InferenceEngine
    eng = cls(model, tokenizer, max_batch=batch, device=device, backend=backend)
    seeded = "seeds" in inspect.signature(eng.choose_moves).parameters
    rng = random.Random(0)
    boards = []
    for _ in range(batch):
        b = Board()
        for _ in range(rng.randrange(0, 30)):
            b.push(rng.choice(list(b.legal_moves)))
        boards.append(b)
    wall = cpu = 0.0
    moves = 0
    for k in range(calls + 1):
        live = [i for i, b in enumerate(boards) if any(True for _ in b.legal_moves)]
        kw: dict[str, Any] = {"seeds": live} if seeded else {}
        t, c = time.perf_counter(), time.process_time()
        out = eng.choose_moves([boards[i] for i in live], slots=live, temperature=1.0, **kw)
        _sync(device)
        if k > 0:  # the first call prefills the games
            wall += time.perf_counter() - t
            cpu += time.process_time() - c
            moves += len(live)
        for i, ch in zip(live, out, strict=True):
            if ch.move is None:
                continue
            boards[i].push(ch.move)
            replies = list(boards[i].legal_moves)
            if replies:
                boards[i].push(rng.choice(replies))
        if boards[0].ply > 150:  # keep the games inside the context
            boards = [Board() for _ in boards]
    return {"step_s": wall / calls, "cpu_s": cpu / calls, "tokens_per_s": moves / wall}


@torch.no_grad()
def bench_no_cache(
    model: Any, batch: int, context: int, steps: int, device: torch.device, compiled: bool = False
) -> dict[str, float]:
    """The baseline without a KV cache: each step runs the whole (growing) context."""
    m = model.to(device).eval()
    fwd = torch.compile(m) if compiled else m
    vocab = min(model.config.vocab_size, NUM_MOVES)
    idx = torch.randint(0, vocab, (batch, context), device=device)
    for _ in range(2):
        fwd(idx)
    _sync(device)
    t, c = time.perf_counter(), time.process_time()
    for _ in range(steps):
        logits, _ = fwd(idx)
        idx = torch.cat([idx[:, 1:], logits[:, -1].argmax(-1, keepdim=True)], dim=1)
    _sync(device)
    dt = (time.perf_counter() - t) / steps
    return {"step_s": dt, "cpu_s": (time.process_time() - c) / steps, "tokens_per_s": batch / dt}


def roofline_bytes(model: Any, batch: int, context: int, dtype_bytes: int) -> float:
    cfg = model.config
    weights = sum(p.numel() for p in model.parameters()) * dtype_bytes
    kv = batch * cfg.n_layer * 2 * context * cfg.n_embd * dtype_bytes
    return float(weights + kv)


class BenchError(ValueError):
    """A bad option: said in one line, without a traceback."""


def _device(text: str) -> torch.device:
    if text == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(text)
    except RuntimeError:
        raise BenchError(f"--device {text!r}: expected auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise BenchError(
            f"--device {text}: CUDA is not available (this torch {torch.__version__} sees no GPU); "
            "use --device cpu"
        )
    if device.type not in ("cpu", "cuda"):
        raise BenchError(f"--device {text!r}: expected auto, cpu, cuda or cuda:N")
    return device


def _batches(text: str) -> list[int]:
    try:
        sizes = [int(x) for x in text.split(",")]
    except ValueError:
        sizes = []
    if not sizes or min(sizes) < 1:
        raise BenchError(f"--batch {text!r}: expected positive sizes separated by commas, e.g. 1,8")
    return sizes


def _check_backends(backends: list[str], device: torch.device) -> None:
    from chessformer.kernels import backend as kb

    for b in backends:
        if b == "native" and device.type != "cpu":
            raise BenchError(f"--backends native: the native backend runs on the CPU, not {device}")
        try:
            kb.get_backend(device, b)
        except (ValueError, RuntimeError) as e:
            raise BenchError(f"--backends {b}: {e}") from None


HEAD = ("batch", "impl", "ms/step", "cpu ms", "tokens/s", "roofline", "vs no-cache")


def _print_head() -> None:
    h = HEAD
    print(f"{h[0]:>6} {h[1]:<18} {h[2]:>9} {h[3]:>9} {h[4]:>11} {h[5]:>9} {h[6]:>11}", flush=True)


def _print_row(r: dict[str, Any]) -> None:
    sp = r.get("speedup_vs_no_cache")
    speed = f"{sp:.1f}x" if sp else ""
    roof = "" if r["roofline_fraction"] is None else f"{r['roofline_fraction']:.1%}"
    print(
        f"{r['batch']:>6} {r['impl']:<18} {r['step_s'] * 1e3:>9.2f} "
        f"{r.get('cpu_s', float('nan')) * 1e3:>9.2f} "
        f"{r['tokens_per_s']:>11,.0f} {roof:>9} {speed:>11}",
        flush=True,
    )


def inference(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="chessformer bench inference", description=__doc__)
    ap.add_argument(
        "--config",
        default="small",
        choices=sorted(CONFIGS),
        help="model config when no --model (random weights)",
    )
    ap.add_argument("--model", help="a trained run folder instead of --config")
    ap.add_argument("--tokenizer", default="move", choices=("move", "char"))
    ap.add_argument("--batch", default="1,8,64", help="comma-separated batch sizes")
    ap.add_argument(
        "--context",
        type=int,
        help="tokens already cached per game (default 256, less when the model's context is "
        "shorter)",
    )
    ap.add_argument("--steps", type=int, default=16)
    ap.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    ap.add_argument(
        "--backends", default="auto", help="torch,triton,native (auto: what the device runs)"
    )
    ap.add_argument("--baselines", action="store_true", help="also no-KV-cache (and compile)")
    ap.add_argument("--choose", action="store_true", help="also whole choose_moves calls")
    ap.add_argument("--choose-calls", type=int, default=8)
    ap.add_argument("--cuda-graphs", action="store_true", help="engine's CUDA-graph decode step")
    ap.add_argument("--threads", type=int, help="torch CPU threads")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    try:
        return _inference(args, argv)
    except BenchError as e:
        print(f"chessformer bench inference: {e}", file=sys.stderr)
        return 2


def _inference(args: argparse.Namespace, argv: list[str]) -> int:
    if args.steps < 1:
        raise BenchError(f"--steps {args.steps}: expected at least 1")
    device = _device(args.device)
    sizes = _batches(args.batch)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.model:
        from chessformer.model.checkpoint import CheckpointError

        try:
            model, tokenizer = _model(args, device)
        except (CheckpointError, ValueError, OSError) as e:  # a broken or hostile model file
            raise BenchError(f"--model {args.model}: {e}") from None
    else:
        model, tokenizer = _model(args, device)
    room = model.config.block_size - args.steps - 2  # the longest context that leaves room
    if args.context is None:
        args.context = min(256, room)
        if args.context < 1:
            raise BenchError(
                f"--steps {args.steps} leave no room in the model's block_size "
                f"{model.config.block_size}"
            )
    elif args.context < 1 or args.context > room:
        raise BenchError(
            f"--context {args.context} + --steps {args.steps} + 2 must fit the model's "
            f"block_size {model.config.block_size} (at most --context {room})"
        )
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    model = model.to(device, dtype)
    if args.backends == "auto":
        backends = ["torch", "triton"] if device.type == "cuda" else ["torch", "native"]
    else:
        backends = args.backends.split(",")
    _check_backends(backends, device)
    name, bandwidth, bw_source = device_bandwidth(device)
    print(
        f"device {name}: {bandwidth / 1e9:.0f} GB/s ({bw_source}); model "
        f"{sum(p.numel() for p in model.parameters()) / 1e6:.1f}M params, {tokenizer} tokenizer, "
        f"context {args.context}",
        file=sys.stderr,
    )
    if args.choose:
        print("(choose/*: ms per choose_moves call; tokens/s there is moves/s)", file=sys.stderr)
    _print_head()
    rows: list[dict[str, Any]] = []
    for b in sizes:
        step_bytes = roofline_bytes(model, b, args.context, 2 if dtype == torch.bfloat16 else 4)
        floor = step_bytes / bandwidth
        base: dict[str, float] = {}  # the no-cache step time, once measured

        def add(
            impl: str,
            r: dict[str, float],
            roofline: bool = True,
            b: int = b,
            step_bytes: float = step_bytes,
            floor: float = floor,
            base: dict[str, float] = base,
        ) -> None:
            # moves/s: a decode step is a move for the move tokenizer; a choose_moves call
            # returns one move per game; a char step is a fraction of a move (left out)
            choose = impl.startswith("choose/")
            row = {
                "batch": b,
                "impl": impl,
                "backend": impl.split("/")[1],
                **r,
                "moves_per_s": r["tokens_per_s"] if choose or tokenizer == "move" else None,
                "roofline_bytes_per_step": step_bytes if roofline else None,
                "roofline_fraction": floor / r["step_s"] if roofline else None,
            }
            if "step_s" in base:
                row["speedup_vs_no_cache"] = base["step_s"] / r["step_s"]
            rows.append(row)
            _print_row(row)  # each row as soon as it is measured

        if args.baselines:  # first, so every later row of this batch shows its speed-up
            r = bench_no_cache(model, b, args.context, args.steps, device)
            base["step_s"] = r["step_s"]
            add("no-cache/eager", r)
            if device.type == "cuda":
                r = bench_no_cache(model, b, args.context, args.steps, device, compiled=True)
                add("no-cache/compile", r)
        for backend in backends:
            r = bench_engine(
                model,
                tokenizer,
                b,
                args.context,
                args.steps,
                backend,
                device,
                cuda_graphs=args.cuda_graphs,
            )
            add(f"kv-cache/{backend}", r)
            if args.choose:
                r = bench_choose(model, tokenizer, b, args.choose_calls, backend, device)
                add(f"choose/{backend}", r, roofline=False)
    result = {
        "benchmark": "inference",
        "device": name,
        "bandwidth_bytes_per_s": bandwidth,
        "bandwidth_source": bw_source,
        "dtype": str(dtype),
        "tokenizer": tokenizer,
        "config": args.model or args.config,
        "context": args.context,
        "backends": backends,
        "rows": rows,
        "threads": torch.get_num_threads(),
        "command": "chessformer bench inference " + " ".join(argv),
    }
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        write_json(args.json, result)  # strict JSON (no NaN/Infinity), atomically
    return 0


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: chessformer bench inference [options]   (see --help of the subcommand)")
        return 0 if argv else 2
    if argv[0] == "inference":
        return inference(argv[1:])
    print(f"chessformer bench: unknown benchmark {argv[0]!r} (known: inference)", file=sys.stderr)
    return 2
