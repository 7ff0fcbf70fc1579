"""``chessformer train``: train a GPT on a prepared dataset folder, on CPU, one GPU or many.

    chessformer train --data DATA_DIR --config paper-50m --out runs/cf1000
    chessformer train --data DATA_DIR --config tiny --set max_steps=200 batch_size=8 --out runs/t
    chessformer train --out runs/cf1000 --data DATA_DIR --resume          # continue exactly
    torchrun --nproc_per_node 8 -m chessformer.cli train --data ... --out ...   # DDP

Every hyper-parameter is a `TrainConfig` field, set with ``--set key=value``; model fields take a
``model.`` prefix (``--set model.dropout=0.1``). Metrics go to ``RUN_DIR/metrics.jsonl`` (and to
TensorBoard when installed), checkpoints to ``RUN_DIR/ckpt-*`` (see chessformer.model.checkpoint).
docs/training.md has the paper's run and the multi-GPU recipe.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import gc
import os
import queue
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from chessformer._progress import Progress
from chessformer.data.dataset import (
    Batcher,
    Dataset,
    DatasetFormatError,
    GameStream,
    board_features_error,
)
from chessformer.model.checkpoint import (
    CheckpointError,
    has_checkpoint,
    load_checkpoint,
    save_checkpoint,
)
from chessformer.model.estimate import describe, estimate_cpu
from chessformer.model.evaluate import Batch, evaluate, model_inputs, validation_rows
from chessformer.model.gpt import CONFIGS, GPT
from chessformer.model.runlog import MetricsLog, capped_unigram_entropy, iter_metrics
from chessformer.model.stopping import StopRequest
from chessformer.model.trainconfig import (
    ConfigError,
    TrainConfig,
    apply_sets,
    fit_schedule,
    lr_at,
    recipe,
    schedule_warnings,
    set_keys,
)

__all__ = ["ConfigError", "TrainConfig", "apply_sets", "iter_metrics", "lr_at", "main"]


# peak dense bf16 tensor FLOP/s by device-name substring (no sparsity)
PEAK_FLOPS = {
    "H200": 989e12,
    "H100": 989e12,
    "A100": 312e12,
    "L40S": 362e12,
    "A10G": 125e12,
    "RTX 4090": 165e12,
    "RTX 3090": 71e12,
    "V100": 125e12,
}
# CPU assumption: AVX2 with two FMA ports = 32 fp32 FLOP/cycle/core at ~2.5 GHz
CPU_FLOPS_PER_THREAD = 80e9


def peak_flops(device: torch.device) -> float | None:
    if device.type == "cpu":
        return CPU_FLOPS_PER_THREAD * torch.get_num_threads()
    name = torch.cuda.get_device_name(device)
    return next((v for k, v in PEAK_FLOPS.items() if k in name), None)


def train_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    batches: Sequence[Batch],
    grad_clip: float,
    autocast: Callable[[], contextlib.AbstractContextManager[Any]] = contextlib.nullcontext,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """One optimizer step over the micro-batches; returns (mean loss, grad norm) as tensors so
    the caller decides when to sync with the device.

    Each micro-batch's mean loss is scaled by 1/len(batches): the step's gradient is the mean over
    micro-batches, and DDP's all-reduce averages over ranks — the same update as one process on
    the combined batch. Gradients are all-reduced only on the last micro-batch (``no_sync``).
    """
    total = torch.zeros((), device=batches[0][0].device)
    for i, batch in enumerate(batches):
        x, y = batch[0], batch[1]
        last = i == len(batches) - 1
        sync: contextlib.AbstractContextManager[Any] = contextlib.nullcontext()
        if isinstance(model, nn.parallel.DistributedDataParallel) and not last:
            sync = model.no_sync()
        with sync:
            with autocast():
                _, loss = model(x, y, **model_inputs(batch))
            assert loss is not None
            (loss / len(batches)).backward()
        total += loss.detach()
    norm = None
    if grad_clip > 0:
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return total / len(batches), norm


class Prefetcher:
    """Calls ``produce`` over and over in a background thread, keeping up to ``depth`` results
    ready; `get` returns them in order. The producer's exception is raised by `get`."""

    def __init__(
        self, produce: Callable[[], Any], depth: int, on_start: Callable[[], None] | None = None
    ) -> None:
        self._queue: queue.Queue[tuple[bool, Any]] = queue.Queue(maxsize=max(depth, 1))
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(produce, on_start), name="chessformer-batches", daemon=True
        )
        self._thread.start()

    def _put(self, item: tuple[bool, Any]) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def _run(self, produce: Callable[[], Any], on_start: Callable[[], None] | None) -> None:
        try:
            if on_start is not None:
                on_start()
            while not self._stop.is_set():
                self._put((True, produce()))
        except BaseException as e:  # handed to the consumer, which re-raises it
            self._put((False, e))

    def get(self) -> Any:
        while True:
            try:
                ok, item = self._queue.get(timeout=1.0)
                break
            except queue.Empty:
                if not self._thread.is_alive():
                    raise RuntimeError("the batch thread stopped") from None
        if not ok:
            raise RuntimeError(f"loading batches failed: {item}") from item
        return item

    def close(self) -> None:
        self._stop.set()
        with contextlib.suppress(queue.Empty):
            while True:
                self._queue.get_nowait()
        self._thread.join(timeout=10)


