"""argparse ``type=`` functions shared by the command lines: bad values stop at parse time with
``error: argument --x: must be ..., got '...'`` instead of a traceback or a silently ignored filter.

    >>> import argparse
    >>> p = argparse.ArgumentParser()
    >>> _ = p.add_argument("--workers", type=int_at_least(1))
    >>> _ = p.add_argument("--temps", type=number_list(at_least=0.0))
    >>> p.parse_args(["--workers", "2", "--temps", "0.001,0.5,1"])
    Namespace(workers=2, temps=(0.001, 0.5, 1.0))
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import TypeVar

_T = TypeVar("_T")

__all__ = [
    "csv_strings",
    "fraction",
    "int_at_least",
    "int_list",
    "number_list",
    "number_where",
    "positive_number",
]


def int_at_least(lo: int) -> Callable[[str], int]:
    """An integer >= ``lo``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if value < lo:
            raise argparse.ArgumentTypeError(f"must be an integer >= {lo}, got {text!r}")
        return value

    return parse


def number_where(ok: Callable[[float], bool], rule: str) -> Callable[[str], float]:
    """A number for which ``ok`` holds (``rule`` says which, for the error message)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not ok(value):
            raise argparse.ArgumentTypeError(f"must be {rule}, got {text!r}")
        return value

    return parse


positive_number = number_where(lambda v: math.isfinite(v) and v > 0, "a finite number > 0")
fraction = number_where(lambda v: 0.0 <= v <= 1.0, "in [0, 1]")  # (NaN fails too)


def csv_strings(text: str) -> tuple[str, ...]:
    """``a, b,c`` -> ``("a", "b", "c")`` (blank items dropped)."""
    return tuple(x.strip() for x in text.split(",") if x.strip())


def _list_of(convert: Callable[[str], _T], kind: str, text: str) -> tuple[_T, ...]:
    try:
        vals = tuple(convert(x) for x in csv_strings(text))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a comma-separated list of {kind}: {text!r}"
        ) from None
    return vals


def number_list(at_least: float = -math.inf) -> Callable[[str], tuple[float, ...]]:
    """A non-empty comma-separated list of finite numbers, each >= ``at_least``."""

    def parse(text: str) -> tuple[float, ...]:
        vals = _list_of(float, "numbers", text)
        if not vals or any(not math.isfinite(v) or v < at_least for v in vals):
            rule = "finite numbers" if at_least == -math.inf else f"numbers >= {at_least:g}"
            raise argparse.ArgumentTypeError(f"need {rule}: {text!r}")
        return vals

    return parse


def int_list(text: str) -> tuple[int, ...]:
    """A non-empty comma-separated list of integers."""
    vals = _list_of(int, "integers", text)
    if not vals:
        raise argparse.ArgumentTypeError(f"empty list: {text!r}")
    return vals
