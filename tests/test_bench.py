"""`chessformer bench inference`: a tiny run writes strict JSON with the documented fields."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

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
    argv = ["inference", "--config", config, "--batch", "1,3", "--context", "8", "--steps", "2",
            "--backends", "torch", "--baselines", "--choose", "--choose-calls", "2", "--threads",
            "1", "--json", str(out)]  # fmt: skip
    assert bench.main(argv) == 0
    d = _strict(out.read_text())
    assert d["backends"] == ["torch"] and d["context"] == 8 and d["bandwidth_bytes_per_s"] > 0
    impls = [(r["batch"], r["impl"]) for r in d["rows"]]
    assert impls == [
        (b, i) for b in (1, 3) for i in ("kv-cache/torch", "choose/torch", "no-cache/eager")
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