def _step_seed(seed: int, rank: int, step: int) -> int:
    # re-seeding per step makes dropout a function of (seed, rank, step): resume needs no RNG state
    return int(np.random.SeedSequence([seed, rank, step]).generate_state(1)[0])


def _gather_positions(
    position: dict[str, int], device: torch.device, world: int
) -> list[dict[str, int]]:
    mine = torch.tensor([position["epoch"], position["cursor"]], dtype=torch.int64, device=device)
    if world == 1:
        return [dict(position)]
    parts = [torch.zeros_like(mine) for _ in range(world)]
    dist.all_gather(parts, mine)
    return [{"epoch": int(p[0]), "cursor": int(p[1])} for p in parts]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="chessformer train", description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True, help="dataset folder (chessformer prep output)")
    p.add_argument("--config", default="small", choices=sorted(CONFIGS), help="model config")
    p.add_argument(
        "--set",
        dest="sets",
        action="extend",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="override a TrainConfig field (model.KEY: GPTConfig)",
    )
    p.add_argument("--out", required=True, help="run folder: checkpoints and metrics")
    p.add_argument("--resume", action="store_true", help="continue from RUN_DIR/latest")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    owns_group = not (dist.is_available() and dist.is_initialized())
    try:
        return _train(args)
    except (ConfigError, DatasetFormatError, CheckpointError) as e:
        print(f"chessformer train: {e}", file=sys.stderr)
        return 2
    finally:
        if owns_group and dist.is_available() and dist.is_initialized():
            _close_process_group()


def _close_process_group() -> None:
    """Destroy the process group this run made, once nothing holds it any more.

    The DDP wrapper's reducer keeps a reference to the group; if it is still alive (reference
    cycles free it only at a later collection) when the interpreter shuts down, gloo's worker
    threads run into a finalizing interpreter and the rank dies with SIGABRT ("terminate called
    without an active exception") after a run that otherwise succeeded.
    """
    gc.collect()
    dist.destroy_process_group()


