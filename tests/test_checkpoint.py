"""Checkpoints (atomic writes, pickle-free loads) and nanoGPT interoperability."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pytest
import torch

import chessformer.model.checkpoint as ckpt_mod
from chessformer.data.tokenizers import TOKENIZERS
from chessformer.model.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from chessformer.model.convert import ConvertError, load_nanogpt, to_nanogpt
from chessformer.model.convert import main as convert_main
from chessformer.model.gpt import CONFIGS, GPT

TOK = TOKENIZERS["char"].info()


def _model(seed: int, **kw: object) -> GPT:
    torch.manual_seed(seed)
    return GPT(CONFIGS["tiny"].with_(**kw)).eval()


def _stepped(model: GPT) -> torch.optim.AdamW:
    opt = model.configure_optimizer(1e-3, 0.1, (0.9, 0.95))
    x = torch.randint(0, 32, (2, 16))
    model(x, x)[1].backward()  # type: ignore[union-attr]
    opt.step()
    return opt


def _same_weights(a: GPT, b: GPT) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_save_load_roundtrip(tmp_path: Path) -> None:
    model = _model(0)
    opt = _stepped(model)
    path = save_checkpoint(
        tmp_path,
        5,
        model,
        {"lr": 1e-3},
        TOK,
        opt.state_dict(),
        {"data": [{"epoch": 0, "cursor": 9}]},
    )
    assert path.name == "ckpt-0000005" and (tmp_path / "latest").is_file()
    modes = {p.name: p.stat().st_mode & 0o777 for p in path.iterdir()}
    assert len(set(modes.values())) == 1, modes  # the weights as readable as the other files
    ck = load_checkpoint(tmp_path)
    assert ck.step == 5 and ck.state["data"] == [{"epoch": 0, "cursor": 9}]
    assert ck.model_config == model.config and ck.tokenizer == TOK
    loaded = ck.load_model()
    assert _same_weights(model, loaded)
    assert loaded.lm_head.weight is loaded.transformer.wte.weight
    opt2 = loaded.configure_optimizer(1e-3, 0.1, (0.9, 0.95))
    state = ck.load_optimizer_state()
    assert state is not None
    opt2.load_state_dict(state)  # loaded with weights_only=True
    exp = opt.state_dict()["state"][0]["exp_avg"]
    torch.testing.assert_close(opt2.state_dict()["state"][0]["exp_avg"], exp)


def test_crash_mid_write_keeps_previous_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _model(0)
    save_checkpoint(tmp_path, 1, first, {}, TOK, _stepped(first).state_dict(), keep_last=1)
    second = _model(1)
    opt = _stepped(second)

    def crash_in_optimizer_file(path: Path, state: dict[str, object]) -> None:
        path.write_bytes(b"half a file")
        raise OSError("simulated crash (disk full / killed)")

    monkeypatch.setattr(ckpt_mod, "_write_optimizer", crash_in_optimizer_file)
    with pytest.raises(OSError, match="simulated"):
        save_checkpoint(tmp_path, 2, second, {}, TOK, opt.state_dict(), keep_last=1)
    assert list(tmp_path.glob(".tmp-*"))  # the debris of the crashed write
    ck = load_checkpoint(tmp_path)
    assert ck.step == 1 and _same_weights(ck.load_model(), first)

    # crash after the folder rename but before the pointer moved: still the old checkpoint
    monkeypatch.undo()

    def crash_replace(src: object, dst: object) -> None:
        raise OSError("simulated crash before latest")

    monkeypatch.setattr(ckpt_mod.os, "replace", crash_replace)
    with pytest.raises(OSError, match="before latest"):
        save_checkpoint(tmp_path, 2, second, {}, TOK, opt.state_dict(), keep_last=1)
    monkeypatch.undo()
    ck = load_checkpoint(tmp_path)
    assert ck.step == 1 and _same_weights(ck.load_model(), first)
    # the next good save cleans the debris and moves on
    save_checkpoint(tmp_path, 3, second, {}, TOK, opt.state_dict(), keep_last=1)
    assert not list(tmp_path.glob(".tmp-*"))
    assert sorted(p.name for p in tmp_path.glob("ckpt-*")) == ["ckpt-0000003"]
    assert load_checkpoint(tmp_path).step == 3


def test_crash_between_the_renames_of_a_resave(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Re-saving a step moves the old copy aside, then renames the new one in: a crash between
    the two must not leave ``latest`` pointing at nothing."""
    model = _model(0)
    opt = _stepped(model)
    save_checkpoint(tmp_path, 4, model, {}, TOK, opt.state_dict())
    real_rename = Path.rename
    calls: list[str] = []

    def crash_on_second_rename(self: Path, target: object) -> Path:
        calls.append(self.name)
        if self.name.startswith(".tmp-ckpt-"):  # the new copy: the process dies here
            raise OSError("simulated crash between the renames")
        return real_rename(self, target)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "rename", crash_on_second_rename)
    with pytest.raises(OSError, match="between the renames"):
        save_checkpoint(tmp_path, 4, model, {}, TOK, opt.state_dict())
    monkeypatch.undo()
    assert calls[0] == "ckpt-0000004" and not (tmp_path / "ckpt-0000004").exists()
    ck = load_checkpoint(tmp_path)  # restores the copy that was moved aside
    assert ck.step == 4 and _same_weights(ck.load_model(), model)
    assert ck.load_optimizer_state() is not None
    save_checkpoint(tmp_path, 5, model, {}, TOK, opt.state_dict())
    assert sorted(p.name for p in tmp_path.glob("ckpt-*")) == ["ckpt-0000004", "ckpt-0000005"]
    assert not list(tmp_path.glob(".tmp-*"))


