"""Lines in and out of the interactive commands (`uci`, `play`), whatever bytes arrive.

A GUI or a terminal may send any bytes: invalid UTF-8, NUL, escape sequences, a megabyte without a
newline. Input is read as bytes from ``stdin.buffer`` in lines of at most `MAX_LINE` bytes
(a longer line is skipped, counted, and never held in memory whole) and decoded as UTF-8 with
``surrogateescape``, in every locale: an invalid byte becomes a lone surrogate that no command
matches (so the line is reported, not fatal), and that still maps back to the same byte when the
text is a path (`os_path`: a ``ModelPath`` that is not UTF-8 opens the file it names).

Output is UTF-8 whatever the locale; what the user sent is echoed only through `shown` (a cut,
escaped ``repr``) and every line passes `printable` (invalid bytes as ``\\xNN``, control characters
escaped), so no echo can be long, break a line or carry a terminal escape.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

MAX_LINE = 1 << 20  # bytes; the longest possible game in a `position` line is ~60 KB
ECHO_CHARS = 60  # at most this much of an input is quoted back in a message
_REPR_ESCAPED_BYTE = re.compile(r"\\udc([89a-f][0-9a-f])")


@dataclass(frozen=True)
class LongLine:
    """An input line longer than `MAX_LINE` bytes, skipped; ``size`` its length in bytes."""

    size: int


def input_lines(stream: BinaryIO, max_line: int = MAX_LINE) -> Iterator[str | LongLine]:
    """The lines of ``stream`` (decoded, newline kept) or `LongLine` for each one too long,
    which is read past in pieces: memory stays bounded by ``max_line`` whatever the input."""
    while True:
        raw = stream.readline(max_line + 1)
        if not raw:
            return
        if len(raw) <= max_line or raw.endswith(b"\n"):
            yield raw.decode("utf-8", "surrogateescape")
            continue
        size = len(raw)
        while not raw.endswith(b"\n"):
            raw = stream.readline(1 << 16)
            if not raw:
                break
            size += len(raw)
        yield LongLine(size)


def printable(text: str) -> str:
    """``text`` safe to write as one line: bytes that were not UTF-8 as ``\\xNN``, control and
    other unprintable characters escaped the way ``repr`` does."""
    try:
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a lone surrogate that did not come from a byte
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    # a repr() made deeper down (an exception naming a path) shows such a byte as \\udcNN
    text = _REPR_ESCAPED_BYTE.sub(r"\\x\1", text)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def shown(text: str, limit: int = ECHO_CHARS) -> str:
    """``text`` quoted for a message like ``repr`` does (bytes that were not UTF-8 as ``\\xNN``),
    cut to ``limit`` characters with the full length said: echoing what a user sent costs at
    most a line."""
    body = "".join(_quoted(c) for c in text[:limit])
    return f"'{body}'" if len(text) <= limit else f"'{body}...' ({len(text)} characters)"


def _quoted(c: str) -> str:
    if "\udc80" <= c <= "\udcff":  # a byte that was not UTF-8 (surrogateescape)
        return f"\\x{ord(c) - 0xDC00:02x}"
    if c in "'\\":
        return "\\" + c
    return c if c.isprintable() else printable(c)


def os_path(text: str) -> str:
    """The path the bytes of ``text`` (as read by `input_lines`) name, in the file system's own
    encoding whatever the locale: a name that is not UTF-8 still opens the file it names."""
    return os.fsdecode(text.encode("utf-8", "surrogateescape"))


def utf8_stdout() -> None:
    """Make ``sys.stdout`` write UTF-8 (escaping what cannot be encoded) in every locale."""
    reconfigure = getattr(sys.stdout, "reconfigure", None)
    if reconfigure is not None:
        reconfigure(encoding="utf-8", errors="backslashreplace")
