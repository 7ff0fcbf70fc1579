"""One progress display for the long-running commands (prep, match, train).

On a terminal it is a tqdm bar on stderr, redrawn in place. When stderr is not a terminal (a log
file, a pipe, CI), tqdm's carriage-return redraws would pile up into one endless line, so the same
numbers are written as a plain line every ``log_every`` seconds and once at the end:

    prep: 1.2 GB | 31.4 MB/s | elapsed 0:00:38 | 1,234,567 games, kept 1,001,234

`message` prints a line above the bar without tangling with it. ``enabled=False`` shows nothing
but messages.
"""

from __future__ import annotations

import math
import sys
import time
from typing import Any, TextIO

__all__ = ["Progress"]


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def _clock(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def _scaled(x: float, unit: str) -> str:
    """1234567 B -> '1.2 MB' (decimal prefixes, as tqdm's unit_scale)."""
    for prefix in ("", "k", "M", "G", "T"):
        if abs(x) < 999.5:
            return f"{x:.3g} {prefix}{unit}" if prefix else f"{x:,.0f} {unit}"
        x /= 1000
    return f"{x:.3g} P{unit}"


class Progress:
    """Progress towards ``total`` (None: unknown) counted in ``unit``; see the module docstring.

    ``unit_scale`` shows counts with k/M/G prefixes (for bytes). ``initial`` is where a resumed
    run starts: rates and the ETA count only this session's progress.
    """

    def __init__(
        self,
        total: float | None,
        *,
        desc: str,
        unit: str = "it",
        unit_scale: bool = False,
        initial: float = 0,
        enabled: bool = True,
        stream: TextIO | None = None,
        log_every: float = 10.0,
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.total, self.desc, self.unit, self.unit_scale = total, desc, unit, unit_scale
        self.n = self._n0 = initial
        self.postfix = ""
        self.enabled, self.log_every = enabled, log_every
        self.tty = enabled and _isatty(self.stream)
        self._t0, self._last = time.monotonic(), -math.inf
        self._bar: Any = None
        self._logged: tuple[float, str] | None = None  # (n, postfix) of the last line logged
        if self.tty:
            from tqdm import tqdm

            self._bar = tqdm(
                total=total,
                initial=initial,
                desc=desc,
                unit=unit,
                unit_scale=unit_scale,
                file=self.stream,
                dynamic_ncols=True,
                mininterval=0.2,
                leave=True,
            )

    def update(self, n: float = 1, postfix: str | None = None) -> None:
        """Advance by ``n`` (and replace the text after the numbers)."""
        self.set(self.n + n, postfix)

    def set(self, n: float, postfix: str | None = None, *, force: bool = False) -> None:
        """Progress is now ``n`` (and the text after the numbers ``postfix``); ``force`` redraws
        (or logs) now."""
        delta, self.n = n - self.n, n
        if postfix is not None:
            self.postfix = postfix
        if self._bar is not None:
            if postfix is not None:
                self._bar.set_postfix_str(postfix, refresh=False)
            self._bar.update(delta)
            if force:
                self._bar.refresh()
            return
        now = time.monotonic()
        if self.enabled and (force or now - self._last >= self.log_every):
            self._last = now
            self._log()

    def _log(self) -> None:
        self._logged = (self.n, self.postfix)
        self.stream.write(self.line() + "\n")
        self.stream.flush()

    def line(self) -> str:
        """The plain form: done (of total), rate, elapsed time and ETA, then the postfix."""
        elapsed = time.monotonic() - self._t0
        rate = (self.n - self._n0) / elapsed if elapsed > 0 else 0.0

        def count(x: float) -> str:
            return _scaled(x, self.unit) if self.unit_scale else f"{x:,.0f}"

        parts = [count(self.n) + (f"/{count(self.total)}" if self.total else "")]
        if self.total:
            parts[0] += f" ({100 * self.n / self.total:.0f}%)"
        if not self.unit_scale:
            parts[0] += f" {self.unit}"
        per_s = _scaled(rate, self.unit) if self.unit_scale else f"{rate:,.3g} {self.unit}"
        parts.append(f"{per_s}/s")
        eta = ""
        if self.total and rate > 0:
            eta = f", ETA {_clock(max(self.total - self.n, 0) / rate)}"
        parts.append(f"elapsed {_clock(elapsed)}{eta}")
        if self.postfix:
            parts.append(self.postfix)
        return f"{self.desc}: " + " | ".join(parts)

    def message(self, text: str) -> None:
        """A line of its own (above the bar on a terminal)."""
        if self._bar is not None:
            self._bar.write(text, file=self.stream)
        else:
            self.stream.write(text + "\n")
            self.stream.flush()

    def close(self) -> None:
        """Final state: the bar stays on screen; a log gets a last line."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        elif self.enabled and self._logged != (self.n, self.postfix):
            self._log()
        self.enabled = False