class _Marker:
    """Unpickling this would create a file: a stand-in for arbitrary code."""

    path = ""

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (os.system, (f"touch {self.path}",))


def test_malicious_optimizer_state_is_refused(tmp_path: Path) -> None:
    model = _model(0)
    path = save_checkpoint(tmp_path / "run", 1, model, {}, TOK, _stepped(model).state_dict())
    marker = tmp_path / "ran"
    _Marker.path = str(marker)
    torch.save({"state": {}, "param_groups": [], "evil": _Marker()}, path / "optimizer.pt")
    with pytest.raises(CheckpointError, match=r"optimizer\.pt: refused"):
        load_checkpoint(tmp_path / "run").load_optimizer_state()
    assert not marker.exists()


def test_bad_checkpoints_are_refused(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="neither a checkpoint"):
        load_checkpoint(tmp_path)
    path = save_checkpoint(tmp_path, 1, _model(0), {}, TOK)
    (path / "config.json").write_text('{"format": "chessformer-checkpoint", "format_version": 7}')
    with pytest.raises(CheckpointError, match="format_version 7"):
        load_checkpoint(path)


def test_nanogpt_export_import_identical_logits(tmp_path: Path) -> None:
    model = _model(0)
    pt = tmp_path / "ckpt.pt"
    torch.save(to_nanogpt(model, iter_num=7), pt)
    loaded, raw = load_nanogpt(pt)
    assert raw["iter_num"] == 7 and raw["model_args"]["vocab_size"] == 32
    idx = torch.randint(0, 32, (2, 50))
    with torch.no_grad():
        assert torch.equal(model(idx)[0], loaded.eval()(idx)[0])


