"""Training checkpoints: one folder per saved step, written atomically, loaded without pickle.

Layout (``RUN_DIR/ckpt-0001000/``)::

    model.safetensors   weights (tied lm_head.weight omitted: it is transformer.wte.weight)
    config.json         format/version, step, model config, train config, tokenizer info
    optimizer.pt        AdamW state_dict (tensors, numbers, lists only; read with weights_only=True)
    state.json          step, tokens seen, each rank's data-stream position

``RUN_DIR/latest`` holds the name of the newest complete checkpoint. A checkpoint is written into
``RUN_DIR/.tmp-*``, every file and the folder fsynced, then renamed into place; ``latest`` is
replaced the same way. A crash at any point leaves the previous checkpoint and pointer intact.

Nothing here unpickles arbitrary objects: safetensors and JSON are data only, and the optimizer file
goes through ``torch.load(weights_only=True)``, which refuses anything but tensors and primitives.

Nothing is built from a file's word alone either: a model config read from a file must hold integer
sizes within `CONFIG_LIMITS`, and the weights actually present (their names and shapes, read from
the safetensors header without loading them) must be exactly the ones the config describes before
the model is allocated (`check_fits`). A config.json that claims a million layers over a tiny
weights file is refused in milliseconds instead of allocating gigabytes.
"""

from __future__ import annotations

import contextlib
import operator
import os
import pickle
import re
import shutil
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from chessformer._io import TEMP_GLOB, fsync_path, read_json, read_versioned_json, write_json
from chessformer.model.gpt import GPT, GPTConfig

FORMAT_NAME = "chessformer-checkpoint"
FORMAT_VERSION = 1
TIED_KEY = "lm_head.weight"  # equal to transformer.wte.weight; safetensors refuses shared storage
# Bounds on the sizes a model config read from a file may hold: far above any model this project
# trains (paper-50m: 16 layers, width 512, context 1023, vocabulary 1974), far below sizes whose
# mere bookkeeping would exhaust a machine. The weights present are checked exactly (check_fits).
CONFIG_LIMITS = {
    "vocab_size": 1 << 20,
    "block_size": 1 << 16,
    "n_layer": 1024,
    "n_head": 1024,
    "n_embd": 1 << 15,
}
_BLOCK_KEY = re.compile(r"transformer\.h\.(\d+)\.")


class CheckpointError(ValueError):
    """A checkpoint folder is missing, incomplete or of an unknown format/version."""


@dataclass
class Checkpoint:
    path: Path
    step: int
    model_config: GPTConfig
    train_config: dict[str, Any]
    tokenizer: dict[str, Any]
    state: dict[str, Any]  # state.json: data positions etc. ({} for converted checkpoints)

    def load_model(self, device: str | torch.device = "cpu") -> GPT:
        path = self.path / "model.safetensors"
        check_fits(self.model_config, safetensors_shapes(path), str(path))
        model = GPT(self.model_config)
        load_weights(model, path)
        return model.to(device)

    def load_optimizer_state(self, device: str | torch.device = "cpu") -> dict[str, Any] | None:
        path = self.path / "optimizer.pt"
        if not path.is_file():
            return None
        try:
            state: dict[str, Any] = torch.load(path, map_location=device, weights_only=True)
        except pickle.UnpicklingError as e:  # an object weights_only refuses: never run it
            raise CheckpointError(
                f"{path}: refused, it holds more than tensors and numbers "
                f"(possibly untrusted): {str(e).splitlines()[0]}"
            ) from None
        except (RuntimeError, EOFError, OSError) as e:
            raise CheckpointError(f"{path}: not a readable optimizer state: {e}") from None
        return state


def model_state(model: GPT) -> dict[str, torch.Tensor]:
    """The model's weights as plain, contiguous CPU tensors, tied head omitted."""
    return {
        k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items() if k != TIED_KEY
    }


def config_from_record(record: Any, where: str) -> GPTConfig:
    """A model config from a file's record (config.json's ``model``, nanoGPT's ``model_args``),
    checked before anything is built from it: every size an integer in 1..its `CONFIG_LIMITS`
    bound, ``dropout`` a number in [0, 1), ``bias`` true or false. ``where`` names the file."""
    if not isinstance(record, Mapping):
        raise CheckpointError(
            f"{where}: the model config is a {type(record).__name__}, not a mapping of sizes"
        )
    for name, bound in CONFIG_LIMITS.items():
        if name not in record:
            continue
        value = record[name]
        try:
            if isinstance(value, bool):
                raise TypeError
            number = operator.index(value)  # ints (numpy's too), never floats or strings
        except TypeError:
            raise CheckpointError(
                f"{where}: model {name} must be an integer, got {shorten(repr(value))}"
            ) from None
        if not 1 <= number <= bound:
            raise CheckpointError(
                f"{where}: model {name} is {shorten(str(number))}, outside 1..{bound}"
            )
    dropout = record.get("dropout", 0.0)
    if isinstance(dropout, bool) or not isinstance(dropout, int | float) or not 0 <= dropout < 1:
        raise CheckpointError(
            f"{where}: model dropout must be a number in [0, 1), got {shorten(repr(dropout))}"
        )
    if not isinstance(record.get("bias", False), bool):
        raise CheckpointError(
            f"{where}: model bias must be true or false, got {shorten(repr(record['bias']))}"
        )
    try:
        return GPTConfig.from_json({k: v for k, v in record.items() if isinstance(k, str)})
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{where}: bad model config: {e}") from None


