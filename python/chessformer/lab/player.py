"""A lab expert as a match-runner player: ``chessformer.arena`` can play anything against it.

:class:`ExpertPlayer` is an :class:`~chessformer.arena.players.StockfishPlayer` (one engine per
game slot, its own thread) whose move is the expert's: a random move without asking the engine,
or the engine's search with the expert's options and limit. The lab's own generator
(chessformer.lab.games) plays the same experts faster, pipelined; this class is for the arena's
runner, so a model (or any arena player) can be matched against an expert.
"""

from __future__ import annotations

import itertools
import random
from typing import Any

from chessformer import _core
from chessformer.arena.players import StockfishPlayer, _Request
from chessformer.arena.schedule import GameSpec
from chessformer.arena.stockfish import Limit, SearchResult, UciClient
from chessformer.lab.experts import Expert, ExpertSpecError, ModelAsk, mix64

__all__ = ["ExpertPlayer", "expert_limit"]


def expert_limit(go: str) -> Limit:
    """The arena's Limit for an expert's ``go`` command (``go depth 2``, ``go nodes 500``, ...)."""
    words = go.split()
    if len(words) != 3 or words[0] != "go" or words[1] not in ("depth", "nodes", "movetime"):
        raise ValueError(f"not a single-limit go command: {go!r}")
    value = int(words[2])
    if words[1] == "movetime":
        return Limit(movetime=value / 1000.0)
    return Limit(depth=value) if words[1] == "depth" else Limit(nodes=value)


class ExpertPlayer(StockfishPlayer):
    """The expert ``expert`` (a Stockfish-based or random spec) on every slot."""

    def __init__(self, expert: Expert, path: str, *, seed: int = 0, **kwargs: Any) -> None:
        if expert.kind == "chessformer":
            raise ExpertSpecError(
                f"expert {expert.spec!r}: a chessformer model plays as the arena's ModelPlayer"
            )
        limit = expert_limit(expert.go) if expert.go else Limit(depth=1)
        super().__init__(path, limit, name=expert.spec, **kwargs)
        self.expert = expert
        self._salt = mix64(seed)
        self._draws = itertools.count()  # thread-safe: every search draws its own noise

    def options(self, game: GameSpec) -> dict[str, str | int]:
        return dict(self.expert.options)

    def search(self, engine: UciClient, request: _Request) -> SearchResult:
        board = _core.Board() if request.start_fen is None else _core.Board(request.start_fen)
        for uci in request.moves:
            board.push_uci(uci)
        rng = random.Random(mix64(self._salt ^ next(self._draws)))
        choice = self.expert.decide(board, rng)
        if isinstance(choice, str):
            return SearchResult(choice, None, None, 0.0)
        assert not isinstance(choice, ModelAsk)
        engine.configure(dict(choice.options))
        return engine.search(request.start_fen, request.moves, self.limit, self.timeout)