def test_nanogpt_compiled_keys_with_bias_and_mask_buffers(tmp_path: Path) -> None:
    """A hand-built nanoGPT state dict: torch.compile's _orig_mod. prefix, bias=True, the old
    causal-mask buffers, and an explicit lm_head.weight."""
    ref = _model(2, bias=True)
    c = ref.config
    sd: dict[str, torch.Tensor] = {}
    for k, v in ref.state_dict().items():
        sd["_orig_mod." + k] = v.clone()
    for i in range(c.n_layer):
        mask = torch.tril(torch.ones(c.block_size, c.block_size)).view(
            1, 1, c.block_size, c.block_size
        )
        sd[f"_orig_mod.transformer.h.{i}.attn.bias"] = mask
    assert "_orig_mod.transformer.h.0.ln_1.bias" in sd and "_orig_mod.lm_head.weight" in sd
    args = {
        "n_layer": c.n_layer,
        "n_head": c.n_head,
        "n_embd": c.n_embd,
        "block_size": c.block_size,
        "bias": True,
        "vocab_size": 32,
        "dropout": 0.0,
    }
    pt = tmp_path / "nano.pt"
    torch.save(
        {
            "model": sd,
            "model_args": args,
            "iter_num": 100,
            "best_val_loss": 1.5,
            "config": {"dataset": "lichess_hf_dataset"},
        },
        pt,
    )
    loaded, _ = load_nanogpt(pt)
    idx = torch.randint(0, 32, (1, 30))
    with torch.no_grad():
        torch.testing.assert_close(loaded.eval()(idx)[0], ref(idx)[0], rtol=0, atol=0)


def test_nanogpt_pickled_objects_need_opt_in(tmp_path: Path) -> None:
    model = _model(0)
    blob = to_nanogpt(model)
    blob["config"] = argparse.Namespace(lr=1.0)  # an arbitrary class: refused by weights_only
    pt = tmp_path / "pickled.pt"
    torch.save(blob, pt)
    with pytest.raises(ConvertError, match="--trust-pickle"):
        load_nanogpt(pt)
    loaded, _ = load_nanogpt(pt, trust_pickle=True)
    assert _same_weights(model, loaded)


def test_convert_cli_roundtrip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = _model(0)
    save_checkpoint(tmp_path / "run", 4, model, {"lr": 3e-4}, TOK)
    pt = tmp_path / "out" / "nano.pt"
    assert convert_main(["--to-nanogpt", str(tmp_path / "run"), "--out", str(pt)]) == 0
    assert convert_main(["--from-nanogpt", str(pt), "--out", str(tmp_path / "back")]) == 0
    back = load_checkpoint(tmp_path / "back")
    assert back.step == 4 and back.tokenizer["name"] == "char"
    assert _same_weights(model, back.load_model())
    os.remove(pt)
    assert convert_main(["--from-nanogpt", str(pt), "--out", str(tmp_path / "x")]) == 2
    assert "nano.pt" in capsys.readouterr().err


def test_move_model_nanogpt_roundtrip_identical_logits(tmp_path: Path) -> None:
    """A move model (6 layers, the old bundled model's shape) -> nanoGPT .pt -> back: same
    tokenizer, step, config and logits."""
    from chessformer.model.checkpoint import load_model
    from chessformer.model.convert import TOKENIZER_KEY

    torch.manual_seed(3)
    cfg = CONFIGS["small"].with_(vocab_size=1974, block_size=256, n_layer=6, n_head=5, n_embd=320)
    move_tok = TOKENIZERS["move"].info()
    src = save_checkpoint(tmp_path / "src", 7000, GPT(cfg).eval(), {"lr": 1e-3}, move_tok)
    pt = tmp_path / "m.pt"
    assert convert_main(["--to-nanogpt", str(src), "--out", str(pt)]) == 0
    raw = torch.load(pt, weights_only=True)  # still plain data: nanoGPT (and weights_only) read it
    assert raw[TOKENIZER_KEY]["name"] == "move" and raw["model_args"]["vocab_size"] == 1974
    assert convert_main(["--from-nanogpt", str(pt), "--out", str(tmp_path / "back")]) == 0
    orig, back = load_checkpoint(src), load_checkpoint(tmp_path / "back")
    assert back.tokenizer == orig.tokenizer and back.step == orig.step
    assert back.model_config == orig.model_config
    assert {k: v for k, v in back.train_config.items() if k != "converted_from"} == (
        orig.train_config
    )
    idx = torch.randint(0, 1974, (2, 40), generator=torch.Generator().manual_seed(0))
    a, b = orig.load_model().eval(), back.load_model().eval()
    with torch.no_grad():
        assert torch.equal(a(idx)[0], b(idx)[0])
    # the .pt itself loads for inference (uci/play --model file.pt) with the recorded tokenizer
    model, tok = load_model(pt)
    assert tok == orig.tokenizer
    with torch.no_grad():
        assert torch.equal(model.eval()(idx)[0], a(idx)[0])
    # a nanoGPT file without our key: vocab_size 1974 is guessed as the move tokenizer
    del raw[TOKENIZER_KEY]
    torch.save(raw, tmp_path / "plain.pt")
    assert (
        convert_main(["--from-nanogpt", str(tmp_path / "plain.pt"), "--out", str(tmp_path / "g")])
        == 0
    )
    assert load_checkpoint(tmp_path / "g").tokenizer["name"] == "move"


