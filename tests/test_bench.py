"""`chessformer bench inference`: a tiny run writes strict JSON with the documented fields."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from chessformer.inference import bench


def _strict(text: str) -> dict:
    def refuse(name: str) -> float:
        raise ValueError(f"non-standard JSON constant {name}")

    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize("config", ["tiny"])
def test_bench_inference_json(
    tmp_path: Path, config: str, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "sub" / "bench.json"
    argv = [
        "inference",
        "--config",
        config,
        "--batch",
        "1,3",
        "--context",
        "8",
        "--steps",
        "2",
        "--backends",
        "torch",
        "--baselines",
        "--choose",
        "--choose-calls",
        "2",
        "--threads",
        "1",
        "--json",
        str(out),
    ]
    assert bench.main(argv) == 0
    d = _strict(out.read_text())
    assert d["backends"] == ["torch"] and d["context"] == 8 and d["bandwidth_bytes_per_s"] > 0
    impls = [(r["batch"], r["impl"]) for r in d["rows"]]
    assert impls == [
        (b, i) for b in (1, 3) for i in ("no-cache/eager", "kv-cache/torch", "choose/torch")
    ]
    move = d["tokenizer"] == "move"
    for r in d["rows"]:
        assert r["backend"] == r["impl"].split("/")[1]
        assert r["step_s"] > 0 and r["tokens_per_s"] == pytest.approx(r["batch"] / r["step_s"])
        if r["impl"].startswith("choose/"):
            assert r["roofline_fraction"] is None and r["roofline_bytes_per_step"] is None
            assert r["moves_per_s"] == r["tokens_per_s"]
        else:
            assert r["roofline_bytes_per_step"] > 0 and r["roofline_fraction"] > 0
            assert (r["moves_per_s"] == r["tokens_per_s"]) if move else r["moves_per_s"] is None
        assert r["speedup_vs_no_cache"] > 0
    assert not list(out.parent.glob(".*tmp"))  # renamed into place
    assert "kv-cache/torch" in capsys.readouterr().out


def test_rows_are_printed_as_they_are_measured(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each row reaches stdout before the next measurement starts (no silent minutes)."""
    seen: list[str] = []
    real = bench.bench_engine

    def spy(*args: object, **kwargs: object) -> dict[str, float]:
        seen.append(capsys.readouterr().out)  # what the user has seen when this row starts
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(bench, "bench_engine", spy)
    argv = [
        "inference",
        "--config",
        "tiny",
        "--batch",
        "1,2",
        "--context",
        "4",
        "--steps",
        "1",
        "--backends",
        "torch",
        "--threads",
        "1",
    ]
    assert bench.main(argv) == 0
    assert "ms/step" in seen[0] and "kv-cache/torch" not in seen[0]  # the header first
    assert seen[1].count("kv-cache/torch") == 1  # batch 1's row, before batch 2 runs
    assert capsys.readouterr().out.count("kv-cache/torch") == 1


def test_tiny_runs_with_the_default_settings(capsys: pytest.CaptureFixture[str]) -> None:
    # tiny's context is 256: the default --context (256) + --steps (16) did not fit
    argv = [
        "inference",
        "--config",
        "tiny",
        "--batch",
        "1",
        "--backends",
        "torch",
        "--threads",
        "1",
    ]
    assert bench.main(argv) == 0
    out = capsys.readouterr()
    assert "context 238" in out.err and "kv-cache/torch" in out.out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--batch", "1,x"], "--batch '1,x': expected positive sizes"),
        (["--context", "300"], "must fit the model's block_size 256 (at most --context 238)"),
        (["--device", "tpu"], "--device 'tpu': expected auto, cpu, cuda or cuda:N"),
        (["--backends", "fast"], "--backends fast: backend 'fast' is not one of"),
        (["--model", "no/such/run"], "--model no/such/run:"),
    ],
)
def test_bad_options_are_one_line_errors(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert bench.main(["inference", "--config", "tiny", "--batch", "1", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_device_cuda_without_cuda_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench.main(["inference", "--config", "tiny", "--device", "cuda"]) == 2
    assert "--device cuda: CUDA is not available" in capsys.readouterr().err
