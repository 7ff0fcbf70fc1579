"""Files written whole or not at all, and versioned JSON files read back with clear errors.

Every result, record and dataset file chessformer writes goes through `replacing` (or its
shorthands `write_atomic` and `write_json`): the data goes to a temporary file beside the target
(``.NAME.<pid>-<random>.tmp``, `TEMP_GLOB`), is fsynced, and is renamed over the target, so a
crash or a kill leaves the old file or the new one, never part of one.

`read_versioned_json` reads a file that names its format and version (``{"format": ...,
"format_version": ...}``: dataset manifests, checkpoints, prep's progress, match folders) and
raises the caller's error class with a message naming the file and the rule broken.
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = [
    "TEMP_GLOB",
    "fsync_path",
    "read_json",
    "read_versioned_json",
    "replacing",
    "write_atomic",
    "write_json",
]

TEMP_GLOB = ".*.tmp"  # what `replacing` leaves behind after a kill (safe to delete on restart)


def fsync_path(path: str | os.PathLike[str]) -> None:
    """fsync a file or a folder (a folder: so that a rename inside it survives a power cut)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def replacing(path: str | os.PathLike[str], *, durable: bool = True) -> Iterator[Path]:
    """A fresh temporary path beside ``path`` to write. When the block ends without an error
    the file is fsynced (``durable``) and renamed over ``path``; otherwise it is removed, and
    ``path`` is untouched. The file gets the permissions ``open()`` would give it."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")
    try:
        yield tmp
        if durable:
            fsync_path(tmp)
        os.replace(tmp, path)
        if durable:
            fsync_path(path.parent)
    finally:
        tmp.unlink(missing_ok=True)


def write_atomic(path: str | os.PathLike[str], data: str | bytes) -> None:
    """Write ``data`` (text as UTF-8) to ``path`` whole or not at all."""
    with replacing(path) as tmp:
        if isinstance(data, str):
            tmp.write_text(data, encoding="utf-8")
        else:
            tmp.write_bytes(data)


def write_json(
    path: str | os.PathLike[str], obj: Any, *, indent: int | None = 2, allow_nan: bool = False
) -> None:
    """``obj`` as JSON plus a newline, written atomically; strict (no NaN or Infinity) unless
    ``allow_nan``."""
    write_atomic(path, json.dumps(obj, indent=indent, allow_nan=allow_nan) + "\n")


def read_json(path: str | os.PathLike[str], error: type[Exception] = ValueError) -> Any:
    """The JSON value in ``path``; ``error`` naming the file when it is missing, a folder,
    unreadable, not UTF-8 or not JSON."""
    try:
        return json.loads(Path(path).read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise error(f"{path}: not found") from None
    except IsADirectoryError:
        raise error(f"{path} is a folder, not a file") from None
    except OSError as e:
        raise error(f"{path} cannot be read ({e.strerror or e})") from None
    except UnicodeDecodeError:
        raise error(f"{path} is not UTF-8 text") from None
    except json.JSONDecodeError as e:
        raise error(f"{path} is not valid JSON ({e})") from None
    except RecursionError:  # e.g. 100,000 nested brackets
        raise error(f"{path} is not valid JSON (nested too deeply)") from None


def read_versioned_json(
    path: str | os.PathLike[str],
    format_name: str,
    version: int,
    error: type[Exception] = ValueError,
) -> dict[str, Any]:
    """The JSON object in ``path``, checked to say ``"format": format_name`` and
    ``"format_version": version``; otherwise ``error`` naming the file and what it says."""
    obj = read_json(path, error)
    found = obj.get("format") if isinstance(obj, dict) else None
    if found != format_name:
        raise error(f"{path}: format is {found!r}, expected {format_name!r}")
    if obj.get("format_version") != version:
        raise error(
            f"{path}: format_version {obj.get('format_version')!r} is not supported "
            f"(this reader knows {version})"
        )
    return dict(obj)
