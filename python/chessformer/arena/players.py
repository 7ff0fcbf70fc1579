"""Players: what the match runner pits against each other. Given a position, a move.

A :class:`Player` plays one side of up to ``slots`` games at once, one game per slot. The runner
asks it for a move with :meth:`Player.ask`; the answer, a :class:`Reply`, comes back one of two
ways:

- a *batched* player (``batched = True``, e.g. :class:`ModelPlayer`) answers every question
  asked so far in one :meth:`Player.flush`, which the runner calls when it is time to batch;
- any other player (e.g. :class:`StockfishPlayer`) answers on its own threads, putting each
  reply on the queue given to :meth:`Player.start`.

A player that fails (a crash, a hang, an illegal move) costs only the game it was playing: its
reply carries ``error``, the runner replays the game from its start, and the player restarts
what serves that slot. New kinds of players (a noisy Stockfish, an expert of some positions)
subclass :class:`Player`; the runner needs nothing else from them.
"""

from __future__ import annotations

import queue
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from chessformer.arena.schedule import GameSpec
from chessformer.arena.stockfish import EngineError, Limit, SearchResult, UciClient

__all__ = ["ModelPlayer", "Player", "Position", "Reply", "StockfishPlayer"]


@dataclass(frozen=True)
class Position:
    """The position to move in: the game's start (None: the standard one), the moves since
    (UCI), and the board after them (owned by the runner: read it, do not change it)."""

    start_fen: str | None
    moves: tuple[str, ...]
    board: Any


@dataclass(frozen=True)
class Reply:
    """A player's answer for the game on ``slot``; ``token`` is the one it was asked with."""

    slot: int
    token: Any
    move: str | None = None  # UCI; None: the player gave up (see gave_up) or failed (error)
    gave_up: str = ""  # why, as a termination: "resign", "illegal_moves" (it loses the game)
    error: str = ""  # the player failed: the game is replayed
    score_cp: int | None = None  # its evaluation after the move, from its own side
    mate: int | None = None
    elapsed: float = 0.0  # seconds the player took (an engine's own thinking time)
    resamples: int = 0  # samples drawn and rejected before this move (paper decoding)


class Player(ABC):
    """One side of the games; see the module docstring."""

    name: str = ""
    batched: bool = False

    def start(self, slots: int, replies: queue.Queue[Reply]) -> None:  # noqa: B027
        """Get ready to play ``slots`` games at once; non-batched players answer on ``replies``."""

    def new_game(self, slot: int, game: GameSpec) -> None:  # noqa: B027
        """A game (re)starts on ``slot`` (after a failure: the same game from its start)."""

    @abstractmethod
    def ask(self, slot: int, token: Any, game: GameSpec, position: Position) -> None:
        """Ask for a move in ``position``; the :class:`Reply` comes back with ``token``."""

    def flush(self) -> list[Reply]:
        """A batched player: the replies to every question asked since the last flush."""
        return []

    def failed(self, slot: int) -> None:  # noqa: B027
        """The reply for ``slot`` was unusable (an illegal move): restart what serves it."""

    def stop(self, abort: bool = False) -> None:  # noqa: B027
        """Release everything; ``abort``: do not wait for questions in flight."""

    @property
    def restarts(self) -> int:
        """How many times the player restarted after failing (counted in runs.jsonl)."""
        return 0


# ---- our model -----------------------------------------------------------------------------------
class ModelPlayer(Player):
    """The model at each game's temperature (``GameSpec.temperature``), one batched
    ``choose_moves`` call for every game waiting for it; each game keeps its KV-cache slot and
    samples with its own seed, so its moves do not depend on which games shared a batch."""

    batched = True

    def __init__(self, engine: Any, decoding: str = "masked", name: str = "model") -> None:
        self.engine, self.decoding, self.name = engine, decoding, name
        self._asked: list[tuple[int, Any, GameSpec, Position]] = []

    def new_game(self, slot: int, game: GameSpec) -> None:
        self.engine.reset(slot)

    def ask(self, slot: int, token: Any, game: GameSpec, position: Position) -> None:
        self._asked.append((slot, token, game, position))

    def flush(self) -> list[Reply]:
        asked, self._asked = self._asked, []
        if not asked:
            return []
        choices = self.engine.choose_moves(
            [p.board for _, _, _, p in asked],
            slots=[slot for slot, _, _, _ in asked],
            temperature=[g.temperature for _, _, g, _ in asked],
            decoding=self.decoding,
            seeds=[g.seed for _, _, g, _ in asked],
        )
        replies = []
        for (slot, token, _, _), c in zip(asked, choices, strict=True):
            resamples = max(0, c.attempts - 1)
            if c.move is None:  # paper decoding: a result string, or no legal move in 5 samples
                gave_up = "resign" if c.resigned else "illegal_moves"
                replies.append(Reply(slot, token, gave_up=gave_up, resamples=resamples))
            else:
                replies.append(Reply(slot, token, c.move.uci(), resamples=resamples))
        return replies


# ---- Stockfish (or any UCI engine), one process per game slot ------------------------------------
@dataclass(frozen=True)
class _Request:
    token: Any
    start_fen: str | None
    moves: tuple[str, ...]
    new_game: Mapping[str, str | int] | None  # options to set, then `ucinewgame`, first


