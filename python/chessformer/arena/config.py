"""A match's configuration: everything that decides its games, as stored in ``match.json``."""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass, field
from typing import Any

from chessformer.arena.adjudication import PAPER_MAX_MOVES, Rules
from chessformer.arena.stockfish import Limit

__all__ = [
    "PAPER_LEVELS",
    "PAPER_MAX_MOVES",
    "PAPER_MOVETIME",
    "PAPER_TEMPERATURES",
    "MatchConfig",
    "MatchConfigError",
]

PAPER_TEMPERATURES = (0.001, 0.01, 0.1, 0.3, 0.5, 0.75, 1.0, 1.5)
PAPER_LEVELS = (1, 3, 5)
PAPER_MOVETIME = 0.1  # seconds per Stockfish move


class MatchConfigError(ValueError):
    """A match directory's configuration does not match the command, or a bad option value."""


@dataclass(frozen=True)
class MatchConfig:
    """Everything that decides the games. ``temperatures`` and ``games`` form the schedule and may
    change between runs on one directory; any other difference is refused on resume."""

    model_path: str
    model_name: str
    temperatures: tuple[float, ...] = PAPER_TEMPERATURES
    games: int = 100  # per (temperature, level)
    levels: tuple[int, ...] = PAPER_LEVELS  # Skill Levels, or Elo values with uci_elo
    uci_elo: bool = False
    anchors: dict[str, float] = field(default_factory=dict)  # str(level) -> fixed rating
    movetime: float | None = PAPER_MOVETIME
    nodes: int | None = None
    depth: int | None = None
    decoding: str = "masked"
    seed: int = 0
    openings: str | None = None  # file path
    openings_sha256: str | None = None
    opening_plies: int | None = None  # use at most this many plies of each opening
    random_plies: int = 0
    max_moves: int = PAPER_MAX_MOVES  # 0: no limit
    claim_draws: bool = False  # threefold repetition and the fifty-move rule end the game
    resign_moves: int = 0  # adjudication off by default
    resign_score: int = 1000
    draw_moves: int = 0
    draw_score: int = 10
    draw_after: int = 40
    stockfish: str = ""  # the engine's `id name`
    hash_mb: int = 16

    SCHEDULE = ("temperatures", "games")

    @property
    def opponent(self) -> str:
        return "stockfish-elo" if self.uci_elo else "stockfish"

    @property
    def limit(self) -> Limit:
        return Limit(self.movetime, self.nodes, self.depth)

    @property
    def rules(self) -> Rules:
        """When a game ends besides the rules of chess (:mod:`chessformer.arena.adjudication`)."""
        return Rules(
            max_moves=self.max_moves,
            claim_draws=self.claim_draws,
            resign_moves=self.resign_moves,
            resign_score=self.resign_score,
            draw_moves=self.draw_moves,
            draw_score=self.draw_score,
            draw_after=self.draw_after,
        )

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["temperatures"] = list(self.temperatures)
        d["levels"] = list(self.levels)
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> MatchConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        kw = {k: v for k, v in d.items() if k in names}
        kw["temperatures"] = tuple(float(t) for t in kw.get("temperatures", ()))
        kw["levels"] = tuple(int(x) for x in kw.get("levels", ()))
        return cls(**kw)

    def differences(self, other: MatchConfig) -> list[str]:
        """Settings (outside the schedule) that differ, as ``name: ours vs theirs``."""
        a, b = self.to_json(), other.to_json()
        return [
            f"{k}: {a[k]!r} there, {b[k]!r} now"
            for k in a
            if k not in self.SCHEDULE and a[k] != b.get(k)
        ]
