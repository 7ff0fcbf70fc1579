"""``chessformer convert``: nanoGPT checkpoints to and from chessformer checkpoints.

    chessformer convert --from-nanogpt ckpt.pt --out runs/paper-cf1000   # the paper's release
    chessformer convert --to-nanogpt runs/cf1000 --out cf1000-nanogpt.pt

A nanoGPT checkpoint is a ``torch.save``d dict with ``model_args`` (n_layer, n_head, n_embd,
block_size, bias, vocab_size) and ``model``, a state dict with nanoGPT's names — which are ours, so
the mapping only strips wrapper prefixes (``_orig_mod.`` from torch.compile, ``module.`` from DDP)
and drops the causal-mask buffers (``attn.bias`` of shape (1, 1, T, T)) old versions saved.

Loading uses ``torch.load(weights_only=True)``: tensors and primitives only. A file that holds other
objects (a pickled config class, numpy scalars) is refused unless ``--trust-pickle`` is given,
because unpickling runs arbitrary code from the file.
"""

from __future__ import annotations

import argparse
import pickle
import sys
from pathlib import Path
from typing import Any

import torch

from chessformer.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from chessformer.data import CHAR_VOCAB, MOVE_PAD, char_tokenizer_info
from chessformer.model import GPT, GPTConfig

WRAPPER_PREFIXES = ("_orig_mod.", "module.")


class ConvertError(ValueError):
    """A nanoGPT checkpoint that cannot be read safely or does not fit the architecture."""


def _strip(key: str) -> str:
    changed = True
    while changed:
        changed = False
        for p in WRAPPER_PREFIXES:
            if key.startswith(p):
                key, changed = key[len(p) :], True
    return key


def from_nanogpt_state(sd: dict[str, Any], cfg: GPTConfig) -> dict[str, torch.Tensor]:
    """Our state dict from a nanoGPT one (prefixes stripped, mask buffers dropped, tie checked)."""
    out: dict[str, torch.Tensor] = {}
    for key, value in sd.items():
        name = _strip(key)
        # nanoGPT without flash attention registered the causal mask as 'attn.bias' (1, 1, T, T)
        if name.endswith(".attn.bias") and getattr(value, "dim", lambda: 0)() == 4:
            continue
        if name.endswith(".attn.masked_bias"):  # HF GPT-2 leftovers
            continue
        if not isinstance(value, torch.Tensor):
            raise ConvertError(
                f"state dict entry {key!r} is a {type(value).__name__}, not a tensor"
            )
        out[name] = value
    wte, head = out.get("transformer.wte.weight"), out.get("lm_head.weight")
    if wte is not None and head is not None and not torch.equal(wte, head):
        raise ConvertError(
            "lm_head.weight differs from transformer.wte.weight: untied heads are "
            "not supported (nanoGPT ties them)"
        )
    return out


def config_from_model_args(args: dict[str, Any]) -> GPTConfig:
    try:
        return GPTConfig(
            vocab_size=int(args["vocab_size"]),
            block_size=int(args["block_size"]),
            n_layer=int(args["n_layer"]),
            n_head=int(args["n_head"]),
            n_embd=int(args["n_embd"]),
            bias=bool(args.get("bias", False)),
            dropout=0.0,
        )
    except KeyError as e:
        raise ConvertError(f"model_args lacks {e.args[0]!r}: {args!r}") from None


def read_nanogpt(path: str | Path, trust_pickle: bool = False) -> dict[str, Any]:
    """The raw checkpoint dict; refuses anything but tensors/primitives unless trust_pickle."""
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=not trust_pickle)
    except pickle.UnpicklingError as e:
        raise ConvertError(
            f"{path}: holds objects other than tensors and plain values, so loading it would "
            "unpickle them, which can run arbitrary code from the file. If you trust where it came "
            f"from, rerun with --trust-pickle. (torch: {str(e).splitlines()[0]})"
        ) from None
    if not isinstance(ckpt, dict) or "model" not in ckpt or "model_args" not in ckpt:
        raise ConvertError(
            f"{path}: not a nanoGPT checkpoint (expected a dict with 'model' and 'model_args')"
        )
    return ckpt