class _Worker:
    """A thread that owns one engine process and serves one game at a time.

    The engine starts lazily; after a failure it is killed and started afresh on the next
    request, so a crash costs only the current game.
    """

    def __init__(
        self,
        slot: int,
        factory: Callable[[], UciClient],
        search: Callable[[UciClient, _Request], SearchResult],
        replies: queue.Queue[Reply],
        engine: UciClient | None,
        timeout: float,
    ) -> None:
        self.slot = slot
        self._factory, self._search, self._replies = factory, search, replies
        self._timeout = timeout
        self._inbox: queue.Queue[_Request | None] = queue.Queue()
        self._engine = engine  # already started, or None: start on demand
        self._lock = threading.Lock()  # guards _engine between the thread and kill_engine()
        self.restarts = 0
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"uci-slot-{slot}")
        self._thread.start()

    def submit(self, request: _Request) -> None:
        self._inbox.put(request)

    def _run(self) -> None:
        while True:
            req = self._inbox.get()
            if req is None:
                with self._lock:
                    if self._engine is not None:
                        self._engine.close()
                        self._engine = None
                return
            try:
                with self._lock:
                    engine = self._engine
                if engine is None:
                    engine = self._factory()
                    with self._lock:
                        self._engine = engine
                if req.new_game is not None:
                    engine.new_game(req.new_game, timeout=self._timeout)
                res = self._search(engine, req)
            except (EngineError, OSError, ValueError) as e:
                self.kill_engine()
                self.restarts += 1
                error = str(e) or type(e).__name__
                self._replies.put(Reply(self.slot, req.token, error=error))
                continue
            self._replies.put(self._reply(req.token, res))

    def _reply(self, token: Any, res: SearchResult) -> Reply:
        return Reply(
            self.slot, token, res.move, score_cp=res.score_cp, mate=res.mate, elapsed=res.elapsed
        )

    def kill_engine(self) -> None:
        with self._lock:
            engine, self._engine = self._engine, None
        if engine is not None:
            engine.kill()

    def stop(self, timeout: float = 5.0) -> None:
        """Quit the engine after the request in progress; kill it if that takes too long."""
        self._inbox.put(None)
        self._thread.join(timeout)
        if self._thread.is_alive():
            self.kill_engine()
            self._thread.join(1.0)


def _try(factory: Callable[[], UciClient]) -> UciClient | None:
    try:
        return factory()
    except (EngineError, OSError, ValueError):
        return None


class StockfishPlayer(Player):
    """Stockfish at each game's level (``GameSpec.level``: a Skill Level, or a ``UCI_Elo`` with
    ``uci_elo``), thinking ``limit`` per move; one engine process (Threads 1) per slot, each
    served by its own thread. An answer later than ``timeout`` seconds is a hang."""

    def __init__(
        self,
        path: str,
        limit: Limit,
        *,
        name: str = "Stockfish",
        uci_elo: bool = False,
        hash_mb: int = 16,
        timeout: float = 30.0,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.path, self.limit, self.name, self.uci_elo = path, limit, name, uci_elo
        self.hash_mb, self.timeout, self.env = hash_mb, timeout, env
        self._workers: list[_Worker] = []
        self._new_game: dict[int, dict[str, str | int]] = {}
        self.startup = 0.0  # seconds spent starting the processes (in parallel)

    def _client(self) -> UciClient:
        options = {"Threads": 1, "Hash": self.hash_mb}
        return UciClient(self.path, options, timeout=max(30.0, self.timeout), env=self.env)

    def options(self, game: GameSpec) -> dict[str, str | int]:
        """The UCI options that set the strength of ``game``'s opponent."""
        if self.uci_elo:
            return {"UCI_LimitStrength": "true", "UCI_Elo": game.level}
        return {"Skill Level": game.level}

    def search(self, engine: UciClient, request: _Request) -> SearchResult:
        """One search (a subclass may change how the move is picked)."""
        return engine.search(request.start_fen, request.moves, self.limit, self.timeout)

    def start(self, slots: int, replies: queue.Queue[Reply]) -> None:
        # Start the engines in parallel before the clock starts; one that fails to start here
        # is retried lazily by its worker.
        t0 = time.monotonic()
        with ThreadPoolExecutor(slots) as pool:
            started = list(pool.map(lambda _: _try(self._client), range(slots)))
        self.startup = time.monotonic() - t0
        self._workers = [
            _Worker(i, self._client, self.search, replies, engine, self.timeout)
            for i, engine in enumerate(started)
        ]

    def new_game(self, slot: int, game: GameSpec) -> None:
        self._new_game[slot] = self.options(game)  # sent with the game's first question

    def ask(self, slot: int, token: Any, game: GameSpec, position: Position) -> None:
        request = _Request(
            token, position.start_fen, position.moves, self._new_game.pop(slot, None)
        )
        self._workers[slot].submit(request)

    def failed(self, slot: int) -> None:
        self._workers[slot].kill_engine()

    def stop(self, abort: bool = False) -> None:
        for w in self._workers:
            if abort:
                w.kill_engine()
            w.stop()

    @property
    def restarts(self) -> int:
        return sum(w.restarts for w in self._workers)
