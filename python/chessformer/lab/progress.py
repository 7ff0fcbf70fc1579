"""The lab's progress display: games done, plies a second, results so far."""

from __future__ import annotations

import time

from chessformer._progress import Progress

__all__ = ["GameProgress"]


class GameProgress:
    """A bar over games; ``plies`` counts moves for the speed shown beside it."""

    def __init__(self, total: int, done: int, *, desc: str = "games", enabled: bool = True):
        self._bar = Progress(total, desc=desc, unit="games", initial=done, enabled=enabled)
        self._plies = 0
        self._start = time.monotonic()
        self._wdl = [0, 0, 0]

    def plies(self, n: int) -> None:
        self._plies += n

    @property
    def plies_per_second(self) -> float:
        return self._plies / max(1e-9, time.monotonic() - self._start)

    def game(self, result: str) -> None:
        self._wdl[{"1-0": 0, "1/2-1/2": 1}.get(result, 2)] += 1
        w, d, b = self._wdl
        self._bar.update(1, f"{self.plies_per_second:,.0f} plies/s | white +{w} ={d} -{b}")

    def close(self) -> None:
        self._bar.close()
