"""``chessformer convert``: nanoGPT checkpoints to and from chessformer checkpoints.

    chessformer convert --from-nanogpt ckpt.pt --out runs/paper-cf1000   # the paper's release
    chessformer convert --to-nanogpt runs/cf1000 --out cf1000-nanogpt.pt

An existing ``--out`` (a non-empty folder, a file) is refused unless ``--force`` is given.

A nanoGPT checkpoint is a ``torch.save``d dict with ``model_args`` (n_layer, n_head, n_embd,
block_size, bias, vocab_size) and ``model``, a state dict with nanoGPT's names — which are ours, so
the mapping only strips wrapper prefixes (``_orig_mod.`` from torch.compile, ``module.`` from DDP)
and drops the causal-mask buffers (``attn.bias`` of shape (1, 1, T, T)) old versions saved.

Loading uses ``torch.load(weights_only=True)``: tensors and primitives only. A file that holds other
objects (a pickled config class, numpy scalars) is refused unless ``--trust-pickle`` is given,
because unpickling runs arbitrary code from the file. A file that is not a ``torch.save`` file at
all (a PGN, an empty or truncated file) is refused with an error naming it, before any unpickling.

The tokenizer is not part of nanoGPT's format. Export records ours under an extra top-level key,
``chessformer_tokenizer`` (nanoGPT's scripts read only the keys they know, so they ignore it), and
import uses it; a file without it gets a guess from ``vocab_size``: 32 is the paper's character
vocabulary (``char``), 1974 the move vocabulary (``move``). ``--tokenizer`` overrides both.
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
import zipfile
from pathlib import Path
from typing import Any

import torch

from chessformer._io import replacing
from chessformer.data.tokenizers import TOKENIZERS, get_tokenizer
from chessformer.model.checkpoint import (
    CONFIG_LIMITS,
    CheckpointError,
    check_fits,
    config_from_record,
    load_checkpoint,
    save_checkpoint,
    shorten,
)
from chessformer.model.gpt import GPT, GPTConfig

WRAPPER_PREFIXES = ("_orig_mod.", "module.")
TOKENIZER_KEY = "chessformer_tokenizer"  # our extra top-level key in exported nanoGPT files
TOKENIZER_CHOICES = ("auto", "char", "move")
CHAR, MOVE = TOKENIZERS["char"], TOKENIZERS["move"]


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


def from_nanogpt_state(
    sd: Any, cfg: GPTConfig, where: str = "state dict"
) -> dict[str, torch.Tensor]:
    """Our state dict from a nanoGPT one (prefixes stripped, mask buffers dropped), checked to be
    exactly the weights ``cfg`` describes (`check_fits`) and tied."""
    if not isinstance(sd, dict):
        raise ConvertError(f"{where}: 'model' is a {type(sd).__name__}, not a state dict")
    out: dict[str, torch.Tensor] = {}
    for key, value in sd.items():
        if not isinstance(key, str):
            raise ConvertError(f"{where}: state dict key {shorten(repr(key))} is not a string")
        name = _strip(key)
        # nanoGPT without flash attention registered the causal mask as 'attn.bias' (1, 1, T, T)
        if name.endswith(".attn.bias") and getattr(value, "dim", lambda: 0)() == 4:
            continue
        if name.endswith(".attn.masked_bias"):  # HF GPT-2 leftovers
            continue
        if not isinstance(value, torch.Tensor):
            raise ConvertError(
                f"{where}: state dict entry {shorten(repr(key))} is a {type(value).__name__}, "
                "not a tensor"
            )
        out[name] = value
    try:
        check_fits(cfg, {k: tuple(v.shape) for k, v in out.items()}, where)
    except CheckpointError as e:
        raise ConvertError(str(e)) from None
    wte, head = out.get("transformer.wte.weight"), out.get("lm_head.weight")
    if wte is not None and head is not None and not torch.equal(wte, head):
        raise ConvertError(
            f"{where}: lm_head.weight differs from transformer.wte.weight: untied heads are "
            "not supported (nanoGPT ties them)"
        )
    return out


def config_from_model_args(args: Any, where: str = "model_args") -> GPTConfig:
    """The config of nanoGPT's ``model_args``: the five sizes required, each an integer within
    `CONFIG_LIMITS` (checked before anything is built)."""
    if not isinstance(args, dict):
        raise ConvertError(f"{where}: model_args is a {type(args).__name__}, not a dict")
    for key in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
        if key not in args:
            raise ConvertError(f"{where}: model_args lacks {key!r}: {shorten(repr(args), 300)}")
    record = {k: args[k] for k in (*CONFIG_LIMITS, "bias") if k in args}
    record["dropout"] = args.get("dropout", 0.0) or 0.0
    record["bias"] = bool(record.get("bias", False))
    try:
        return config_from_record(record, where)
    except CheckpointError as e:
        raise ConvertError(str(e)) from None


def _check_torch_file(path: str | Path) -> None:
    """Refuse a file that is not a ``torch.save`` file before torch's unpickler sees it: torch
    reports an empty file as a bare EOFError and a text file as a weights-only refusal."""
    p = Path(path)
    if p.is_dir():
        raise ConvertError(f"{path}: is a folder, not a nanoGPT checkpoint file (.pt)")
    with open(p, "rb") as f:  # FileNotFoundError names the file
        head = f.read(4)
    if not head:
        raise ConvertError(f"{path}: is empty, not a nanoGPT checkpoint")
    if zipfile.is_zipfile(p):  # torch's format since 1.6: a zip with <name>/data.pkl
        try:
            with zipfile.ZipFile(p) as z:
                names = z.namelist()
        except (zipfile.BadZipFile, OSError) as e:
            raise ConvertError(f"{path}: damaged zip archive: {e}") from None
        if not any(n.endswith("/data.pkl") for n in names):
            raise ConvertError(
                f"{path}: a zip archive but not a PyTorch checkpoint (no data.pkl inside)"
            )
        return
    if head.startswith(b"PK"):
        raise ConvertError(
            f"{path}: a truncated or damaged zip archive (torch.save's format): "
            "no readable table of contents"
        )
    if not head.startswith(b"\x80\x02"):  # torch's legacy format: pickle protocol 2 records
        raise ConvertError(
            f"{path}: not a PyTorch checkpoint (neither torch.save's zip format nor its legacy "
            f"pickle format; the file starts with {head!r})"
        )


def read_nanogpt(path: str | Path, trust_pickle: bool = False) -> dict[str, Any]:
    """The raw checkpoint dict; refuses anything but tensors/primitives unless trust_pickle."""
    _check_torch_file(path)
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=not trust_pickle)
    except pickle.UnpicklingError as e:
        raise ConvertError(
            f"{path}: holds objects other than tensors and plain values, so loading it would "
            "unpickle them, which can run arbitrary code from the file. If you trust where it came "
            f"from, rerun with --trust-pickle. (torch: {str(e).splitlines()[0]})"
        ) from None
    except (EOFError, RuntimeError, ValueError, OSError, zipfile.BadZipFile) as e:
        what = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ConvertError(f"{path}: unreadable PyTorch checkpoint (truncated?): {what}") from None
    if not isinstance(ckpt, dict) or "model" not in ckpt or "model_args" not in ckpt:
        raise ConvertError(
            f"{path}: not a nanoGPT checkpoint (expected a dict with 'model' and 'model_args')"
        )
    return ckpt


def load_nanogpt(path: str | Path, trust_pickle: bool = False) -> tuple[GPT, dict[str, Any]]:
    """A GPT with a nanoGPT checkpoint's weights, and the checkpoint's raw dict."""
    ckpt = read_nanogpt(path, trust_pickle)
    cfg = config_from_model_args(ckpt["model_args"], f"{path}: model_args")
    sd = from_nanogpt_state(ckpt["model"], cfg, str(path))  # checked before the model is built
    model = GPT(cfg)
    missing, unexpected = model.load_state_dict(sd, strict=False)
    missing = [k for k in missing if k != "lm_head.weight"]
    if missing or unexpected:
        raise ConvertError(
            f"{path}: weights do not fit model_args {ckpt['model_args']!r}: "
            f"missing {missing}, unexpected {unexpected}"
        )
    return model, ckpt


def to_nanogpt(
    model: GPT,
    iter_num: int = 0,
    config: dict[str, Any] | None = None,
    tokenizer: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A dict nanoGPT's sample.py (and our loader) reads: model_args, model, iter_num, config;
    ``tokenizer`` (our record) goes under TOKENIZER_KEY, a key nanoGPT does not read."""
    c = model.config
    if c.board_aware or c.value_head:
        raise ConvertError(
            f"cannot export a board-aware model (board_features={c.board_features!r}, "
            f"value_head={c.value_head}) to nanoGPT: nanoGPT's GPT has no board embedding or "
            "value head, so its sample.py would play a different model"
        )
    extra = {TOKENIZER_KEY: dict(tokenizer)} if tokenizer else {}
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
        **extra,
    }