def _train(args: argparse.Namespace) -> int:
    run_dir = Path(args.out)
    # distributed: torchrun sets RANK / LOCAL_RANK / WORLD_SIZE
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local_rank = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
    if use_cuda and not torch.cuda.is_available():
        raise ConfigError("--device cuda: CUDA is not available")
    device = torch.device(f"cuda:{local_rank}" if use_cuda else "cpu")
    if use_cuda:
        torch.cuda.set_device(device)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    master = rank == 0

    ds = Dataset.open(args.data)
    tok = ds.tokenizer
    resume_ckpt = None
    if args.resume:
        if not has_checkpoint(run_dir):
            raise ConfigError(f"--resume: no checkpoint in {run_dir}")
        resume_ckpt = load_checkpoint(run_dir)
        known = {f.name for f in fields(TrainConfig)}
        cfg = TrainConfig(**{k: v for k, v in resume_ckpt.train_config.items() if k in known})
        mcfg = resume_ckpt.model_config
        if resume_ckpt.tokenizer.get("name") != tok.name:
            raise ConfigError(
                f"--resume: checkpoint tokenizer {resume_ckpt.tokenizer.get('name')!r}"
                f" differs from the dataset's {tok.name!r}"
            )
        cfg, new_mcfg = apply_sets(cfg, mcfg, args.sets)
        fitted: list[str] = []  # the schedule stays the checkpoint's
        if new_mcfg != mcfg:
            raise ConfigError("--resume: model.* settings cannot change the checkpoint's model")
    else:
        if has_checkpoint(run_dir):
            raise ConfigError(
                f"{run_dir} already holds a run; pass --resume or choose another --out"
            )
        base = CONFIGS[args.config].with_(vocab_size=tok.vocab_size)
        cfg, mcfg = apply_sets(recipe(args.config), base, args.sets)
        cfg, fitted = fit_schedule(cfg, set_keys(args.sets))
    if mcfg.vocab_size != tok.vocab_size:
        raise ConfigError(f"model vocab_size {mcfg.vocab_size} != tokenizer's {tok.vocab_size}")

    if cfg.threads and device.type == "cpu":
        torch.set_num_threads(cfg.threads)
    if use_cuda:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    bf16 = use_cuda and cfg.dtype in ("auto", "bf16")
    if cfg.dtype == "bf16" and not use_cuda:
        raise ConfigError("dtype=bf16 needs CUDA; CPU trains in fp32")

    def autocast() -> contextlib.AbstractContextManager[Any]:
        if bf16:
            return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    torch.manual_seed(cfg.seed)  # identical init on every rank
    raw = GPT(mcfg)
    step = 0
    if resume_ckpt is not None:
        raw = resume_ckpt.load_model()
        step = resume_ckpt.step
    raw.to(device)
    optimizer = raw.configure_optimizer(
        cfg.lr, cfg.weight_decay, (cfg.beta1, cfg.beta2), fused=use_cuda
    )
    stream = GameStream(ds.splits["train"], cfg.seed, rank, world)
    tokens_seen = 0
    if resume_ckpt is not None:
        opt_state = resume_ckpt.load_optimizer_state(device)
        if opt_state is not None:
            optimizer.load_state_dict(opt_state)
        positions = resume_ckpt.state.get("data") or []
        if len(positions) != world:
            raise ConfigError(
                f"--resume: checkpoint was written by {len(positions)} rank(s), this "
                f"run has {world}; exact resume needs the same number"
            )
        stream.load_state_dict(positions[rank])
        tokens_seen = int(resume_ckpt.state.get("tokens", 0))

    model: nn.Module = raw
    if use_cuda and cfg.compile:
        model = torch.compile(model)  # type: ignore[assignment]
    if world > 1:
        model = nn.parallel.DistributedDataParallel(
            model, device_ids=[local_rank] if use_cuda else None
        )
    model.train()

    packed = {"auto": None, "games": True, "one": False}[cfg.pack]
    if mcfg.board_aware and tok.name != "move":
        raise ConfigError(board_features_error(tok.name))
    legal = mcfg.legal_softmax
    batcher = Batcher(stream, tok, mcfg.block_size, packed, mcfg.board_features, legal)
    val = validation_rows(
        ds,
        mcfg.block_size,
        cfg.eval_batches * cfg.batch_size,
        rank,
        world,
        packed,
        mcfg.board_features,
        legal,
    )
    tokens_per_step = cfg.batch_size * mcfg.block_size * cfg.grad_accum * world
    flops_per_step = raw.flops_per_token() * tokens_per_step
    peak = peak_flops(device)
    peak_total = peak * world if peak else None

    run_dir.mkdir(parents=True, exist_ok=True)
    log = MetricsLog(run_dir, enabled=master)
    if master and resume_ckpt is not None:
        log.truncate_after(step)  # drop lines a crashed run wrote after its last checkpoint
    # a tqdm bar on a terminal; in a log, one line per log_interval (log_every=0)
    progress = (
        Progress(cfg.max_steps, desc="train", unit="step", initial=step, log_every=0)
        if master
        else None
    )
    if progress is not None:
        progress.message(
            f"chessformer train: {mcfg.n_layer}L {mcfg.n_head}H {mcfg.n_embd}d, "
            f"{raw.num_params() / 1e6:.2f}M params, {tok.name} vocab {tok.vocab_size}, "
            f"{tokens_per_step} tokens/step, {world} rank(s) on {device}"
            f"{', bf16' if bf16 else ', fp32'}{', resumed at step ' + str(step) if step else ''}"
        )
        _say_plan(progress, cfg, fitted, ds, mcfg.vocab_size, log, step)
        if device.type == "cpu" and flops_per_step * (cfg.max_steps - step) >= CPU_ESTIMATE_FLOPS:
            line, warnings = describe(
                estimate_cpu(raw, cfg.batch_size, tokens_per_step, cfg.max_steps - step),
                cfg.max_steps - step,
                cfg.batch_size,
            )
            progress.message(line)
            for w in warnings:
                progress.message(f"warning: {w}")

    # the stream position after the batches of the steps taken so far (a background thread may
    # already have read further): what a checkpoint records
    data_pos = stream.state_dict()

    def save() -> None:
        positions = _gather_positions(data_pos, device, world)
        if master:
            save_checkpoint(
                run_dir,
                step,
                raw,
                dataclasses.asdict(cfg),
                tok.info(),
                optimizer.state_dict(),
                {"data": positions, "tokens": tokens_seen, "world_size": world},
                keep_last=cfg.keep_last,
            )

    def validate() -> None:
        if not val:
            return
        metrics = evaluate(model, val, tok, autocast)
        log.write(
            {
                "kind": "val",
                "step": step,
                "loss": metrics["loss"],
                "acc": metrics["acc"],
                "tokens": tokens_seen,
                "cpu_s": time.process_time(),
                **({"value_loss": metrics["value_loss"]} if "value_loss" in metrics else {}),
            }
        )
        if progress is not None:
            what = "move acc" if tok.name == "move" else "acc"
            progress.message(
                f"step {step}: val loss {metrics['loss']:.4f} {what} {metrics['acc']:.4f}"
            )

    pin = device.type == "cuda"  # pinned host memory: the copy to the GPU is asynchronous

    def host_batches() -> tuple[list[Batch], dict[str, int], float]:
        """One step's micro-batches on the host, the stream position after them, seconds taken."""
        t0 = time.perf_counter()
        out = [batcher.next_batch(cfg.batch_size) for _ in range(cfg.grad_accum)]
        if pin:
            out = [tuple(t.pin_memory() for t in b) for b in out]
        return out, stream.state_dict(), time.perf_counter() - t0

    def to_device(batch: Batch) -> Batch:
        if device.type == "cuda":
            pinned = batch if pin else tuple(t.pin_memory() for t in batch)
            return tuple(t.to(device, non_blocking=True) for t in pinned)
        return batch

    depth = cfg.prefetch if cfg.prefetch >= 0 else (2 if use_cuda else 0)
    # the thread packs the next steps while this one launches kernels (or computes, on CPU)
    prefetcher = (
        Prefetcher(
            host_batches, depth, on_start=(lambda: torch.cuda.set_device(device)) if pin else None
        )
        if depth
        else None
    )
    # per logging interval: wall time less validation/checkpoints, time waiting for batches
    # (packing when inline, queue wait when prefetched, plus the copy launch), packing time
    t_last, steps_since, loss_acc = time.perf_counter(), 0, torch.zeros((), device=device)
    paused = data_s = pack_s = 0.0
    stop = StopRequest(progress)
    try:
        while step < cfg.max_steps:
            lr = lr_at(cfg, step)
            for group in optimizer.param_groups:
                group["lr"] = lr
            torch.manual_seed(_step_seed(cfg.seed, rank, step))
            # without a thread, packing still overlaps the device's previous step (no sync)
            t0 = time.perf_counter()
            host, next_pos, packing = prefetcher.get() if prefetcher else host_batches()
            batches = [to_device(b) for b in host]
            data_s += time.perf_counter() - t0
            pack_s += packing
            loss, norm = train_step(model, optimizer, batches, cfg.grad_clip, autocast)
            data_pos = next_pos
            step += 1
            tokens_seen += tokens_per_step
            steps_since += 1
            loss_acc += loss
            if step % cfg.log_interval == 0 or step == cfg.max_steps:
                # the only device sync of a logging interval
                loss_mean = (loss_acc / steps_since).item()
                now = time.perf_counter()
                busy = max(now - t_last - paused, 1e-9)
                tps = tokens_per_step * steps_since / busy
                mfu = flops_per_step * steps_since / busy / peak_total if peak_total else None
                step_ms, data_ms = 1e3 * busy / steps_since, 1e3 * data_s / steps_since
                record = {
                    "kind": "train",
                    "step": step,
                    "loss": loss_mean,
                    "lr": lr,
                    "grad_norm": float(norm) if norm is not None else None,
                    "tokens": tokens_seen,
                    "cpu_s": time.process_time(),
                    "tok_per_s": tps,
                    "mfu": mfu,
                    "step_ms": step_ms,
                    "data_ms": data_ms,
                    "pack_ms": 1e3 * pack_s / steps_since,
                }
                log.write(record)
                if progress is not None:
                    mfu_text = f" mfu {100 * mfu:.1f}%" if mfu is not None else ""
                    progress.set(
                        step,
                        f"loss {loss_mean:.4f} lr {lr:.2e} | {tps / 1e3:.1f}k tok/s{mfu_text} | "
                        f"{step_ms:.0f} ms/step, data {100 * data_ms / step_ms:.1f}%",
                    )
                t_last, steps_since, loss_acc = now, 0, torch.zeros((), device=device)
                paused = data_s = pack_s = 0.0
            t0 = time.perf_counter()
            if cfg.eval_interval and step % cfg.eval_interval == 0 and step < cfg.max_steps:
                validate()
            if cfg.ckpt_interval and step % cfg.ckpt_interval == 0 and step < cfg.max_steps:
                save()
            paused += time.perf_counter() - t0
            # one process checks every step; ranks agree at their logging sync
            if stop.requested(world, device, at_sync=step % cfg.log_interval == 0):
                break
    finally:
        stop.restore()
        if prefetcher is not None:
            prefetcher.close()
    interrupted = step < cfg.max_steps
    if not interrupted:
        validate()
    save()
    if progress is not None:
        if interrupted:
            progress.message(
                f"stopped at step {step}: checkpoint saved in {run_dir}; continue with the same "
                "command and --resume"
            )
        progress.close()
    log.close()
    if world > 1:
        dist.barrier()
    return 130 if interrupted else 0


# Below this many training FLOPs left, a CPU run is short enough to need no cost estimate
# (``tiny``'s default run is ~2.5e12; ``small``'s ~1e16, ``paper-50m``'s ~5e18).
CPU_ESTIMATE_FLOPS = 1e14


def _say_plan(
    progress: Progress,
    cfg: TrainConfig,
    fitted: list[str],
    ds: Dataset,
    vocab_size: int,
    log: MetricsLog,
    step: int,
) -> None:
    """Before the first step: the schedule, warnings about it, and the loss to beat."""
    if fitted:
        progress.message(
            f"schedule fitted to max_steps={cfg.max_steps}: {', '.join(fitted)} "
            "(--set one to choose it)"
        )
    for w in schedule_warnings(cfg):
        progress.message(f"warning: {w}")
    split_name = "val" if "val" in ds.splits else "train"
    h = capped_unigram_entropy(ds.splits[split_name], vocab_size)
    log.write({"kind": "data", "step": step, "unigram_entropy": h, "split": split_name})
    progress.message(
        f"loss to beat: {h:.4f} nats, the unigram entropy of the {split_name} split "
        "(a model that ignores context)"
    )


if __name__ == "__main__":
    sys.exit(main())
