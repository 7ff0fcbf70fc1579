"""Hostile and broken model files: every loader (checkpoint folders, run folders, nanoGPT .pt, the
convert CLI) checks a file's sizes against the weights actually present, and within sane bounds,
before it allocates anything, and reports every malformed file as an error naming it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

import chessformer.model.checkpoint as ckpt_mod
import chessformer.model.convert as convert_mod
from chessformer.data.tokenizers import TOKENIZERS
from chessformer.model.checkpoint import (
    CONFIG_LIMITS,
    CheckpointError,
    load_checkpoint,
    load_model,
    save_checkpoint,
)
from chessformer.model.convert import ConvertError, load_nanogpt, to_nanogpt
from chessformer.model.convert import main as convert_main
from chessformer.model.gpt import GPT, GPTConfig

TOK = TOKENIZERS["char"].info()
SMALL = GPTConfig(vocab_size=32, block_size=16, n_layer=2, n_head=2, n_embd=8)


@pytest.fixture
def guarded(monkeypatch: pytest.MonkeyPatch) -> list[GPTConfig]:
    """Fails the test if a loader allocates a model other than SMALL (building on the meta device,
    which allocates nothing, is allowed): the oversized configs below must be refused first."""
    built: list[GPTConfig] = []

    def spy(cfg: GPTConfig) -> GPT:
        if torch.empty(0).device.type != "meta":
            built.append(cfg)
            assert cfg == SMALL, f"allocated a model for {cfg} before checking the weights"
        return GPT(cfg)

    monkeypatch.setattr(ckpt_mod, "GPT", spy)
    monkeypatch.setattr(convert_mod, "GPT", spy)
    return built


def _small() -> GPT:
    torch.manual_seed(0)
    return GPT(SMALL).eval()


def _run_with_model_record(tmp: Path, change: Callable[[dict[str, Any]], None]) -> Path:
    save_checkpoint(tmp / "run", 1, _small(), {}, TOK)
    cfg_path = tmp / "run" / "ckpt-0000001" / "config.json"
    meta = json.loads(cfg_path.read_text())
    change(meta)
    cfg_path.write_text(json.dumps(meta))
    return tmp / "run"


def _pt_with_model_args(tmp: Path, change: Callable[[dict[str, Any]], None]) -> Path:
    blob = to_nanogpt(_small(), tokenizer=TOK)
    change(blob)
    pt = tmp / "m.pt"
    torch.save(blob, pt)
    return pt


# sizes that fit the bounds but not the weights present (the weights decide), then the bounds
OVERSTATED = [
    ("n_layer", 1000, "n_layer=1000 but the weights hold 2 blocks"),
    ("n_layer", 1, "n_layer=1 but the weights hold 2 blocks"),
    ("n_embd", 8192, "transformer.wte.weight is (32, 8), the config makes (32, 8192)"),
    ("vocab_size", 500_000, "transformer.wte.weight is (32, 8), the config makes (500000, 8)"),
    ("block_size", 60_000, "transformer.wpe.weight is (16, 8), the config makes (60000, 8)"),
    ("n_layer", 10**6, "n_layer is 1000000, outside 1..1024"),
    ("n_embd", 10**100, "n_embd is 1000000000000000000000"),
    ("vocab_size", 0, "vocab_size is 0, outside 1..1048576"),
    ("block_size", -5, "block_size is -5, outside"),
    ("n_head", 10**9, "n_head is 1000000000, outside 1..1024"),
    ("n_head", 3, "n_embd 8 is not divisible by n_head 3"),
    ("n_layer", 2.0, "n_layer must be an integer, got 2.0"),
    ("n_layer", "2", "n_layer must be an integer, got '2'"),
    ("n_embd", True, "n_embd must be an integer, got True"),
    ("vocab_size", None, "vocab_size must be an integer, got None"),
    ("dropout", 7, "dropout must be a number in [0, 1), got 7"),
]


@pytest.mark.parametrize(("field", "value", "why"), OVERSTATED)
def test_checkpoint_config_checked_before_allocating(
    tmp_path: Path, guarded: list[GPTConfig], field: str, value: Any, why: str
) -> None:
    run = _run_with_model_record(tmp_path, lambda m: m["model"].__setitem__(field, value))
    with pytest.raises(CheckpointError, match="ckpt-0000001") as info:
        load_model(run)  # what uci, play, match --model and bench use
    assert why in str(info.value)
    assert guarded == []
    with pytest.raises(CheckpointError, match="ckpt-0000001"):
        load_checkpoint(run).load_model()


@pytest.mark.parametrize(("field", "value", "why"), OVERSTATED)
def test_nanogpt_model_args_checked_before_allocating(
    tmp_path: Path,
    guarded: list[GPTConfig],
    capsys: pytest.CaptureFixture[str],
    field: str,
    value: Any,
    why: str,
) -> None:
    pt = _pt_with_model_args(tmp_path, lambda b: b["model_args"].__setitem__(field, value))
    with pytest.raises(ConvertError, match=r"m\.pt") as info:
        load_nanogpt(pt)
    assert why in str(info.value)
    with pytest.raises(ConvertError):
        load_model(pt)
    assert convert_main(["--from-nanogpt", str(pt), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert why in err and "Traceback" not in err and not (tmp_path / "out").exists()
    assert guarded == []


def test_a_million_layers_cost_nothing(tmp_path: Path) -> None:
    """The issue's attack: a tiny file whose config claims a million layers. Refused without a
    single block allocated (the meta-device model is never built with an unchecked n_layer)."""
    pt = _pt_with_model_args(tmp_path, lambda b: b["model_args"].__setitem__("n_layer", 10**6))
    assert pt.stat().st_size < 20_000
    run = _run_with_model_record(tmp_path, lambda m: m["model"].__setitem__("n_layer", 10**6))
    for path in (pt, run):
        with pytest.raises(ValueError, match="n_layer is 1000000"):
            load_model(path)
    assert CONFIG_LIMITS["n_layer"] >= 16  # the paper's model (16 layers) stays loadable


def test_weights_that_do_not_match_their_names(tmp_path: Path, guarded: list[GPTConfig]) -> None:
    """Right sizes in the config, wrong tensors in the file: a block's tensor with another shape,
    a missing tensor, a stray one, blocks numbered with a gap."""
    sd = {k: v.clone() for k, v in _small().state_dict().items()}

    def with_state(edit: Callable[[dict[str, torch.Tensor]], None]) -> Path:
        s = dict(sd)
        edit(s)
        blob = to_nanogpt(_small(), tokenizer=TOK)
        blob["model"] = s
        pt = tmp_path / "w.pt"
        torch.save(blob, pt)
        return pt

    cases: list[tuple[Callable[[dict[str, torch.Tensor]], None], str]] = [
        (
            lambda s: s.__setitem__("transformer.h.1.mlp.c_fc.weight", torch.zeros(64, 8)),
            "transformer.h.1.mlp.c_fc.weight is (64, 8), the config makes (32, 8)",
        ),
        (lambda s: s.pop("transformer.ln_f.weight"), "missing transformer.ln_f.weight"),
        (lambda s: s.__setitem__("extra.weight", torch.zeros(3)), "unexpected extra.weight"),
        (
            lambda s: s.update(
                {k.replace("h.1.", "h.7."): s.pop(k) for k in list(s) if ".h.1." in k}
            ),
            "not numbered 0, 1, ...",
        ),
        (
            lambda s: s.__setitem__("lm_head.weight", torch.zeros(40, 8)),
            "lm_head.weight is (40, 8)",
        ),
    ]
    for edit, why in cases:
        with pytest.raises(ConvertError, match=r"w\.pt") as info:
            load_nanogpt(with_state(edit))
        assert why in str(info.value), info.value
    assert guarded == []


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b"[1, 2]", "format is None"),
        (b'{"format": "chessformer-checkpoint", "format_version": 1}', "no model config"),
        (b"\xff\xfe garbage", "not UTF-8"),
        (b"[" * 100_000 + b"]" * 100_000, "not valid JSON"),
        (
            b'{"format": "chessformer-checkpoint", "format_version": 1, "model": [], "step": 1}',
            "the model config is a list",
        ),
        (
            b'{"format": "chessformer-checkpoint", "format_version": 1, "model": {}, "step": "x"}',
            "step must be an integer",
        ),
        (
            b'{"format": "chessformer-checkpoint", "format_version": 1, "model": {}, "train": 3}',
            "'train' must be a JSON object",
        ),
    ],
)
def test_malformed_config_json_named(tmp_path: Path, content: bytes, why: str) -> None:
    run = _run_with_model_record(tmp_path, lambda m: None)
    (run / "ckpt-0000001" / "config.json").write_bytes(content)
    with pytest.raises(CheckpointError, match=r"config\.json") as info:
        load_model(run)
    assert why in str(info.value)


def test_malformed_pointer_state_and_weights_named(tmp_path: Path) -> None:
    run = _run_with_model_record(tmp_path, lambda m: None)
    ckpt = run / "ckpt-0000001"
    (ckpt / "state.json").write_bytes(b"{not json")
    with pytest.raises(CheckpointError, match=r"state\.json is not valid JSON"):
        load_checkpoint(run)
    (ckpt / "state.json").write_text("{}")
    (ckpt / "model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{}")
    with pytest.raises(CheckpointError, match=r"model\.safetensors: not a readable safetensors"):
        load_model(run)
    for pointer in (b"\xff", b"12", b'""', b'"../x"'):
        (run / "latest").write_bytes(pointer)
        with pytest.raises(CheckpointError, match="latest"):
            load_model(run)


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda b: b.__setitem__("model_args", [1, 2]), "model_args is a list, not a dict"),
        (lambda b: b.__setitem__("model", [1, 2]), "'model' is a list, not a state dict"),
        (lambda b: b["model"].__setitem__(3, torch.zeros(1)), "key 3 is not a string"),
        (lambda b: b["model_args"].pop("n_embd"), "model_args lacks 'n_embd'"),
    ],
)
def test_malformed_nanogpt_dicts_named(
    tmp_path: Path, change: Callable[[dict[str, Any]], None], why: str
) -> None:
    pt = _pt_with_model_args(tmp_path, change)
    with pytest.raises(ConvertError, match=r"m\.pt") as info:
        load_nanogpt(pt)
    assert why in str(info.value)


def test_good_files_still_load(tmp_path: Path) -> None:
    """The checks refuse nothing that fits: both formats load back the same weights."""
    model = _small()
    pt = _pt_with_model_args(tmp_path, lambda b: None)
    loaded, _ = load_nanogpt(pt)
    run = _run_with_model_record(tmp_path, lambda m: None)
    again, tok = load_model(run)
    for other in (loaded, again):
        assert all(
            torch.equal(a, b)
            for a, b in zip(model.state_dict().values(), other.state_dict().values(), strict=True)
        )
    assert tok == TOK


def test_convert_refuses_an_existing_out_without_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = _run_with_model_record(tmp_path, lambda m: None)
    pt = tmp_path / "mine.pt"
    pt.write_bytes(b"the user's own file")
    assert convert_main(["--to-nanogpt", str(run), "--out", str(pt)]) == 2
    assert "file exists; pass --force" in capsys.readouterr().err
    assert pt.read_bytes() == b"the user's own file"
    assert convert_main(["--to-nanogpt", str(run), "--out", str(pt), "--force"]) == 0
    assert load_nanogpt(pt)[1]["iter_num"] == 1
    assert not list(tmp_path.glob(".*.tmp"))
    # import: a folder holding anything is not silently given a new checkpoint and 'latest'
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "latest").write_text("my notes")
    assert convert_main(["--from-nanogpt", str(pt), "--out", str(folder)]) == 2
    err = capsys.readouterr().err
    assert "not empty; pass --force" in err and "Traceback" not in err
    assert (folder / "latest").read_text() == "my notes"
    assert convert_main(["--from-nanogpt", str(pt), "--out", str(pt.with_suffix(".x"))]) == 0
    assert convert_main(["--from-nanogpt", str(pt), "--out", str(pt)]) == 2
    assert "is a file" in capsys.readouterr().err


def test_every_command_reports_a_hostile_model_without_traceback(tmp_path: Path) -> None:
    """The issue's config.json through `match --model`, and the .pt through `bench inference`
    and `play`: an error naming the file and the field, no traceback, nothing allocated."""
    import subprocess
    import sys

    run = _run_with_model_record(tmp_path, lambda m: m["model"].__setitem__("n_layer", 10**6))
    pt = _pt_with_model_args(tmp_path, lambda b: b["model_args"].__setitem__("n_layer", 10**6))
    commands = [
        ["bench", "inference", "--model", str(pt)],
        ["play", "--model", str(run)],
        ["match", "--model", str(run), "--games", "2", "--out", str(tmp_path / "m")],
    ]
    for args in commands:
        proc = subprocess.run(
            [sys.executable, "-m", "chessformer", *args],
            capture_output=True,
            text=True,
            timeout=300,
            stdin=subprocess.DEVNULL,
        )
        assert proc.returncode != 0 and "Traceback" not in proc.stderr, (args, proc.stderr)
        assert "n_layer is 1000000, outside 1..1024" in proc.stderr, (args, proc.stderr)
