"""The match's event loop: two players, many games at once, each on its own slot.

The main thread owns every game's state. Whenever games wait for a batched player (the model)
it asks for all their moves in ONE call, and it blocks only when no game waits for one (a batch
window lets it wait a little for engine answers due by then: bigger batches, a little more
latency). A player's failure costs that game only: it is replayed from its start, up to
``max_retries`` times, after which it goes to ``errors.jsonl`` (a rerun retries it).
"""

from __future__ import annotations

import datetime
import json
import math
import platform
import queue
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

from chessformer._progress import Progress as StatusProgress
from chessformer.arena.adjudication import Ending, Score, Streaks, adjudicate, game_over
from chessformer.arena.config import MatchConfig
from chessformer.arena.pgn_file import PGN_FILE, pgn_game
from chessformer.arena.players import Player, Position, Reply
from chessformer.arena.results import (
    RESULTS_FILE,
    MatchRecord,
    append_line,
    append_result,
    model_score,
)
from chessformer.arena.schedule import GameSpec

__all__ = ["ERRORS_FILE", "MatchRunner", "MatchStats", "Progress"]

ERRORS_FILE = "errors.jsonl"
_WAITING, _DONE = "waiting", "done"


@dataclass
class MatchStats:
    """Timing of one invocation (all seconds)."""

    games: int = 0
    errors: int = 0
    retries: int = 0
    concurrency: int = 0
    startup: float = 0.0  # starting the Stockfish processes (in parallel), before the wall
    wall: float = 0.0  # from the first game's start to the last game's end
    model_time: float = 0.0  # inside the batched player's calls (choose_moves)
    model_calls: int = 0
    model_moves: int = 0
    stockfish_time: float = 0.0  # the other players' own time (go -> bestmove), summed
    stockfish_moves: int = 0
    model_kind: str = ""

    @property
    def model_share(self) -> float:
        return self.model_time / self.wall if self.wall > 0 else 0.0

    @property
    def stockfish_ratio(self) -> float:
        """Wall time over (total Stockfish thinking time / concurrency); 1.0 is ideal."""
        ideal = self.stockfish_time / max(1, self.concurrency)
        return self.wall / ideal if ideal > 0 else math.inf

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["model_share"] = self.model_share
        d["stockfish_ratio"] = self.stockfish_ratio
        d["mean_batch"] = self.model_moves / self.model_calls if self.model_calls else 0.0
        return d


class Progress(StatusProgress):
    """Games done of the total, with W/D/L from the model's view (and errors) after the numbers
    (`chessformer._progress.Progress`: a bar on a terminal, a line every 10 s in a log)."""

    def __init__(self, total: int, done: int, wdl: list[int], stream: TextIO, enabled: bool):
        super().__init__(
            total, desc="games", unit="game", initial=done, enabled=enabled, stream=stream
        )
        self.wdl, self.errors = wdl, 0
        self.update(0, self._counts())

    def _counts(self) -> str:
        w, d, lo = self.wdl
        return f"W {w} D {d} L {lo}" + (f" errors {self.errors}" if self.errors else "")

    def game(self, score: float) -> None:
        """A game finished with ``score`` for the model (1, 0.5 or 0)."""
        self.wdl[{1.0: 0, 0.5: 1, 0.0: 2}[score]] += 1
        self.update(1, self._counts())

    def error(self) -> None:
        """A game given up after its retries."""
        self.errors += 1
        self.update(0, self._counts())


@dataclass
class _Game:
    """A game in progress on one slot (= KV-cache slot = engine process)."""

    spec: GameSpec
    slot: int
    retries: int = 0
    generation: int = 0  # bumped on every replay; stale answers are recognised by it
    board: Any = None
    moves: list[str] = field(default_factory=list)
    state: str = _WAITING
    resamples: int = 0
    streaks: dict[bool, Streaks] = field(default_factory=dict)  # by side (True: White)
    asked_at: float = 0.0  # when the side to move was asked

    @property
    def token(self) -> tuple[tuple[float, int, int], int]:
        return (self.spec.key, self.generation)


