"""The options `chessformer uci` declares, and the value a ``setoption`` line gives one of them.

What a new value changes in the running engine (a reseed, a reload, a rebuilt board) is the
engine's business: chessformer.engine.uci.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from chessformer.engine.protocol import Option, parse_setoption
from chessformer.engine.textio import shown

__all__ = ["MAX_MULTIPV", "engine_options", "path_missing", "set_option"]

MAX_MULTIPV = 20


def engine_options(model: str | None) -> dict[str, Option]:
    """The options by lower-case name (UCI names are case-insensitive), in the order ``uci``
    declares them; ``model`` is ModelPath's default."""
    ncpu = os.cpu_count() or 1
    options = [
        Option(
            "ModelPath",
            "string",
            model or "",
            help="run folder or nanoGPT .pt; empty: the bundled default model",
            path=True,
        ),
        Option(
            "Temperature",
            "string",
            "0.001",
            help="sampling temperature, 0 = argmax",
            number=(0, 100),
        ),
        Option("Seed", "spin", 0, 0, 2**31 - 1),
        Option("Device", "combo", "auto", choices=("auto", "cpu", "cuda")),
        Option("Threads", "spin", 1, 1, max(1, ncpu)),
        Option("MultiPV", "spin", 1, 1, MAX_MULTIPV),
        Option("Decoding", "combo", "masked", choices=("masked", "paper")),
        Option("UCI_LimitStrength", "check", False),
        Option("UCI_Elo", "spin", 1500, 100, 3000),
        Option("UCI_Chess960", "check", False),
        Option("Ponder", "check", False),
        Option("UCI_ShowWDL", "check", False),
    ]
    return {o.name.lower(): o for o in options}


def set_option(options: dict[str, Option], values: dict[str, Any], line: str) -> str:
    """Store the value of the ``setoption`` ``line`` in ``values`` and return the option's key;
    ValueError (values unchanged) says what is wrong with the line, the name or the value."""
    name, value = parse_setoption(line)
    opt = options.get(name.lower())
    if opt is None:
        raise ValueError(f"unknown option {shown(name)}")
    key = opt.name.lower()
    values[key] = opt.parse(value)
    return key


def path_missing(path: str) -> bool:
    """Whether ``path`` names nothing (a name too long or with a NUL byte names nothing)."""
    try:
        return not Path(path).expanduser().exists()
    except (OSError, ValueError):
        return True
