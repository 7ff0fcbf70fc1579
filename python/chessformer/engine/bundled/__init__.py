"""Models shipped inside the package.

``default_model_path()`` is the bundled default model (a run folder written by ``chessformer
train``), used by ``uci``, ``match``, ``play`` and ``demo`` when no model is given; it is None
until a bundled model is installed with the package. ``resolve_model(path)`` turns a user's
``--model`` argument (or None) into a path, with a clear error when there is nothing to load.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["default_model_path", "resolve_model"]

_HERE = Path(__file__).resolve().parent


def default_model_path() -> Path | None:
    """The bundled default model's folder, or None when the package ships none."""
    candidate = _HERE / "default"
    if (candidate / "latest").is_file() or (candidate / "config.json").is_file():
        return candidate
    return None


def resolve_model(path: str | os.PathLike[str] | None) -> Path:
    """``path`` if given (must exist), else the bundled default model."""
    if path:
        p = Path(path).expanduser()
        if not p.exists():
            raise FileNotFoundError(f"model {str(path)!r} does not exist")
        return p
    default = default_model_path()
    if default is None:
        raise FileNotFoundError(
            "no model given and this chessformer ships no bundled default model; "
            "pass --model RUN_DIR (a folder written by `chessformer train`) or a nanoGPT .pt file"
        )
    return default
