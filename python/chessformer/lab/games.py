"""Play many games between experts at once: the lab's hot loop.

One thread owns every game. Each game asks its side-to-move's expert for a move: a random move is
played at once, a Stockfish search goes into the :class:`~chessformer.lab.uci.EnginePool`
(pipelined over several processes), a chessformer model's turn waits for one batched
``choose_moves`` call over every game that needs that model. Boards are the C++ core's
(``chessformer._core.Board``): legality, SAN, FEN and game end cost microseconds, so the loop
keeps the engines busy. No python-chess anywhere.

A game's random choices (opening, noise) come from its own seed, so a game does not depend on
which games ran beside it; Stockfish's Skill Level picks with a time-seeded generator, so games
with skill experts are not replayable move for move.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from chessformer import _core
from chessformer.lab.experts import Expert, SearchAsk, mix64
from chessformer.lab.uci import EnginePool, Search

__all__ = ["GameResult", "GameTask", "play_games"]

DEFAULT_MAX_PLIES = 600  # a game still running after this many plies is adjudicated a draw
_TERMINATION = {
    "CHECKMATE": "checkmate",
    "STALEMATE": "stalemate",
    "INSUFFICIENT_MATERIAL": "insufficient material",
    "SEVENTYFIVE_MOVES": "75-move rule",
    "FIVEFOLD_REPETITION": "fivefold repetition",
}


@dataclass(frozen=True)
class GameTask:
    """Game ``index``: ``white`` vs ``black`` (expert specs) after ``opening_plies`` random
    plies; every random choice of the game derives from ``seed``."""

    index: int
    white: str
    black: str
    seed: int
    opening_plies: int = 0
    max_plies: int = DEFAULT_MAX_PLIES


@dataclass
class GameResult:
    task: GameTask
    moves: list[str]  # UCI, opening included
    sans: list[str]
    result: str  # 1-0, 0-1, 1/2-1/2
    reason: str  # checkmate, stalemate, ..., "move cap"

    @property
    def white_score(self) -> float:
        return {"1-0": 1.0, "0-1": 0.0}.get(self.result, 0.5)


@dataclass
class _Game:
    task: GameTask
    slot: int
    rng: random.Random
    board: _core.Board = field(default_factory=_core.Board)
    moves: list[str] = field(default_factory=list)
    sans: list[str] = field(default_factory=list)


def task_seed(seed: int, index: int) -> int:
    """Game ``index``'s seed under run seed ``seed`` (independent of everything else)."""
    return mix64(mix64(seed) ^ index)


class ModelPlayer:
    """Batched moves of one chessformer model for every game waiting on it."""

    def __init__(self, path: str, slots: int) -> None:
        from chessformer.board import Board
        from chessformer.inference import InferenceEngine

        self._board_type = Board
        self.engine = InferenceEngine.from_checkpoint(path, max_batch=slots)
        self.calls = 0

    def moves(self, games: Sequence[_Game], temperatures: Sequence[float]) -> list[str | None]:
        boards = []
        for g in games:
            b = self._board_type.__new__(self._board_type)
            b._board = g.board
            boards.append(b)
        self.calls += 1
        choices = self.engine.choose_moves(
            boards,
            temperature=list(temperatures),
            slots=[g.slot for g in games],
            seeds=[g.task.seed & 0x7FFFFFFF for g in games],
        )
        return [None if c.move is None else c.move.uci() for c in choices]