def test_board_aware_bundled_model_is_refused_by_nanogpt_export(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from chessformer.engine.bundled import default_model_path

    src = default_model_path()
    assert src is not None
    if load_checkpoint(src).model_config.board_features == "none":
        pytest.skip("the bundled model is a plain move model (the round trip above covers it)")
    assert convert_main(["--to-nanogpt", str(src), "--out", str(tmp_path / "m.pt")]) == 2
    assert "board-aware" in capsys.readouterr().err
    assert not (tmp_path / "m.pt").exists()


def test_convert_refuses_files_that_are_not_checkpoints(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "good.pt"
    torch.save(to_nanogpt(_model(0)), good)
    cases = {
        "empty.pgn": (b"", "is empty"),
        "game.pgn": (b'[Event "x"]\n\n1. e4 e5 *\n', "not a PyTorch checkpoint"),
        "cut.pt": (good.read_bytes()[:2000], "truncated"),
    }
    for name, (data, why) in cases.items():
        (tmp_path / name).write_bytes(data)
        out = tmp_path / f"out-{name}"
        assert convert_main(["--from-nanogpt", str(tmp_path / name), "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert name in err and why in err and "Traceback" not in err, err
        assert not out.exists()
        with pytest.raises(ConvertError, match=why):
            load_nanogpt(tmp_path / name)


def test_convert_tokenizer_choices(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from chessformer.model.checkpoint import load_model
    from chessformer.model.convert import _tokenizer_for

    pt = tmp_path / "c.pt"
    torch.save(to_nanogpt(_model(0)), pt)  # 32 entries, no recorded tokenizer
    with pytest.raises(SystemExit) as exit_info:
        convert_main(
            ["--from-nanogpt", str(pt), "--tokenizer", "fen", "--out", str(tmp_path / "f")]
        )
    assert exit_info.value.code == 2
    assert "invalid choice: 'fen'" in capsys.readouterr().err
    assert not (tmp_path / "f").exists()
    with pytest.raises(ConvertError, match="'fen' is not supported"):
        _tokenizer_for(2000, "fen")
    assert (
        convert_main(
            ["--from-nanogpt", str(pt), "--tokenizer", "move", "--out", str(tmp_path / "x")]
        )
        == 2
    )
    assert "tokenizer move needs vocab_size >= 1974" in capsys.readouterr().err
    # an unguessable vocabulary: convert asks for --tokenizer, loading for inference for convert
    odd = tmp_path / "odd.pt"
    torch.save(to_nanogpt(_model(0, vocab_size=100)), odd)
    assert convert_main(["--from-nanogpt", str(odd), "--out", str(tmp_path / "o")]) == 2
    assert "pass --tokenizer char|move" in capsys.readouterr().err
    with pytest.raises(ConvertError, match="chessformer convert --from-nanogpt") as err:
        load_model(odd)
    assert "odd.pt" in str(err.value) and "vocab_size 100" in str(err.value)
