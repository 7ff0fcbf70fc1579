"""chessformer: transformers trained on human chess games, from PGN dumps to a UCI engine.

The chess core is C++ (``chessformer._core``); names are loaded lazily so that light-weight
modules (ratings, the CLI's help) import without touching the extension or torch.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "Board": "chessformer.board",
    "Move": "chessformer.board",
    "Outcome": "chessformer.board",
    "Termination": "chessformer.board",
    "InvalidFenError": "chessformer.board",
    "IllegalMoveError": "chessformer.board",
    "AmbiguousMoveError": "chessformer.board",
    "STARTING_FEN": "chessformer.board",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'chessformer' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