def _tokenizer_for(vocab_size: int, name: str) -> dict[str, Any]:
    """Our tokenizer record for a model of ``vocab_size`` (``name``: char, move, or auto: guessed
    from the size). Raises ConvertError when the name is unknown, does not fit the size, or
    auto cannot guess."""
    if name not in TOKENIZER_CHOICES:
        raise ConvertError(
            f"tokenizer {name!r} is not supported for nanoGPT models; "
            f"use one of {', '.join(TOKENIZER_CHOICES)}"
        )
    if name == "auto":
        guesses = {CHAR.vocab_size: "char", MOVE.vocab_size: "move"}
        if vocab_size not in guesses:
            raise ConvertError(
                f"vocab_size {vocab_size} is neither the char vocabulary ({CHAR.vocab_size}) nor "
                f"the move vocabulary ({MOVE.vocab_size}) and the file records no tokenizer, so "
                "the tokenizer cannot be guessed"
            )
        name = guesses[vocab_size]
    if name == "char":
        if vocab_size != CHAR.vocab_size:
            raise ConvertError(
                f"tokenizer char needs vocab_size {CHAR.vocab_size}, the model has {vocab_size}"
            )
        return CHAR.info()
    if vocab_size < MOVE.vocab_size:
        raise ConvertError(
            f"tokenizer move needs vocab_size >= {MOVE.vocab_size}, the model has {vocab_size}"
        )
    return {**MOVE.info(), "vocab_size": vocab_size}