class MatchRunner:
    """Plays ``specs`` between ``model`` (the rated side, White when ``spec.model_white``) and
    ``opponent`` with ``concurrency`` slots, writing each finished game to ``out``."""

    def __init__(
        self,
        cfg: MatchConfig,
        out: Path,
        specs: Sequence[GameSpec],
        *,
        model: Player,
        opponent: Player,
        concurrency: int,
        max_retries: int,
        progress: Progress,
        batch_window: float = 0.0,
        model_kind: str = "",
    ) -> None:
        self.cfg, self.out, self.specs = cfg, out, list(specs)
        self.model, self.opponent = model, opponent
        self.concurrency = max(1, min(concurrency, len(self.specs)))
        self.max_retries = max_retries
        self.progress = progress
        self.batch_window = batch_window
        self.rules = cfg.rules
        self._search_mean: float | None = None  # running mean of the engines' answer time
        self.stats = MatchStats(concurrency=self.concurrency, model_kind=model_kind)
        self.site = platform.node() or "?"
        self.rating_of = {int(k): float(v) for k, v in cfg.anchors.items()}
        self.running: dict[int, _Game] = {}

    def _to_move(self, g: _Game) -> Player:
        return self.model if g.board.turn == g.spec.model_white else self.opponent

    # ---- the loop -------------------------------------------------------------------------------
    def run(self) -> MatchStats:
        replies: queue.Queue[Reply] = queue.Queue()
        t0 = time.monotonic()
        for player in (self.model, self.opponent):
            player.start(self.concurrency, replies)
        self.stats.startup = time.monotonic() - t0
        todo = deque(self.specs)
        free = list(range(self.concurrency))[::-1]
        t0 = time.monotonic()
        try:
            while todo or self.running:
                while free and todo:
                    self._begin(_Game(todo.popleft(), free.pop()))
                    self._reap(free)
                # Block only while no game waits for a batched player (or, with a batch window,
                # while it waits for answers due within the window): then the next event is a
                # reply.
                timeout = 0.25
                ready = self._ready()
                if ready:
                    timeout = self._batch_due(ready) - time.monotonic()
                try:
                    reply = replies.get(timeout=timeout) if timeout > 0 else replies.get_nowait()
                    while True:
                        self._on_reply(reply)
                        reply = replies.get_nowait()
                except queue.Empty:
                    pass
                ready = self._ready()
                if ready and self._batch_due(ready) <= time.monotonic():
                    self._flush()
                self._reap(free)
                self.progress.update(0)
        finally:
            for player in (self.model, self.opponent):
                player.stop(abort=bool(self.running))  # interrupted: do not wait for searches
            self.stats.wall = time.monotonic() - t0
            self.stats.retries = self.model.restarts + self.opponent.restarts
            self.progress.close()
        return self.stats

    def _ready(self) -> list[_Game]:
        """Games waiting for a batched player."""
        return [
            g for g in self.running.values() if g.state == _WAITING and self._to_move(g).batched
        ]

    def _batch_due(self, ready: list[_Game]) -> float:
        """When to run the batched players for the ``ready`` games: now, or -- with a batch
        window -- as late as the first of them became ready plus the window, while engine
        answers are expected before then (from the running mean of their times). Waiting a
        little for them makes larger batches, and keeps games that move together in step."""
        now = time.monotonic()
        if self.batch_window <= 0 or self._search_mean is None:
            return now
        limit = min(g.asked_at for g in ready) + self.batch_window
        expected = [
            g.asked_at + self._search_mean
            for g in self.running.values()
            if g.state == _WAITING
            and not self._to_move(g).batched
            and g.asked_at + self._search_mean <= limit
        ]
        return min(limit, max(expected)) if expected else now

    def _flush(self) -> None:
        for player in (self.model, self.opponent):
            if not player.batched or not any(self._to_move(g) is player for g in self._ready()):
                continue
            t = time.perf_counter()
            replies = player.flush()
            self.stats.model_time += time.perf_counter() - t
            self.stats.model_calls += 1
            self.stats.model_moves += len(replies)
            for reply in replies:
                self._on_reply(reply)

    def _reap(self, free: list[int]) -> None:
        for slot in [s for s, g in self.running.items() if g.state == _DONE]:
            del self.running[slot]
            free.append(slot)

    # ---- one game -------------------------------------------------------------------------------
    def _begin(self, g: _Game) -> None:
        """(Re)start a game from its opening on its slot."""
        from chessformer.board import Board

        op = g.spec.opening
        g.board = Board(op.start_fen) if op.start_fen else Board()
        for uci in op.moves:
            g.board.push(uci)
        g.moves = list(op.moves)
        g.generation += 1
        g.resamples = 0
        g.streaks = {True: Streaks(), False: Streaks()}
        for player in (self.model, self.opponent):
            player.new_game(g.slot, g.spec)
        self.running[g.slot] = g
        self._next(g)

    def _next(self, g: _Game) -> None:
        """After a move (or at the start): finish the game, or ask the side to move."""
        end = game_over(g.board, self.rules)
        if end is not None:
            self._finish(g, *end)
            return
        g.state = _WAITING
        g.asked_at = time.monotonic()
        position = Position(g.spec.opening.start_fen, tuple(g.moves), g.board)
        self._to_move(g).ask(g.slot, g.token, g.spec, position)

    def _on_reply(self, reply: Reply) -> None:
        g = self.running.get(reply.slot)
        if g is None or reply.token != g.token or g.state != _WAITING:
            return  # an answer for a game already replayed or finished
        player = self._to_move(g)
        if reply.error:
            self._failed(g, player, reply.error)
            return
        g.resamples += reply.resamples
        white = bool(g.board.turn)
        if reply.move is None:  # the player gave up: it loses
            self._finish(g, "0-1" if white else "1-0", reply.gave_up or "resign")
            return
        if not g.board.is_legal(reply.move):
            player.failed(g.slot)
            self._failed(g, player, f"illegal move {reply.move!r} from {player.name}")
            return
        if not player.batched:
            self.stats.stockfish_time += reply.elapsed
            self.stats.stockfish_moves += 1
            m = self._search_mean
            self._search_mean = reply.elapsed if m is None else 0.9 * m + 0.1 * reply.elapsed
        g.board.push(reply.move)
        g.moves.append(reply.move)
        end: Ending | None = game_over(g.board, self.rules)
        if end is None:
            score = Score(reply.score_cp, reply.mate, white, g.board.fullmove_number)
            g.streaks[white], end = adjudicate(self.rules, g.streaks[white], score)
        if end is not None:
            self._finish(g, *end)
        else:
            self._next(g)

    def _failed(self, g: _Game, player: Player, error: str) -> None:
        g.retries += 1
        where = f"game {g.spec.round} (T={g.spec.temperature:g}, level {g.spec.level})"
        if g.retries <= self.max_retries:
            self._log(
                f"{player.name} failed in {where}: {error}; restarting it, replaying the game"
            )
            self._begin(g)
            return
        self._log(
            f"{player.name} failed in {where}: {error}; giving up on this game after "
            f"{g.retries} tries (see {ERRORS_FILE}; a rerun retries it)"
        )
        line = json.dumps(
            {
                "temperature": g.spec.temperature,
                "level": g.spec.level,
                "round": g.spec.round,
                "game_index": g.spec.game_index,
                "tries": g.retries,
                "error": error,
                "time": datetime.datetime.now().isoformat(timespec="seconds"),
            }
        )
        append_line(self.out / ERRORS_FILE, (line + "\n").encode())
        self.stats.errors += 1
        self.progress.error()
        g.state = _DONE

    def _finish(self, g: _Game, result: str, termination: str) -> None:
        spec, cfg = g.spec, self.cfg
        color = "white" if spec.model_white else "black"
        rec = MatchRecord(
            model=cfg.model_name,
            temperature=spec.temperature,
            opponent=cfg.opponent,
            opponent_level=spec.level,
            opponent_rating=self.rating_of.get(spec.level),
            model_color=color,
            result=result,
            score=model_score(result, color),
            termination=termination,
            plies=len(g.moves) - len(spec.opening.moves),
            seed=spec.seed,
            game_index=spec.game_index,
            round=spec.round,
            moves=" ".join(g.moves),
            start_fen=spec.opening.start_fen or "",
            opening_plies=len(spec.opening.moves),
            decoding=cfg.decoding,
            model_path=cfg.model_path,
            stockfish=cfg.stockfish,
            movetime=cfg.movetime,
            nodes=cfg.nodes,
            depth=cfg.depth,
            model_resamples=g.resamples,
            retries=g.retries,
            date=datetime.date.today().strftime("%Y.%m.%d"),
            site=self.site,
        )
        # JSONL first: it is the record of truth; the PGN is rebuilt from it if a kill lands
        # between the two writes.
        append_result(self.out / RESULTS_FILE, rec)
        append_line(self.out / PGN_FILE, pgn_game(asdict(rec)).encode("utf-8"))
        self.stats.games += 1
        self.progress.game(rec.score)
        g.state = _DONE

    def _log(self, msg: str) -> None:
        self.progress.message(msg)