def shorten(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


@contextlib.contextmanager
def _rust_path(path: Path) -> Iterator[str]:
    """A path safetensors (Rust, UTF-8 paths only) can open: ``path`` itself, or for a file
    name that is not UTF-8 (legal on POSIX) the same file through ``/dev/fd``."""
    try:
        text = str(path).encode("utf-8").decode("utf-8")
    except UnicodeEncodeError:
        fd = os.open(path, os.O_RDONLY)
        try:
            yield f"/dev/fd/{fd}"
        finally:
            os.close(fd)
    else:
        yield text


def safetensors_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """The name and shape of every tensor in a safetensors file, from its header only (which
    safetensors checks against the bytes present: each shape is backed by its data)."""
    try:
        with _rust_path(path) as where, safe_open(where, framework="pt") as f:
            return {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}  # noqa: SIM118
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{path}: not a readable safetensors file: {e}") from None


def check_fits(cfg: GPTConfig, shapes: Mapping[str, Sequence[int]], where: str) -> None:
    """Refuse weights that are not exactly the ones ``cfg`` describes -- before the model is
    allocated, so a config that overstates a size costs nothing: the blocks present must be
    ``n_layer``, and every tensor must have the shape the config gives it (the expected shapes
    come from the model built on the ``meta`` device, which allocates no memory)."""
    layers = {int(m.group(1)) for k in shapes if (m := _BLOCK_KEY.match(k))}
    if layers != set(range(cfg.n_layer)):
        gaps = "" if layers == set(range(len(layers))) else " (not numbered 0, 1, ...)"
        raise CheckpointError(
            f"{where}: the model config says n_layer={cfg.n_layer} but the weights hold "
            f"{len(layers)} blocks{gaps}"
        )
    with torch.device("meta"):
        meta = GPT(cfg)
    expected = {k: tuple(v.shape) for k, v in meta.state_dict().items()}
    missing = [k for k in expected if k not in shapes and k != TIED_KEY]
    unexpected = [k for k in shapes if k not in expected]
    wrong = [
        f"{k} is {tuple(shapes[k])}, the config makes {expected[k]}"
        for k in expected
        if k in shapes and tuple(shapes[k]) != expected[k]
    ]
    problems = [f"missing {_listed(missing)}"] if missing else []
    problems += [f"unexpected {_listed(unexpected)}"] if unexpected else []
    problems += [_listed(wrong)] if wrong else []
    if problems:
        c = cfg
        raise CheckpointError(
            f"{where}: the weights do not fit the model config (vocab_size={c.vocab_size}, "
            f"block_size={c.block_size}, n_layer={c.n_layer}, n_head={c.n_head}, "
            f"n_embd={c.n_embd}, bias={c.bias}): " + "; ".join(problems)
        )


def _listed(items: list[str], shown: int = 3) -> str:
    more = f" and {len(items) - shown} more" if len(items) > shown else ""
    return ", ".join(shorten(i, 120) for i in items[:shown]) + more


def load_weights(model: GPT, path: Path) -> None:
    try:
        with _rust_path(path) as where:
            sd = load_file(where)
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{path}: not a readable safetensors file: {e}") from None
    missing, unexpected = model.load_state_dict(sd, strict=False)
    missing = [k for k in missing if k != TIED_KEY]
    if missing or unexpected:
        raise CheckpointError(
            f"{path}: weights do not fit the model config: "
            f"missing {missing}, unexpected {unexpected}"
        )


def _write_optimizer(path: Path, state: dict[str, Any]) -> None:
    with open(path, "wb") as f:
        torch.save(state, f)
        f.flush()
        os.fsync(f.fileno())


def save_checkpoint(
    run_dir: str | os.PathLike[str],
    step: int,
    model: GPT,
    train_config: dict[str, Any],
    tokenizer: dict[str, Any],
    optimizer_state: dict[str, Any] | None = None,
    state: dict[str, Any] | None = None,
    keep_last: int = 0,
) -> Path:
    """Write ``RUN_DIR/ckpt-{step:07d}`` atomically and point ``latest`` at it.

    ``keep_last`` > 0 deletes all but that many newest checkpoints afterwards.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    _restore_moved_aside(run_dir)
    # left by a crashed writer; only rank 0 writes here
    for stale in [*run_dir.glob(".tmp-*"), *run_dir.glob(TEMP_GLOB)]:
        if stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)
        else:
            stale.unlink(missing_ok=True)
    name = f"ckpt-{step:07d}"
    tmp = run_dir / f".tmp-{name}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    save_file(model_state(model), str(tmp / "model.safetensors"), metadata={"format": "pt"})
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp / "model.safetensors", 0o666 & ~umask)  # safetensors writes 0600; match the rest
    fsync_path(tmp / "model.safetensors")
    write_json(
        tmp / "config.json",
        {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "step": step,
            "model": model.config.to_json(),
            "train": train_config,
            "tokenizer": tokenizer,
        },
        allow_nan=True,  # a diverged run's numbers are still recorded
    )
    if optimizer_state is not None:
        _write_optimizer(tmp / "optimizer.pt", optimizer_state)
    write_json(tmp / "state.json", {"step": step, **(state or {})}, allow_nan=True)
    fsync_path(tmp)

    final = run_dir / name
    if final.exists():  # re-saving a step (e.g. after a resume): move the old copy aside first
        old = run_dir / f".tmp-old-{name}-{uuid.uuid4().hex[:8]}"
        final.rename(old)
        tmp.rename(final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        tmp.rename(final)
    write_json(run_dir / "latest", name)  # replaced atomically, the folder fsynced

    if keep_last > 0:
        for old_ckpt in sorted(run_dir.glob("ckpt-*"))[:-keep_last]:
            if old_ckpt.name != name:
                shutil.rmtree(old_ckpt, ignore_errors=True)
    return final


def _restore_moved_aside(run_dir: Path) -> None:
    """Undo a re-save that a crash cut between its two renames: ``ckpt-N`` moved aside to
    ``.tmp-old-ckpt-N-*`` and the new copy not yet in place. The old copy goes back (``latest``
    may point at it); a leftover whose checkpoint exists again is only stale."""
    for old in sorted(run_dir.glob(".tmp-old-ckpt-*")):
        name = old.name[len(".tmp-old-") :].rsplit("-", 1)[0]
        if old.is_dir() and not (run_dir / name).exists() and (old / "config.json").is_file():
            old.rename(run_dir / name)


def resolve(path: str | os.PathLike[str]) -> Path:
    """A checkpoint folder from itself or from a run folder (through ``latest``)."""
    path = Path(path)
    if (path / "config.json").is_file():
        return path
    pointer = path / "latest"
    if pointer.is_file():
        name = read_json(pointer, CheckpointError)
        if not isinstance(name, str) or "/" in name or name.startswith(".") or not name:
            raise CheckpointError(f"{pointer}: bad checkpoint name {shorten(repr(name))}")
        if not (path / name).exists():
            _restore_moved_aside(path)
        return path / name
    raise CheckpointError(f"{path}: neither a checkpoint (no config.json) nor a run (no latest)")


def has_checkpoint(run_dir: str | os.PathLike[str]) -> bool:
    return (Path(run_dir) / "latest").is_file()


def load_checkpoint(path: str | os.PathLike[str]) -> Checkpoint:
    """Read a checkpoint's metadata (config.json, state.json); weights load on demand."""
    ckpt = resolve(path)
    cpath = ckpt / "config.json"
    if not cpath.exists():
        raise CheckpointError(f"{cpath}: not found (incomplete checkpoint?)")
    meta = read_versioned_json(cpath, FORMAT_NAME, FORMAT_VERSION, CheckpointError)
    if "model" not in meta:
        raise CheckpointError(f"{cpath}: has no model config (the 'model' entry)")
    model_config = config_from_record(meta["model"], str(cpath))
    step = meta.get("step", 0)
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise CheckpointError(f"{cpath}: step must be an integer >= 0, got {shorten(repr(step))}")
    for key in ("train", "tokenizer"):
        if not isinstance(meta.get(key) or {}, dict):
            raise CheckpointError(f"{cpath}: '{key}' must be a JSON object")
    if not (ckpt / "model.safetensors").is_file():
        raise CheckpointError(f"{ckpt / 'model.safetensors'}: not found")
    spath = ckpt / "state.json"
    state = read_json(spath, CheckpointError) if spath.is_file() else {}
    if not isinstance(state, dict):
        raise CheckpointError(f"{spath}: holds a {type(state).__name__}, not a JSON object")
    return Checkpoint(
        ckpt, step, model_config, meta.get("train") or {}, meta.get("tokenizer") or {}, state
    )


def load_model(
    path: str | os.PathLike[str], device: str | torch.device = "cpu"
) -> tuple[GPT, dict[str, Any]]:
    """A model and its tokenizer record from a run folder, a checkpoint folder, or a nanoGPT
    ``.pt`` file (its tokenizer: the one ``chessformer convert --to-nanogpt`` recorded, else
    guessed from vocab_size: 32 -> char, 1974 -> move), for inference."""
    p = Path(path)
    if p.is_file():
        from chessformer.model.convert import ConvertError, load_nanogpt, nanogpt_tokenizer

        model, raw = load_nanogpt(p)
        try:
            tokenizer = nanogpt_tokenizer(raw, model.config.vocab_size)
        except ConvertError as e:
            raise ConvertError(
                f"{p}: {e}; import it with `chessformer convert --from-nanogpt {p} --out DIR "
                "--tokenizer char|move` and use DIR as the model"
            ) from None
        return model.to(device), tokenizer
    ckpt = load_checkpoint(p)
    return ckpt.load_model(device), ckpt.tokenizer