def nanogpt_tokenizer(ckpt: dict[str, Any], vocab_size: int, name: str = "auto") -> dict[str, Any]:
    """The tokenizer record of a nanoGPT checkpoint dict: ``name`` if not auto, else the one our
    export recorded (TOKENIZER_KEY), else a guess from ``vocab_size``."""
    recorded = ckpt.get(TOKENIZER_KEY)
    if name == "auto" and recorded is not None:
        if not isinstance(recorded, dict) or not isinstance(recorded.get("name"), str):
            raise ConvertError(f"{TOKENIZER_KEY} entry is not a tokenizer record: {recorded!r}")
        if recorded["name"] not in ("char", "move"):
            raise ConvertError(
                f"{TOKENIZER_KEY} names tokenizer {recorded['name']!r}; "
                "only char and move models can be imported"
            )
        try:
            get_tokenizer(recorded)  # its version and token format are ours
        except ValueError as e:
            raise ConvertError(f"{TOKENIZER_KEY}: {e}") from None
        return {**_tokenizer_for(vocab_size, recorded["name"]), **recorded}
    return _tokenizer_for(vocab_size, name)


def _json_config(config: Any) -> dict[str, Any]:
    """The JSON-serialisable entries of a nanoGPT checkpoint's ``config`` (its training globals;
    our export stores our train config there), kept as the imported checkpoint's train config."""
    if not isinstance(config, dict):
        return {}
    out: dict[str, Any] = {}
    for k, v in config.items():
        try:
            json.dumps(v)
        except (TypeError, ValueError):
            continue
        out[str(k)] = v
    return out


def _check_out(out: Path, importing: bool, force: bool) -> None:
    """Refuse an ``--out`` that holds something already, unless ``force``: an import writes a run
    folder (an existing non-empty folder would get a new checkpoint and its ``latest`` moved), an
    export one file (an existing file would be replaced)."""
    if importing:
        if out.exists() and not out.is_dir():
            raise ConvertError(f"--out {out}: is a file; an import writes a run folder")
        if out.is_dir() and any(out.iterdir()) and not force:
            raise ConvertError(
                f"--out {out}: folder exists and is not empty; pass --force to add the converted "
                "checkpoint to it (its 'latest' then points at the new one)"
            )
    else:
        if out.is_dir():
            raise ConvertError(f"--out {out}: is a folder; an export writes one .pt file")
        if out.exists() and not force:
            raise ConvertError(f"--out {out}: file exists; pass --force to replace it")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="chessformer convert", description=__doc__.split("\n\n")[0])
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--from-nanogpt", metavar="PT", help="nanoGPT checkpoint file to import")
    src.add_argument(
        "--to-nanogpt", metavar="CKPT", help="our checkpoint (or run folder) to export"
    )
    p.add_argument("--out", required=True, help="run folder (import) or .pt file (export)")
    p.add_argument(
        "--tokenizer",
        default="auto",
        choices=TOKENIZER_CHOICES,
        help="import: auto (the tokenizer the file records, else by vocab_size: "
        f"{CHAR.vocab_size} -> char, {MOVE.vocab_size} -> move), char or move",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="write over an existing --out (import: a non-empty folder gets the converted "
        "checkpoint beside what it holds; export: the file is replaced)",
    )
    p.add_argument(
        "--trust-pickle",
        action="store_true",
        help="import: allow arbitrary unpickling (only for files you trust)",
    )
    args = p.parse_args(argv)
    try:
        _check_out(Path(args.out), importing=bool(args.from_nanogpt), force=args.force)
        if args.from_nanogpt:
            model, ckpt = load_nanogpt(args.from_nanogpt, args.trust_pickle)
            step = int(ckpt.get("iter_num", 0) or 0)
            try:
                tok = nanogpt_tokenizer(ckpt, model.config.vocab_size, args.tokenizer)
            except ConvertError as e:
                hint = "; pass --tokenizer char|move" if args.tokenizer == "auto" else ""
                raise ConvertError(f"{args.from_nanogpt}: {e}{hint}") from None
            train = _json_config(ckpt.get("config"))
            train["converted_from"] = str(args.from_nanogpt)
            path = save_checkpoint(args.out, step, model, train, tok)
            print(f"wrote {path}", file=sys.stderr)
        else:
            ours = load_checkpoint(args.to_nanogpt)
            model = ours.load_model()
            out = Path(args.out)
            out.parent.mkdir(parents=True, exist_ok=True)
            with replacing(out) as tmp:  # a crash never leaves a half file at --out
                torch.save(to_nanogpt(model, ours.step, ours.train_config, ours.tokenizer), tmp)
            print(f"wrote {out}", file=sys.stderr)
    except (ConvertError, CheckpointError, OSError) as e:
        print(f"chessformer convert: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
