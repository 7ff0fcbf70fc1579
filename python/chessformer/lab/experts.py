"""Experts as specs: players whose errors the lab controls.

A spec is ``KIND`` or ``KIND:key=value,key=value``:

- ``stockfish:skill=S`` -- Stockfish's own Skill Level S (0-20), searched with ``go depth 1+S``:
  Stockfish picks its weakened move once iterative deepening reaches depth 1 + S, so the depth
  limit reproduces the level at a fraction of the paper's 0.1 s a move
  (``bench/lab_skill_depth.py`` measures how close).
- ``stockfish:depth=D`` (or ``nodes=N``, ``movetime=MS``) -- full-strength Stockfish at that limit
  (``depth=1`` when no limit is given).
- noise, on any Stockfish expert: ``eps=E`` plays a uniformly random legal move with probability
  E instead of Stockfish's (the paper's Prop. 3: a noisy expert that low temperature denoises).
- regions: ``regions=K,region=I`` plays Stockfish only in positions whose hash falls into region
  I of K (the position's Zobrist key mixed with ``salt``), a random legal move elsewhere;
  ``phase=opening|middlegame|endgame`` does the same by game phase (opening: the first 10 full
  moves; endgame: at most 13 points of non-pawn material on the board, N/B 3, R 5, Q 9;
  middlegame: the rest). Complementary experts (Prop. 4) are K experts with regions 0..K-1.
- ``noise=shared`` (with ``salt=N``) makes the random choices a function of the position and the
  salt instead of a coin flip: every expert with the same salt makes the same mistake in the same
  position, so no vote can remove it -- the control without diversity.
- ``random`` -- a uniformly random legal move.
- ``chessformer:model=PATH,temperature=T`` -- a chessformer model (a ``chessformer train`` run or
  checkpoint) sampling at temperature T.

Specs are canonical strings (keys sorted), so one expert has one name everywhere: PGN tags, rating
tables, plots. :func:`parse_expert` raises :class:`ExpertSpecError` naming the spec and the rule.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from chessformer import _core

__all__ = ["Expert", "ExpertSpecError", "ModelAsk", "SearchAsk", "parse_expert"]

PHASES = ("opening", "middlegame", "endgame")
OPENING_FULLMOVES = 10  # positions before full move 11 are the opening
ENDGAME_MATERIAL = 13  # non-pawn material (both sides) at or below this is an endgame
_MATERIAL = {"n": 3, "b": 3, "r": 5, "q": 9}
_MIX = 0x9E3779B97F4A7C15  # odd constant of the 64-bit hash mixer
_MASK = (1 << 64) - 1

_KEYS = {
    "stockfish": {"skill", "depth", "nodes", "movetime", "eps", "regions", "region", "phase"}
    | {"noise", "salt"},
    "random": set(),
    "chessformer": {"model", "temperature"},
}


class ExpertSpecError(ValueError):
    """An expert spec broke a rule of the spec grammar (see chessformer.lab.experts)."""


@dataclass(frozen=True)
class SearchAsk:
    """Ask Stockfish: ``go`` with these options."""

    go: str
    options: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class ModelAsk:
    """Ask a chessformer model at a temperature."""

    model: str
    temperature: float


def mix64(x: int) -> int:
    """A 64-bit finaliser (splitmix64): spreads Zobrist keys and salts over all bits."""
    x = (x + _MIX) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def game_phase(board: _core.Board) -> str:
    if board.fullmove_number <= OPENING_FULLMOVES:
        return "opening"
    material = sum(_MATERIAL.get(c, 0) for c in board.board_fen().lower())
    return "endgame" if material <= ENDGAME_MATERIAL else "middlegame"


@dataclass(frozen=True)
class Expert:
    """A parsed spec. :meth:`decide` gives a move now (UCI) or what to ask for it."""

    spec: str  # canonical text
    kind: str
    go: str = ""
    options: tuple[tuple[str, str], ...] = ()
    eps: float = 0.0
    regions: int = 0
    region: int = 0
    phase: str = ""
    shared: bool = False
    salt: int = 0
    model: str = ""
    temperature: float = 1.0

    @property
    def uses_stockfish(self) -> bool:
        return self.kind == "stockfish"

    def _random_move(self, board: _core.Board, rng: random.Random, h: int) -> str:
        moves = board.legal_moves_uci()
        if self.shared:
            return str(moves[(h >> 17) % len(moves)])
        return str(rng.choice(moves))

    def decide(self, board: _core.Board, rng: random.Random) -> str | SearchAsk | ModelAsk:
        """This expert's move in ``board`` (a UCI string) or the search that gives it."""
        if self.kind == "random":
            return str(rng.choice(board.legal_moves_uci()))
        if self.kind == "chessformer":
            return ModelAsk(self.model, self.temperature)
        h = mix64(board.zobrist ^ mix64(self.salt)) if (self.shared or self.regions) else 0
        if self.regions and (h >> 40) % self.regions != self.region:
            return self._random_move(board, rng, h)
        if self.phase and game_phase(board) != self.phase:
            return self._random_move(board, rng, h)
        if self.eps > 0.0:
            coin = (h & 0xFFFFFFFF) / 2**32 if self.shared else rng.random()
            if coin < self.eps:
                return self._random_move(board, rng, h)
        return SearchAsk(self.go, self.options)