def play_games(
    tasks: Iterable[GameTask],
    experts: dict[str, Expert],
    *,
    stockfish: str | None,
    engines: int = 2,
    concurrency: int = 32,
    models: dict[str, Any] | None = None,
    on_ply: Callable[[int], None] | None = None,
) -> Iterator[GameResult]:
    """Play ``tasks`` (``concurrency`` at a time) and yield each game as it ends (in any order).

    ``experts`` maps every spec named by a task to its parsed expert; ``stockfish`` is the engine
    executable (None when no expert needs it); ``models`` may hold ready :class:`ModelPlayer`
    objects by model path (made on first use otherwise). ``on_ply(n)`` reports played plies.
    """
    pending = iter(tasks)
    needs_engine = any(e.uses_stockfish for e in experts.values())
    if needs_engine and stockfish is None:
        raise ValueError("a Stockfish expert needs the Stockfish executable")
    pool = EnginePool(stockfish, engines) if needs_engine and stockfish else None
    models = {} if models is None else models
    free_slots = list(range(concurrency - 1, -1, -1))
    active: dict[int, _Game] = {}  # by slot
    model_queue: dict[str, list[tuple[_Game, float]]] = {}
    ready: list[_Game] = []  # games whose side to move must decide now
    exhausted = False
    try:
        while True:
            while free_slots and not exhausted:
                task = next(pending, None)
                if task is None:
                    exhausted = True
                    break
                g = _start(task, free_slots.pop())
                active[g.slot] = g
                ready.append(g)
            if not active:
                return
            plies = 0
            finished: list[tuple[_Game, GameResult]] = []
            while ready:
                g = ready.pop()
                over = _over(g)
                if over is not None:
                    finished.append((g, over))
                    continue
                expert = experts[g.task.white if g.board.turn == 0 else g.task.black]
                choice = expert.decide(g.board, g.rng)
                if isinstance(choice, str):
                    _push(g, choice)
                    plies += 1
                    ready.append(g)
                elif isinstance(choice, SearchAsk):
                    assert pool is not None
                    pool.submit(Search(g.slot, g.board.fen(), choice.go, choice.options))
                else:
                    model_queue.setdefault(choice.model, []).append((g, choice.temperature))
            if on_ply is not None and plies:
                on_ply(plies)
                plies = 0
            for g, result in finished:
                del active[g.slot]
                free_slots.append(g.slot)
                yield result
            if finished:
                continue
            if model_queue and (pool is None or pool.in_flight == 0 or _model_due(model_queue)):
                for path, waiting in model_queue.items():
                    player = models.get(path) or models.setdefault(
                        path, ModelPlayer(path, concurrency)
                    )
                    chosen = player.moves([g for g, _ in waiting], [t for _, t in waiting])
                    for (g, _), move in zip(waiting, chosen, strict=True):
                        if move is None:  # the model found no move: it loses
                            del active[g.slot]
                            free_slots.append(g.slot)
                            yield _forfeit(g)
                            continue
                        _push(g, move)
                        plies += 1
                        ready.append(g)
                model_queue.clear()
            elif pool is not None and pool.in_flight:
                for reply in pool.poll(None if not ready else 0.0):
                    g = active[reply.token]
                    if reply.move == "(none)" or not g.board.is_legal_uci(reply.move):
                        raise RuntimeError(f"Stockfish answered {reply.move!r} in {g.board.fen()}")
                    _push(g, reply.move)
                    plies += 1
                    ready.append(g)
            if on_ply is not None and plies:
                on_ply(plies)
    finally:
        if pool is not None:
            pool.close()


def _model_due(queue: dict[str, list[tuple[_Game, float]]]) -> bool:
    # Batch the model once most of its games wait on it; a few stragglers are not worth a call.
    return sum(len(v) for v in queue.values()) >= 8


def _start(task: GameTask, slot: int) -> _Game:
    g = _Game(task, slot, random.Random(task.seed))
    for _ in range(task.opening_plies):
        moves = g.board.legal_moves_uci()
        if not moves or g.board.outcome() is not None:
            break
        _push(g, g.rng.choice(moves))
    return g


def _push(g: _Game, uci: str) -> None:
    g.sans.append(g.board.san_of_uci(uci))
    g.board.push_uci(uci)
    g.moves.append(uci)


def _over(g: _Game) -> GameResult | None:
    outcome = g.board.outcome()
    if outcome is not None:
        name, winner = outcome
        result = {0: "1-0", 1: "0-1"}.get(winner, "1/2-1/2")
        return GameResult(g.task, g.moves, g.sans, result, _TERMINATION.get(name, name.lower()))
    if len(g.moves) >= g.task.max_plies:
        return GameResult(g.task, g.moves, g.sans, "1/2-1/2", "move cap")
    return None


def _forfeit(g: _Game) -> GameResult:
    result = "0-1" if g.board.turn == 0 else "1-0"
    return GameResult(g.task, g.moves, g.sans, result, "no move")
