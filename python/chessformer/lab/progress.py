"""The lab's progress display: games, plies a second, results so far (tqdm, on stderr)."""

from __future__ import annotations

import sys
import time

from tqdm import tqdm

__all__ = ["Progress"]


class Progress:
    """A bar over games; ``plies`` counts moves for the speed shown beside it."""

    def __init__(self, total: int, done: int, unit: str = "games", *, enabled: bool = True):
        self._bar = tqdm(
            total=total,
            initial=done,
            unit=unit[:-1] if unit.endswith("s") else unit,
            file=sys.stderr,
            disable=not enabled,
            dynamic_ncols=True,
            mininterval=0.5,
        )
        self._plies = 0
        self._start = time.monotonic()
        self._wdl = [0, 0, 0]

    def plies(self, n: int) -> None:
        self._plies += n

    def game(self, result: str) -> None:
        self._wdl[{"1-0": 0, "1/2-1/2": 1}.get(result, 2)] += 1
        rate = self._plies / max(1e-9, time.monotonic() - self._start)
        w, d, b = self._wdl
        self._bar.set_postfix_str(f"{rate:,.0f} plies/s  white +{w} ={d} -{b}", refresh=False)
        self._bar.update(1)

    @property
    def plies_per_second(self) -> float:
        return self._plies / max(1e-9, time.monotonic() - self._start)

    def close(self) -> None:
        self._bar.close()