def _number(spec: str, key: str, text: str, kind: type, lo: float, hi: float) -> Any:
    try:
        value = kind(text)
    except ValueError:
        raise ExpertSpecError(
            f"expert {spec!r}: {key}={text!r} is not {'an integer' if kind is int else 'a number'}"
        ) from None
    if not lo <= value <= hi:
        raise ExpertSpecError(f"expert {spec!r}: {key}={text} is outside [{lo:g}, {hi:g}]")
    return value


def parse_expert(spec: str) -> Expert:
    """Parse an expert spec (grammar in the module docstring)."""
    text = spec.strip()
    kind, _, rest = text.partition(":")
    kind = kind.strip().lower()
    if kind not in _KEYS:
        raise ExpertSpecError(
            f"expert {spec!r}: unknown kind {kind!r} (known: {', '.join(sorted(_KEYS))})"
        )
    params: dict[str, str] = {}
    for item in filter(None, (p.strip() for p in rest.split(","))):
        key, eq, value = item.partition("=")
        key = key.strip().lower()
        if not eq or not value.strip():
            raise ExpertSpecError(f"expert {spec!r}: {item!r} is not key=value")
        if key not in _KEYS[kind]:
            known = ", ".join(sorted(_KEYS[kind])) or "none"
            raise ExpertSpecError(f"expert {spec!r}: {kind} has no key {key!r} (known: {known})")
        if key in params:
            raise ExpertSpecError(f"expert {spec!r}: {key!r} given twice")
        params[key] = value.strip()
    canonical = kind + (
        ":" + ",".join(f"{k}={params[k]}" for k in sorted(params)) if params else ""
    )
    if kind == "random":
        return Expert(canonical, kind)
    if kind == "chessformer":
        if "model" not in params:
            raise ExpertSpecError(f"expert {spec!r}: chessformer needs model=PATH")
        t = _number(spec, "temperature", params.get("temperature", "1"), float, 0.0, 100.0)
        return Expert(canonical, kind, model=params["model"], temperature=t)
    return _stockfish(spec, canonical, params)


def _stockfish(spec: str, canonical: str, params: dict[str, str]) -> Expert:
    limits = [k for k in ("depth", "nodes", "movetime") if k in params]
    if len(limits) > 1:
        raise ExpertSpecError(f"expert {spec!r}: give one of depth, nodes, movetime")
    options: list[tuple[str, str]] = []
    skill = 20
    if "skill" in params:
        skill = _number(spec, "skill", params["skill"], int, 0, 20)
        options.append(("Skill Level", str(skill)))
    else:
        options.append(("Skill Level", "20"))
    if not limits:
        go = f"go depth {1 + skill if 'skill' in params else 1}"
    else:
        key = limits[0]
        hi = {"depth": 100, "nodes": 10**12, "movetime": 10**7}[key]
        go = f"go {key} {_number(spec, key, params[key], int, 1, hi)}"
    eps = _number(spec, "eps", params.get("eps", "0"), float, 0.0, 1.0)
    regions = region = 0
    if "regions" in params or "region" in params:
        if "regions" not in params or "region" not in params:
            raise ExpertSpecError(f"expert {spec!r}: regions=K needs region=I and vice versa")
        regions = _number(spec, "regions", params["regions"], int, 2, 1 << 20)
        region = _number(spec, "region", params["region"], int, 0, regions - 1)
    phase = params.get("phase", "").lower()
    if phase and phase not in PHASES:
        raise ExpertSpecError(f"expert {spec!r}: phase={phase!r} is not one of {', '.join(PHASES)}")
    if phase and regions:
        raise ExpertSpecError(f"expert {spec!r}: give regions or phase, not both")
    noise = params.get("noise", "independent").lower()
    if noise not in ("independent", "shared"):
        raise ExpertSpecError(f"expert {spec!r}: noise={noise!r} is not independent or shared")
    salt = _number(spec, "salt", params.get("salt", "0"), int, 0, _MASK)
    return Expert(
        canonical,
        "stockfish",
        go=go,
        options=tuple(options),
        eps=eps,
        regions=regions,
        region=region,
        phase=phase,
        shared=noise == "shared",
        salt=salt,
    )
