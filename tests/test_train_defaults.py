"""Training defaults that suit the run, the loss to beat, Ctrl-C, the CPU cost estimate, `plot`."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from chessformer.data.dataset import Dataset, unigram_entropy
from chessformer.model import plot, train
from chessformer.model.checkpoint import load_checkpoint
from chessformer.model.estimate import CpuEstimate, describe, estimate_cpu
from chessformer.model.gpt import CONFIGS, GPT
from chessformer.model.trainconfig import (
    RECIPES,
    TrainConfig,
    fit_schedule,
    recipe,
    schedule_warnings,
    set_keys,
)

SAMPLE = Path(__file__).parent / "data" / "sample_char"


def _train(out: Path, *sets: str) -> int:
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
        "threads=1",
        *sets,
    ]
    return train.main(argv)


def test_the_papers_schedule_is_kept_for_the_papers_run() -> None:
    cfg, notes = fit_schedule(recipe("paper-50m"), set())
    assert cfg == TrainConfig() and notes == []
    assert (cfg.warmup_steps, cfg.eval_interval, cfg.ckpt_interval) == (2000, 1000, 1000)


def test_short_runs_get_intervals_scaled_to_them() -> None:
    sets = ["max_steps=300", "eval_interval=7"]
    cfg = TrainConfig(max_steps=300, eval_interval=7)
    fitted, notes = fit_schedule(cfg, set_keys(sets))
    assert (fitted.warmup_steps, fitted.ckpt_interval, fitted.log_interval) == (15, 60, 6)
    assert fitted.eval_interval == 7  # set by the user: kept
    assert notes == ["warmup_steps=15", "ckpt_interval=60", "log_interval=6"]
    assert schedule_warnings(fitted) == []
    # 0 means "only at the end" and stays so
    assert fit_schedule(TrainConfig(max_steps=10, ckpt_interval=0), set())[0].ckpt_interval == 0


def test_warm_up_longer_than_the_run_is_warned() -> None:
    (w,) = schedule_warnings(TrainConfig(max_steps=300))  # the paper's 2,000 warm-up steps
    assert "max_steps=300 ends inside the 2000-step warm-up" in w and "lr=0.0003" in w


def test_tiny_run_learns_saves_early_and_logs_the_baseline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The issue's case: tiny with a short max_steps used to stay inside a 2,000-step warm-up
    and save nothing before step 1,000."""
    assert (
        _train(tmp_path, "max_steps=20", "batch_size=4", "model.block_size=32", "eval_batches=1")
        == 0
    )
    err = capsys.readouterr().err
    assert "schedule fitted to max_steps=20: warmup_steps=1" in err and "warning" not in err
    lrs = [r["lr"] for r in train.iter_metrics(tmp_path)]
    assert max(lrs) == pytest.approx(RECIPES["tiny"]["lr"])  # the warm-up ended at step 1
    assert [r["step"] for r in train.iter_metrics(tmp_path, "val")] == list(range(2, 21, 2))
    kept = sorted(p.name for p in tmp_path.glob("ckpt-*"))
    assert kept == ["ckpt-0000012", "ckpt-0000016", "ckpt-0000020"]  # every 4 steps, last 3
    # the loss to beat, from an independent count over the whole val split
    ds = Dataset.open(SAMPLE)
    (data,) = train.iter_metrics(tmp_path, "data")
    assert data["unigram_entropy"] == pytest.approx(
        unigram_entropy(ds.splits["val"], ds.tokenizer.vocab_size)
    )
    assert f"loss to beat: {data['unigram_entropy']:.4f} nats" in err

    if importlib.util.find_spec("tensorboard") is not None:  # the same records for TensorBoard
        (events,) = (tmp_path / "tb").glob("events.out.tfevents.*")
        assert events.stat().st_size > 0

    # the plot and its summary
    assert plot.main([str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert (tmp_path / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "best val loss" in out and f"unigram entropy {data['unigram_entropy']:.4f}" in out


def test_warm_up_past_the_end_warns_at_start(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        _train(
            tmp_path,
            "max_steps=2",
            "warmup_steps=50",
            "batch_size=2",
            "model.block_size=32",
            "eval_batches=1",
        )
        == 0
    )
    assert "warning: max_steps=2 ends inside the 50-step warm-up" in capsys.readouterr().err


def test_plot_errors_name_the_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert plot.main([str(tmp_path / "nope")]) == 2
    assert "nope is not a folder" in capsys.readouterr().err
    (tmp_path / "metrics.jsonl").write_text('{"kind": "train"}\n')
    assert plot.main([str(tmp_path)]) == 2
    assert "metrics.jsonl:1: not a metrics record" in capsys.readouterr().err


def test_cpu_estimate_before_a_big_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    model = GPT(CONFIGS["paper-50m"])
    est = estimate_cpu(model, batch_size=32, tokens_per_step=131_072, steps=100_000)
    n = sum(p.numel() for p in model.parameters())
    assert est.state_bytes == 16 * n and est.tokens_per_s > 0
    # 32 rows x 1023 tokens x (96 B x 16 layers x 512 + 14 B x 32 vocab)
    assert est.act_bytes == 32 * 1023 * (96 * 16 * 512 + 14 * 32)
    line, warnings = describe(
        CpuEstimate(1e11, 250.0, 524.0, 5.24e7, 8 * 10**8, 26 * 10**9, 16 * 10**9), 100_000, 32
    )
    assert "~250 tokens/s" in line and "100000 steps ~606.5 days" in line and "~26.8 GB" in line
    assert any("has 16.0 GB" in w for w in warnings)
    assert any("--config tiny" in w for w in warnings)
    # the training command says it before the first step (any run above the threshold)
    monkeypatch.setattr(train, "CPU_ESTIMATE_FLOPS", 0.0)
    assert _train(tmp_path, "max_steps=1", "batch_size=2", "model.block_size=32") == 0
    assert "CPU estimate: ~" in capsys.readouterr().err


def test_ctrl_c_saves_a_checkpoint_and_resume_continues(tmp_path: Path) -> None:
    # the installed chessformer (a PYTHONPATH to the sources would hide a non-editable install's
    # compiled _core, as scripts/setup.sh makes it)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        "-m",
        "chessformer.cli",
        "train",
        "--data",
        str(SAMPLE),
        "--config",
        "tiny",
        "--out",
        str(tmp_path),
        "--device",
        "cpu",
        "--set",
        "batch_size=2",
        "model.block_size=32",
        "log_interval=1",
        "eval_interval=0",
        "ckpt_interval=0",
    ]
    proc = subprocess.Popen([*cmd, "max_steps=100000"], env=env, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    lines = []
    for line in proc.stderr:  # wait for the training loop (and its handler) to run
        lines.append(line)
        if line.startswith("train: 3/"):  # the progress line of step 3 (stderr is a pipe)
            break
    proc.send_signal(signal.SIGINT)
    _, rest = proc.communicate(timeout=120)
    assert proc.returncode == 130, "".join(lines) + rest
    assert "SIGINT: stopping after this step" in rest and "--resume" in rest
    step = load_checkpoint(tmp_path).step
    assert step >= 3
    assert [r["step"] for r in train.iter_metrics(tmp_path)] == list(range(1, step + 1))
    run = subprocess.run(
        [*cmd, f"max_steps={step + 2}", "--resume"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert load_checkpoint(tmp_path).step == step + 2
