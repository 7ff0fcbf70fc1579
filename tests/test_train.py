"""Training: it learns, it resumes exactly, DDP equals one process, --set is checked."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.nn.parallel import DistributedDataParallel

from chessformer.data.dataset import Dataset, unigram_entropy, write_dataset
from chessformer.data.tokenizers import MOVE_BOS, TOKENIZERS
from chessformer.model.checkpoint import load_checkpoint
from chessformer.model.gpt import CONFIGS, GPT
from chessformer.model.train import (
    Prefetcher,
    TrainConfig,
    apply_sets,
    iter_metrics,
    lr_at,
    main,
    train_step,
)

SAMPLE = Path(__file__).parent / "data" / "sample_char"
REPO = Path(__file__).resolve().parents[1]


def _train(out: Path, *sets: str, resume: bool = False) -> int:
    argv = [
        "--data",
        str(SAMPLE),
        "--config",
        "tiny",
        "--out",
        str(out),
        "--device",
        "cpu",
        "--set",
        "threads=2",
        "eval_batches=4",
        *sets,
    ]
    return main([*argv, "--resume"] if resume else argv)


def test_tiny_learns_below_unigram_entropy(tmp_path: Path) -> None:
    ds = Dataset.open(SAMPLE)
    h = unigram_entropy(ds.splits["train"], ds.tokenizer.vocab_size)  # ~3.06 nats
    assert (
        _train(
            tmp_path,
            "max_steps=60",
            "batch_size=8",
            "grad_accum=1",
            "lr=3e-3",
            "warmup_steps=10",
            "log_interval=10",
            "eval_interval=0",
            "model.block_size=128",
        )
        == 0
    )
    val = list(iter_metrics(tmp_path, "val"))
    assert val and val[-1]["loss"] < 0.8 * h, (val[-1], h)
    assert val[-1]["acc"] > 0.3
    train = list(iter_metrics(tmp_path, "train"))
    assert train[-1]["loss"] < train[0]["loss"] and train[-1]["tok_per_s"] > 0
    # the per-step breakdown: waiting for batches is a small part of a step
    last = train[-1]
    assert last["pack_ms"] > 0 and 0 < last["data_ms"] < last["step_ms"]


def test_resume_continues_exactly(tmp_path: Path) -> None:
    common = [
        "batch_size=4",
        "grad_accum=2",
        "warmup_steps=2",
        "lr_decay_steps=6",
        "log_interval=1",
        "eval_interval=0",
        "model.block_size=64",
        "model.dropout=0.1",
    ]
    assert _train(tmp_path / "a", "max_steps=6", "prefetch=0", *common) == 0
    # batches built ahead by the background thread: the checkpoint must still record the
    # position after the steps taken, not after what the thread read ahead
    assert _train(tmp_path / "b", "max_steps=3", "prefetch=2", *common) == 0
    assert _train(tmp_path / "b", "max_steps=6", "prefetch=0", resume=True) == 0
    a = [r["loss"] for r in iter_metrics(tmp_path / "a")]
    b = [r["loss"] for r in iter_metrics(tmp_path / "b")]
    assert len(a) == len(b) == 6 and a == b  # bit-exact, dropout included
    wa = load_checkpoint(tmp_path / "a").load_model().state_dict()
    wb = load_checkpoint(tmp_path / "b").load_model().state_dict()
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_prefetcher_keeps_order_and_raises_producer_errors() -> None:
    items = iter(range(5))

    def produce() -> int:
        return next(items)  # StopIteration after 5 items: the consumer sees it

    pre = Prefetcher(produce, depth=2)
    assert [pre.get() for _ in range(5)] == [0, 1, 2, 3, 4]
    with pytest.raises(RuntimeError, match="loading batches failed"):
        pre.get()
    pre.close()


def test_set_is_type_checked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg, m = apply_sets(
        TrainConfig(), CONFIGS["tiny"], ["lr=1e-3", "compile=false", "model.n_layer=3"]
    )
    assert cfg.lr == 1e-3 and cfg.compile is False and m.n_layer == 3
    assert _train(tmp_path / "x", "learning_rate=1") == 2
    assert "'learning_rate': unknown key" in capsys.readouterr().err
    assert _train(tmp_path / "y", "batch_size=big") == 2
    assert "expected a int" in capsys.readouterr().err
    assert _train(tmp_path / "z", "model.heads=2") == 2
    assert "unknown model key" in capsys.readouterr().err


def test_refuses_to_overwrite_a_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _train(tmp_path, "max_steps=1", "batch_size=2", "model.block_size=32") == 0
    assert _train(tmp_path, "max_steps=1", "batch_size=2", "model.block_size=32") == 2
    assert "--resume" in capsys.readouterr().err


def test_lr_schedule() -> None:
    cfg = TrainConfig(lr=3e-4, min_lr=3e-5, warmup_steps=10, max_steps=110)
    assert lr_at(cfg, 0) == pytest.approx(3e-5) and lr_at(cfg, 9) == pytest.approx(3e-4)
    assert lr_at(cfg, 60) == pytest.approx((3e-4 + 3e-5) / 2)
    assert lr_at(cfg, 110) == pytest.approx(3e-5) and lr_at(cfg, 500) == 3e-5


def _micro_batches(rank: int | None) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """2 micro-batches; rank r gets rows [2r, 2r+2) of each 4-row combined micro-batch."""
    g = torch.Generator().manual_seed(123)
    out = []
    for _ in range(2):
        x = torch.randint(0, 32, (4, 24), generator=g)
        y = torch.randint(0, 32, (4, 24), generator=g)
        out.append(
            (x, y) if rank is None else (x[2 * rank : 2 * rank + 2], y[2 * rank : 2 * rank + 2])
        )
    return out


def _step_once(model: torch.nn.Module, raw: GPT, rank: int | None) -> None:
    # plain SGD: the update is -lr * (clipped) gradient, so comparing updates compares the
    # averaged gradients exactly (Adam's first step, ~lr * sign(g), would amplify float noise)
    opt = torch.optim.SGD(raw.parameters(), lr=0.5)
    train_step(model, opt, _micro_batches(rank), grad_clip=1.0)


def _ddp_worker(rank: int, init_file: str, out: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    torch.set_num_threads(1)
    torch.manual_seed(0)
    raw = GPT(CONFIGS["tiny"].with_(block_size=32))
    ddp = DistributedDataParallel(raw)
    _step_once(ddp, raw, rank)
    if rank == 0:
        torch.save(raw.state_dict(), out)
    # free the DDP wrapper (its reducer holds the process group) before the group is destroyed:
    # a gloo worker thread that outlives the interpreter aborts the process at exit
    del ddp
    gc.collect()
    dist.destroy_process_group()


def test_ddp_two_processes_equal_one_on_combined_batch(tmp_path: Path) -> None:
    out = tmp_path / "ddp.pt"
    mp.spawn(_ddp_worker, args=(str(tmp_path / "init"), str(out)), nprocs=2, join=True)
    torch.manual_seed(0)
    raw = GPT(CONFIGS["tiny"].with_(block_size=32))
    before = {k: v.clone() for k, v in raw.state_dict().items()}
    _step_once(raw, raw, None)
    ddp = torch.load(out, weights_only=True)
    for k, v in raw.state_dict().items():
        torch.testing.assert_close(ddp[k] - before[k], v - before[k], rtol=1e-4, atol=1e-7)
    assert not torch.equal(raw.transformer.wte.weight, before["transformer.wte.weight"])


def test_torchrun_two_ranks_train_and_resume(tmp_path: Path) -> None:
    """The real launcher: 2 gloo ranks through `chessformer train`, then an exact-resume check."""
    env = {**os.environ, "PYTHONPATH": str(REPO / "python"), "OMP_NUM_THREADS": "1"}
    common = [
        "--data",
        str(SAMPLE),
        "--config",
        "tiny",
        "--device",
        "cpu",
        "--out",
        str(tmp_path / "run"),
        "--set",
        "batch_size=2",
        "grad_accum=2",
        "log_interval=1",
        "eval_batches=2",
        "eval_interval=0",
        "model.block_size=64",
        "lr_decay_steps=4",
    ]
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "chessformer.cli",
        "train",
        *common,
    ]
    run = subprocess.run(
        [*cmd, "max_steps=2"], env=env, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr[-3000:]
    ck = load_checkpoint(tmp_path / "run")
    data = ck.state["data"]
    assert ck.step == 2 and len(data) == 2 and all(d["cursor"] > 0 for d in data)
    run = subprocess.run(
        [*cmd, "max_steps=4", "--resume"], env=env, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert [r["step"] for r in iter_metrics(tmp_path / "run")] == [1, 2, 3, 4]


def test_move_tokenizer_trains_and_reports_move_accuracy(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    games = [
        [MOVE_BOS, *rng.integers(0, 40, int(n)).tolist(), 1970] for n in rng.integers(5, 60, 80)
    ]
    write_dataset(
        tmp_path / "data",
        {"train": games, "val": games[:8]},
        TOKENIZERS["move"],
    )
    argv = [
        "--data",
        str(tmp_path / "data"),
        "--config",
        "tiny",
        "--out",
        str(tmp_path / "run"),
        "--device",
        "cpu",
        "--set",
        "max_steps=3",
        "batch_size=4",
        "model.block_size=64",
    ]
    assert main(argv) == 0
    vals = list(iter_metrics(tmp_path / "run", "val"))
    assert [v["step"] for v in vals] == [1, 2, 3]  # eval_interval fitted to the 3-step run
    val = vals[-1]
    assert 0.0 <= val["acc"] <= 1.0 and val["loss"] < 8.0
    assert load_checkpoint(tmp_path / "run").model_config.vocab_size == 1974