def load_nanogpt(path: str | Path, trust_pickle: bool = False) -> tuple[GPT, dict[str, Any]]:
    """A GPT with a nanoGPT checkpoint's weights, and the checkpoint's raw dict."""
    ckpt = read_nanogpt(path, trust_pickle)
    cfg = config_from_model_args(dict(ckpt["model_args"]))
    model = GPT(cfg)
    sd = from_nanogpt_state(dict(ckpt["model"]), cfg)
    missing, unexpected = model.load_state_dict(sd, strict=False)
    missing = [k for k in missing if k != "lm_head.weight"]
    if missing or unexpected:
        raise ConvertError(
            f"{path}: weights do not fit model_args {ckpt['model_args']!r}: "
            f"missing {missing}, unexpected {unexpected}"
        )
    return model, ckpt


def to_nanogpt(
    model: GPT, iter_num: int = 0, config: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A dict nanoGPT's sample.py (and our loader) reads: model_args, model, iter_num, config."""
    c = model.config
    return {
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "model_args": {
            "n_layer": c.n_layer,
            "n_head": c.n_head,
            "n_embd": c.n_embd,
            "block_size": c.block_size,
            "bias": c.bias,
            "vocab_size": c.vocab_size,
            "dropout": c.dropout,
        },
        "iter_num": iter_num,
        "best_val_loss": float("inf"),
        "config": dict(config or {}),
    }


def _tokenizer_for(vocab_size: int, name: str) -> dict[str, Any]:
    if name == "auto":
        name = "char" if vocab_size == len(CHAR_VOCAB) else ""
        if not name:
            raise ConvertError(
                f"vocab_size {vocab_size}: cannot guess the tokenizer; pass --tokenizer char|move"
            )
    if name == "char":
        if vocab_size != len(CHAR_VOCAB):
            raise ConvertError(f"--tokenizer char needs vocab_size 32, the model has {vocab_size}")
        return char_tokenizer_info().to_json()
    dtype = "uint8" if vocab_size <= 256 else "uint16"
    pad = MOVE_PAD if name == "move" else 0
    return {"name": name, "version": 1, "vocab_size": vocab_size, "dtype": dtype, "pad_id": pad}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="chessformer convert", description=__doc__.split("\n\n")[0])
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--from-nanogpt", metavar="PT", help="nanoGPT checkpoint file to import")
    src.add_argument(
        "--to-nanogpt", metavar="CKPT", help="our checkpoint (or run folder) to export"
    )
    p.add_argument("--out", required=True, help="run folder (import) or .pt file (export)")
    p.add_argument("--tokenizer", default="auto", help="import: char | move | auto (32 -> char)")
    p.add_argument(
        "--trust-pickle",
        action="store_true",
        help="import: allow arbitrary unpickling (only for files you trust)",
    )
    args = p.parse_args(argv)
    try:
        if args.from_nanogpt:
            model, ckpt = load_nanogpt(args.from_nanogpt, args.trust_pickle)
            step = int(ckpt.get("iter_num", 0) or 0)
            tok = _tokenizer_for(model.config.vocab_size, args.tokenizer)
            train = {"converted_from": str(args.from_nanogpt)}
            path = save_checkpoint(args.out, step, model, train, tok)
            print(f"wrote {path}", file=sys.stderr)
        else:
            ours = load_checkpoint(args.to_nanogpt)
            model = ours.load_model()
            out = Path(args.out)
            out.parent.mkdir(parents=True, exist_ok=True)
            torch.save(to_nanogpt(model, ours.step, ours.train_config), out)
            print(f"wrote {out}", file=sys.stderr)
    except (ConvertError, CheckpointError, FileNotFoundError) as e:
        print(f"chessformer convert: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
