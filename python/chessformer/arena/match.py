"""`chessformer match`: the model against Stockfish at many temperatures, many games at once.

Run::

    chessformer match --model runs/cf-1000 --stockfish-levels 1,3,5 --games 100 \\
        --temperatures 0.001,0.01,0.1,0.3,0.5,0.75,1.0,1.5 --out matches/cf-1000

The defaults are the paper's protocol: Stockfish ``Skill Level`` k thinking 0.1 s a move, half the
games with the model as White, a game still running after full move 90 (the paper's harness stops
once its move counter passes ``MAX_MOVES = 89``) scored a draw, no draw claims (python-chess's
``is_game_over()``), and legal-move masking (``--decoding paper`` selects the paper's rule: free
characters, up to 5 samples, then the game is lost).

How it runs: ``--concurrency N`` games at once (default: the number of cores), each with its own
Stockfish process (Threads 1, small hash) served by its own thread
(``chessformer.arena.stockfish``).
The main thread owns every game's state; whenever games wait for the model it asks for all their
moves in ONE batched ``choose_moves`` call (each game keeps its KV-cache slot), and it blocks only
when no game needs the model (``--batch-window MS`` lets it wait that long for Stockfish answers
due by then: bigger batches, a little more latency). A Stockfish crash or hang (no answer
within ``--engine-timeout``) costs that game only: the engine is restarted and the game
replayed from its start, up to ``--max-retries`` times, after which it goes to ``errors.jsonl``
(a rerun retries it).

Files in ``--out DIR``:

- ``games.jsonl`` -- one line per finished game, the results format of docs/formats.md (read by
  ``chessformer report``), with extra fields: round, moves (UCI), start FEN, limits, date, ...
- ``games.pgn`` -- the same games with full headers (a pure function of the JSONL lines; rebuilt
  from them on resume if a kill left it behind).
- ``match.json`` -- the configuration. Rerunning the same command resumes: finished games,
  identified by (temperature, level, game index), are skipped. Another configuration on the same
  DIR is refused (``--force`` overrides); ``--games`` and ``--temperatures`` may change freely.
- ``errors.jsonl`` -- games given up after repeated engine failures; ``runs.jsonl`` -- timing of
  each invocation (model share of wall time, Stockfish time).

Reproducibility: game i of (temperature, level) samples with its own seed, a hash of (``--seed``,
temperature, level, i), passed to ``InferenceEngine.choose_moves(seeds=...)``: its moves do not
depend on which games shared a batch.
Stockfish below Skill Level 20 (and with ``UCI_Elo``) picks its weakened moves with a
time-seeded random generator, and a ``--movetime`` search depends on machine load: only full
strength with ``--nodes``/``--depth`` is deterministic, and only then are whole games replayable.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import hashlib
import json
import math
import os
import platform
import queue
import random
import re
import sys
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

from chessformer.arena.report import (
    RESULTS_FILE,
    GameRecord,
    anchor_argument,
    append_result,
    model_score,
    read_results,
)
from chessformer.arena.stockfish import (
    Answer,
    EngineError,
    EngineNotFoundError,
    Limit,
    Request,
    StockfishWorker,
    UciEngine,
    find_stockfish,
)

__all__ = ["MatchConfig", "MatchRecord", "MatchStats", "main", "resolve_model", "run_match"]

PAPER_TEMPERATURES = (0.001, 0.01, 0.1, 0.3, 0.5, 0.75, 1.0, 1.5)
PAPER_LEVELS = (1, 3, 5)
PAPER_MOVETIME = 0.1  # seconds per Stockfish move
PAPER_MAX_MOVES = 89  # the harness's MAX_MOVES
MATCH_FILE = "match.json"
PGN_FILE = "games.pgn"
ERRORS_FILE = "errors.jsonl"
RUNS_FILE = "runs.jsonl"
MATCH_FORMAT = "chessformer-match"
MATCH_FORMAT_VERSION = 1
MATE_CP = 30000  # a mate score counts as this many centipawns for adjudication
STARTING_FEN = "rnbqkbnr/pppppppp/8/8/8/8/PPPPPPPP/RNBQKBNR w KQkq - 0 1"


class MatchConfigError(ValueError):
    """A match directory's configuration does not match the command, or a bad option value."""


def resolve_model(path: str | os.PathLike[str] | None) -> Path:
    """The model to load: ``path`` if given, else the bundled default model (a clear
    FileNotFoundError when there is none)."""
    from chessformer.engine.bundled import resolve_model as _resolve

    return _resolve(path)


# ---- configuration -------------------------------------------------------------------------------
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


def game_seed(seed: int, temperature: float, level: int, round_: int) -> int:
    """Game i's sampling seed: a stable hash (not Python's salted ``hash``) of its identity."""
    text = f"{seed}:{temperature!r}:{level}:{round_}".encode()
    return int.from_bytes(hashlib.sha256(text).digest()[:8], "little") >> 1


@dataclass(frozen=True)
class Opening:
    start_fen: str | None  # None: the standard start position
    moves: tuple[str, ...]  # UCI


@dataclass(frozen=True)
class GameSpec:
    temperature: float
    level: int
    round: int  # i: the game's number within its (temperature, level)
    game_index: int  # within the temperature's series across levels (docs/formats.md)
    seed: int
    model_white: bool
    opening: Opening

    @property
    def key(self) -> tuple[float, int, int]:
        return (self.temperature, self.level, self.game_index)


def schedule(cfg: MatchConfig, openings: Sequence[Opening]) -> list[GameSpec]:
    """All games in play order: round-major, so an interrupted run has every (temperature, level)
    about equally far. ``game_index = round * len(levels) + level position`` is the order played
    and stays put when ``--games`` grows. Games 2j and 2j+1 share an opening with colours swapped;
    the opening depends only on j (the same for every temperature and level)."""
    specs = []
    nl = len(cfg.levels)
    for i in range(cfg.games):
        opening = _opening_for(cfg, openings, i // 2)
        for lp, level in enumerate(cfg.levels):
            for t in cfg.temperatures:
                specs.append(
                    GameSpec(
                        t,
                        level,
                        i,
                        i * nl + lp,
                        game_seed(cfg.seed, t, level, i),
                        i % 2 == 0,
                        opening,
                    )
                )
    return specs


def _opening_for(cfg: MatchConfig, openings: Sequence[Opening], pair: int) -> Opening:
    if openings:
        op = openings[pair % len(openings)]
        if cfg.opening_plies is not None:
            op = Opening(op.start_fen, op.moves[: cfg.opening_plies])
        return op
    if cfg.random_plies > 0:
        return random_opening(cfg.random_plies, game_seed(cfg.seed, -1.0, -1, pair))
    return Opening(None, ())


def random_opening(plies: int, seed: int) -> Opening:
    """``plies`` uniformly random legal moves from the start that do not end the game."""
    from chessformer.board import Board

    rng = random.Random(seed)
    for _ in range(100):
        board = Board()
        moves = []
        for _ in range(plies):
            legal = sorted(m.uci() for m in board.legal_moves)
            if not legal:
                break
            uci = rng.choice(legal)
            board.push(uci)
            moves.append(uci)
        if len(moves) == plies and board.outcome() is None:
            return Opening(None, tuple(moves))
    raise MatchConfigError(f"no {plies}-ply random opening that leaves the game running")


# ---- opening files -------------------------------------------------------------------------------
def load_openings(path: str | os.PathLike[str]) -> list[Opening]:
    """Openings from an EPD file (one position a line) or a PGN file (each game's main line,
    from its ``[FEN]`` tag if any); raises MatchConfigError naming the bad entry."""
    p = Path(path)
    text = p.read_text(encoding="utf-8", errors="replace")
    first = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    is_pgn = p.suffix.lower() == ".pgn" or (
        p.suffix.lower() not in (".epd", ".fen") and (first.startswith("[") or first[:1].isdigit())
    )
    openings = _parse_pgn_openings(p) if is_pgn else _parse_epd(text, str(p))
    if not openings:
        raise MatchConfigError(f"{str(p)!r}: no openings found")
    return openings


def _parse_epd(text: str, where: str) -> list[Opening]:
    from chessformer.board import Board

    out = []
    for n, line in enumerate(text.splitlines(), 1):
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        if len(fields) < 4:
            raise MatchConfigError(f"{where}:{n}: not an EPD position: {line!r}")
        ops = " ".join(fields[4:])
        clocks = ["0", "1"]
        for k, op in enumerate(("hmvc", "fmvn")):
            if f"{op} " in ops:
                clocks[k] = ops.split(f"{op} ", 1)[1].split(";")[0].strip()
        fen = " ".join(fields[:4] + clocks)
        try:
            board = Board(fen)
        except ValueError as e:
            raise MatchConfigError(f"{where}:{n}: {e}") from None
        if board.outcome() is not None:
            raise MatchConfigError(f"{where}:{n}: the game is already over in {fen!r}")
        out.append(Opening(None if fen == STARTING_FEN else fen, ()))
    return out


def _parse_pgn_openings(path: Path) -> list[Opening]:
    """Each game's main line (UCI) and ``[FEN]`` start, read by chessformer's PGN parser."""
    from chessformer.board import Board
    from chessformer.data.pgn import read_games

    out = []
    for n, game in enumerate(read_games(path, annotations=False, on_error="raise"), 1):
        if game.error is not None and game.error.code != "missing_result":
            e = game.error
            raise MatchConfigError(
                f"{str(path)!r}: game {n}: {e.code} at ply {e.ply} ({e.token!r})"
            )
        board = Board(game.start_fen) if game.start_fen else Board()
        for uci in game.moves:
            board.push(uci)
        if board.outcome() is not None:
            raise MatchConfigError(f"{str(path)!r}: game {n}: the opening ends the game")
        fen = game.start_fen if game.start_fen != STARTING_FEN else None
        out.append(Opening(fen, tuple(game.moves)))
    return out


# ---- records and PGN -----------------------------------------------------------------------------
@dataclass(frozen=True)
class MatchRecord(GameRecord):
    """A ``games.jsonl`` line (format version 1) plus what rebuilding the PGN needs."""

    round: int = 0
    moves: str = ""  # UCI, space-separated, from the start position (opening included)
    start_fen: str = ""  # empty: the standard start
    opening_plies: int = 0
    decoding: str = "masked"
    model_path: str = ""
    stockfish: str = ""
    movetime: float | None = None
    nodes: int | None = None
    depth: int | None = None
    model_resamples: int = 0  # paper decoding: illegal samples drawn and rejected
    retries: int = 0  # engine failures before this (replayed) game finished
    date: str = ""  # YYYY.MM.DD
    site: str = ""


def _tag(value: object) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"')


def pgn_game(rec: dict[str, Any]) -> str:
    """One game as PGN text ending in a blank line, from a ``games.jsonl`` object."""
    from chessformer.board import Board

    model_white = rec["model_color"] == "white"
    sf = rec.get("stockfish") or "Stockfish"
    if rec["opponent"] == "stockfish-elo":
        opponent = f"{sf} Elo {rec['opponent_level']}"
    else:
        opponent = f"{sf} level {rec['opponent_level']}"
    model = f"{rec['model']} T={rec['temperature']:g}"
    tags: list[tuple[str, object]] = [
        ("Event", "chessformer match"),
        ("Site", rec.get("site") or "?"),
        ("Date", rec.get("date") or "????.??.??"),
        ("Round", rec.get("round", 0) + 1),
        ("White", model if model_white else opponent),
        ("Black", opponent if model_white else model),
        ("Result", rec["result"]),
        ("Termination", rec["termination"]),
        ("PlyCount", rec["plies"]),
        ("Model", rec["model"]),
        ("ModelPath", rec.get("model_path", "")),
        ("Temperature", repr(rec["temperature"])),
        ("Seed", rec["seed"]),
        ("GameIndex", rec["game_index"]),
        ("Decoding", rec.get("decoding", "")),
    ]
    if rec["opponent"] == "stockfish-elo":
        tags.append(("StockfishElo", rec["opponent_level"]))
    else:
        tags.append(("StockfishLevel", rec["opponent_level"]))
    for key, name in (
        ("movetime", "StockfishMovetime"),
        ("nodes", "StockfishNodes"),
        ("depth", "StockfishDepth"),
    ):
        if rec.get(key) is not None:
            tags.append((name, rec[key]))
    if rec.get("opponent_rating") is not None:
        tags.append(("OpponentRating", f"{rec['opponent_rating']:g}"))
    if rec.get("start_fen"):
        tags += [("SetUp", "1"), ("FEN", rec["start_fen"])]
    head = "".join(f'[{k} "{_tag(v)}"]\n' for k, v in tags)

    board = Board(rec["start_fen"]) if rec.get("start_fen") else Board()
    words = []
    for k, uci in enumerate(rec.get("moves", "").split()):
        san = board.san(uci)
        if board.turn:
            words.append(f"{board.fullmove_number}. {san}")
        else:
            words.append(f"{board.fullmove_number}... {san}" if k == 0 else san)
        board.push(uci)
    words.append(rec["result"])
    lines, cur = [], ""
    for w in words:
        if cur and len(cur) + 1 + len(w) > 79:
            lines.append(cur)
            cur = w
        else:
            cur = f"{cur} {w}" if cur else w
    lines.append(cur)
    return head + "\n" + "\n".join(lines) + "\n\n"


def _append_bytes(path: Path, data: bytes) -> None:
    """One ``write`` of a complete entry, then fsync: a kill leaves whole entries or none."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _raw_lines(path: Path) -> list[dict[str, Any]]:
    """The JSON objects of a JSONL file, skipping an incomplete last line (read_results has
    validated the file already)."""
    if not path.exists():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").split("\n"):
        if line.strip():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                break  # only the last line can be bad (checked by read_results)
    return out


def _cut_incomplete_tail(path: Path) -> None:
    """Drop a partial last line left by a kill mid-write."""
    if not path.exists():
        return
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        with open(path, "r+b") as f:
            f.truncate(data.rfind(b"\n") + 1)
            f.flush()
            os.fsync(f.fileno())


# ---- running games -------------------------------------------------------------------------------
_MODEL, _STOCKFISH = "model", "stockfish"


@dataclass
class _Game:
    """A game in progress on one slot (= KV-cache slot = Stockfish worker)."""

    spec: GameSpec
    slot: int
    retries: int = 0
    generation: int = 0  # bumped on every replay; stale engine answers are recognised by it
    board: Any = None
    moves: list[str] = field(default_factory=list)
    state: str = _MODEL
    engine_started: bool = False
    resamples: int = 0
    sf_winning: int = 0  # consecutive Stockfish scores >= resign_score
    sf_losing: int = 0
    drawish: int = 0
    ready_at: float = 0.0  # when the game started waiting for the model
    sent_at: float = 0.0  # when its Stockfish search was asked for


@dataclass
class MatchStats:
    """Timing of one invocation (all seconds)."""

    games: int = 0
    errors: int = 0
    retries: int = 0
    concurrency: int = 0
    startup: float = 0.0  # starting the Stockfish processes (in parallel), before the wall
    wall: float = 0.0  # from the first game's start to the last game's end
    model_time: float = 0.0  # inside choose_moves
    model_calls: int = 0
    model_moves: int = 0
    stockfish_time: float = 0.0  # go -> bestmove, summed over searches
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


class _Progress:
    """games done/total, W/D/L from the model's view and ETA on one stderr line."""

    def __init__(self, total: int, done: int, wdl: list[int], stream: TextIO, enabled: bool):
        self.total, self.start_done, self.done, self.wdl = total, done, done, wdl
        self.stream, self.enabled = stream, enabled
        self.tty = enabled and stream.isatty()
        self.t0 = time.monotonic()
        self.last = 0.0
        self.errors = 0

    def line(self) -> str:
        width = 24
        frac = self.done / self.total if self.total else 1.0
        bar = "#" * int(frac * width) + "-" * (width - int(frac * width))
        played = self.done - self.start_done
        elapsed = time.monotonic() - self.t0
        if played:
            eta_s = elapsed / played * (self.total - self.done)
            eta = f"ETA {int(eta_s) // 3600}:{int(eta_s) % 3600 // 60:02d}:{int(eta_s) % 60:02d}"
        else:
            eta = "ETA --:--:--"
        w, d, lo = self.wdl
        err = f" errors {self.errors}" if self.errors else ""
        return (
            f"games {self.done}/{self.total} [{bar}] W {w} D {d} L {lo}{err} | "
            f"{elapsed:.0f}s | {eta}"
        )

    def update(self, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if self.tty and (force or now - self.last > 0.2):
            self.stream.write("\r" + self.line() + "\033[K")
            self.stream.flush()
            self.last = now
        elif not self.tty and (force or now - self.last > 10.0):
            self.stream.write(self.line() + "\n")
            self.stream.flush()
            self.last = now

    def close(self) -> None:
        self.update(force=True)
        if self.enabled and self.tty:
            self.stream.write("\n")
            self.stream.flush()


def _try(factory: Callable[[], UciEngine]) -> UciEngine | None:
    try:
        return factory()
    except (EngineError, OSError, ValueError):
        return None


def _make_engine(model_path: Path, max_batch: int, device: str) -> Any:
    """The inference engine; each game passes its own seed to ``choose_moves``."""
    from chessformer.inference import InferenceEngine

    return InferenceEngine.from_checkpoint(model_path, max_batch=max_batch, device=device)


class MatchRunner:
    """Plays a list of games with ``concurrency`` slots; see the module docstring."""

    def __init__(
        self,
        cfg: MatchConfig,
        out: Path,
        specs: Sequence[GameSpec],
        *,
        engine: Any,
        stockfish_path: str,
        concurrency: int,
        engine_timeout: float,
        max_retries: int,
        progress: _Progress,
        stockfish_env: dict[str, str] | None = None,
        batch_window: float = 0.0,
    ) -> None:
        self.cfg, self.out, self.specs = cfg, out, list(specs)
        self.engine = engine
        self.stockfish_path = stockfish_path
        self.concurrency = max(1, min(concurrency, len(self.specs)))
        self.engine_timeout = engine_timeout
        self.max_retries = max_retries
        self.progress = progress
        self.stockfish_env = stockfish_env
        self.batch_window = batch_window
        self._search_mean: float | None = None  # running mean of Stockfish's answer time
        self.stats = MatchStats(concurrency=self.concurrency, model_kind=engine.tokenizer.name)
        self.site = platform.node() or "?"
        self.rating_of = {int(k): float(v) for k, v in cfg.anchors.items()}

    # ---- the loop -------------------------------------------------------------------------------
    def run(self) -> MatchStats:
        answers: queue.Queue[Answer] = queue.Queue()
        hash_mb = self.cfg.hash_mb

        def factory() -> UciEngine:
            return UciEngine(
                self.stockfish_path,
                {"Threads": 1, "Hash": hash_mb},
                timeout=max(30.0, self.engine_timeout),
                env=self.stockfish_env,
            )

        # Start the engines in parallel before the clock starts, like the model's loading; one
        # that fails to start here is retried lazily by its worker.
        t0 = time.monotonic()
        with ThreadPoolExecutor(self.concurrency) as pool:
            started = list(pool.map(lambda _: _try(factory), range(self.concurrency)))
        self.stats.startup = time.monotonic() - t0
        workers = [StockfishWorker(i, factory, answers, engine) for i, engine in enumerate(started)]
        todo = deque(self.specs)
        free = list(range(self.concurrency))[::-1]
        self.running: dict[int, _Game] = {}
        t0 = time.monotonic()
        try:
            while todo or self.running:
                while free and todo:
                    self._begin(_Game(todo.popleft(), free.pop()), workers)
                    self._reap(free)
                # Block only while no game waits for the model (or, with a batch window, while
                # the model waits for answers due within the window): then the next event is an
                # answer.
                timeout = 0.25
                ready = [g for g in self.running.values() if g.state == _MODEL]
                if ready:
                    timeout = self._batch_due(ready) - time.monotonic()
                try:
                    ans = answers.get(timeout=timeout) if timeout > 0 else answers.get_nowait()
                    while True:
                        self._on_answer(ans, workers)
                        ans = answers.get_nowait()
                except queue.Empty:
                    pass
                ready = [g for g in self.running.values() if g.state == _MODEL]
                if ready and self._batch_due(ready) <= time.monotonic():
                    self._model_moves(ready, workers)
                self._reap(free)
                self.progress.update()
        finally:
            for w in workers:
                if self.running:  # interrupted: do not wait for searches in flight
                    w.kill_engine()
                w.stop()
            self.stats.wall = time.monotonic() - t0
            self.stats.retries = sum(w.restarts for w in workers)
            self.progress.close()
        return self.stats

    def _batch_due(self, ready: list[_Game]) -> float:
        """When to run the model for the ``ready`` games: now, or -- with a batch window --
        as late as the first of them became ready plus the window, while Stockfish answers
        are expected before then (from the running mean of search times). Waiting a little
        for them makes larger batches, and keeps games that move together in step."""
        now = time.monotonic()
        if self.batch_window <= 0 or self._search_mean is None:
            return now
        limit = min(g.ready_at for g in ready) + self.batch_window
        expected = [
            g.sent_at + self._search_mean
            for g in self.running.values()
            if g.state == _STOCKFISH and g.sent_at + self._search_mean <= limit
        ]
        return min(limit, max(expected)) if expected else now

    def _reap(self, free: list[int]) -> None:
        for slot in [s for s, g in self.running.items() if g.state == "done"]:
            del self.running[slot]
            free.append(slot)

    def _begin(self, g: _Game, workers: list[StockfishWorker]) -> None:
        """(Re)start a game from its opening on its slot."""
        from chessformer.board import Board

        op = g.spec.opening
        g.board = Board(op.start_fen) if op.start_fen else Board()
        for uci in op.moves:
            g.board.push(uci)
        g.moves = list(op.moves)
        g.generation += 1
        g.engine_started = False
        g.resamples = g.sf_winning = g.sf_losing = g.drawish = 0
        self.engine.reset(g.slot)
        self.running[g.slot] = g
        self._next(g, workers)

    def _next(self, g: _Game, workers: list[StockfishWorker]) -> None:
        """After a move (or at the start): finish the game, or hand the move to the side to play."""
        end = self._game_over(g)
        if end is not None:
            self._finish(g, *end)
            return
        if g.board.turn == g.spec.model_white:
            g.state = _MODEL
            g.ready_at = time.monotonic()
            return
        g.state = _STOCKFISH
        g.sent_at = time.monotonic()
        new_game: dict[str, str | int] | None = None
        if not g.engine_started:
            if self.cfg.uci_elo:
                new_game = {"UCI_LimitStrength": "true", "UCI_Elo": g.spec.level}
            else:
                new_game = {"Skill Level": g.spec.level}
            g.engine_started = True
        workers[g.slot].submit(
            Request(
                (g.spec.key, g.generation),
                g.spec.opening.start_fen,
                tuple(g.moves),
                self.cfg.limit,
                self.engine_timeout,
                new_game,
            )
        )

    def _game_over(self, g: _Game) -> tuple[str, str] | None:
        """(result, termination) if the game has ended, else None."""
        outcome = g.board.outcome(claim_draw=self.cfg.claim_draws)
        if outcome is not None:
            return outcome.result(), outcome.termination.name.lower()
        # The paper's harness stops once its full-move counter exceeds MAX_MOVES, i.e. after
        # both sides have played move MAX_MOVES + 1.
        if self.cfg.max_moves > 0 and g.board.fullmove_number > self.cfg.max_moves + 1:
            return "1/2-1/2", "move_limit"
        return None

    def _on_answer(self, ans: Answer, workers: list[StockfishWorker]) -> None:
        g = self.running.get(ans.worker)
        if g is None or ans.token != (g.spec.key, g.generation) or g.state != _STOCKFISH:
            return  # an answer for a game already replayed or finished
        res = ans.result
        if res is None:
            self._engine_failed(g, ans.error, workers)
            return
        if not g.board.is_legal(res.move):
            workers[g.slot].kill_engine()
            self._engine_failed(g, f"illegal move {res.move!r} from {self.cfg.stockfish}", workers)
            return
        self.stats.stockfish_time += res.elapsed
        m = self._search_mean
        self._search_mean = res.elapsed if m is None else 0.9 * m + 0.1 * res.elapsed
        self.stats.stockfish_moves += 1
        g.board.push(res.move)
        g.moves.append(res.move)
        end = self._game_over(g) or self._adjudicate(g, res.score_cp, res.mate)
        if end is not None:
            self._finish(g, *end)
        else:
            self._next(g, workers)

    def _adjudicate(self, g: _Game, cp: int | None, mate: int | None) -> tuple[str, str] | None:
        """Resign/draw adjudication from Stockfish's own score (the model reports none)."""
        cfg = self.cfg
        if cp is None and mate is None:
            return None
        score = cp if cp is not None else (MATE_CP if (mate or 0) > 0 else -MATE_CP)
        model_wins = "1-0" if g.spec.model_white else "0-1"
        model_loses = "0-1" if g.spec.model_white else "1-0"
        if cfg.resign_moves > 0:
            g.sf_winning = g.sf_winning + 1 if score >= cfg.resign_score else 0
            g.sf_losing = g.sf_losing + 1 if score <= -cfg.resign_score else 0
            if g.sf_winning >= cfg.resign_moves:
                return model_loses, "adjudication_resign"
            if g.sf_losing >= cfg.resign_moves:
                return model_wins, "adjudication_resign"
        if cfg.draw_moves > 0 and g.board.fullmove_number > cfg.draw_after:
            g.drawish = g.drawish + 1 if abs(score) <= cfg.draw_score else 0
            if g.drawish >= cfg.draw_moves:
                return "1/2-1/2", "adjudication_draw"
        return None

    def _engine_failed(self, g: _Game, error: str, workers: list[StockfishWorker]) -> None:
        g.retries += 1
        where = f"game {g.spec.round} (T={g.spec.temperature:g}, level {g.spec.level})"
        if g.retries <= self.max_retries:
            self._log(f"Stockfish failed in {where}: {error}; restarting it and replaying the game")
            self._begin(g, workers)
            return
        self._log(
            f"Stockfish failed in {where}: {error}; giving up on this game after "
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
        _append_bytes(self.out / ERRORS_FILE, (line + "\n").encode())
        self.stats.errors += 1
        self.progress.errors += 1
        g.state = "done"

    def _model_moves(self, ready: list[_Game], workers: list[StockfishWorker]) -> None:
        t = time.perf_counter()
        choices = self.engine.choose_moves(
            [g.board for g in ready],
            slots=[g.slot for g in ready],
            temperature=[g.spec.temperature for g in ready],
            decoding=self.cfg.decoding,
            seeds=[g.spec.seed for g in ready],
        )
        self.stats.model_time += time.perf_counter() - t
        self.stats.model_calls += 1
        self.stats.model_moves += len(ready)
        for g, c in zip(ready, choices, strict=True):
            g.resamples += max(0, c.attempts - 1)
            if c.move is None:  # paper decoding: a result string, or no legal move in 5 samples
                termination = "resign" if c.resigned else "illegal_moves"
                self._finish(g, "0-1" if g.spec.model_white else "1-0", termination)
                continue
            uci = c.move.uci()
            g.board.push(uci)
            g.moves.append(uci)
            self._next(g, workers)

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
        _append_bytes(self.out / PGN_FILE, pgn_game(asdict(rec)).encode("utf-8"))
        self.stats.games += 1
        self.progress.done += 1
        self.progress.wdl[{1.0: 0, 0.5: 1, 0.0: 2}[rec.score]] += 1
        g.state = "done"

    def _log(self, msg: str) -> None:
        if self.progress.tty:
            sys.stderr.write("\r\033[K")
        print(msg, file=sys.stderr)


_GAME_START = re.compile(rb"^\[Event ", re.M)
_GAME_END = re.compile(rb"(?:1-0|0-1|1/2-1/2|\*)\n\n\Z")
_KEY_TAG = re.compile(rb'^\[(Temperature|GameIndex|StockfishLevel|StockfishElo) "([^"]*)"\]$', re.M)


def _pgn_key(rec: dict[str, Any]) -> tuple[str, str, str]:
    return (repr(rec["temperature"]), str(rec["game_index"]), str(rec["opponent_level"]))


def _complete_pgn_games(data: bytes) -> tuple[list[tuple[str, str, str]], int] | None:
    """Keys of the whole games a PGN file starts with and the byte length they span; None if
    the file does not look like this runner's output."""
    starts = [m.start() for m in _GAME_START.finditer(data)]
    if data and (not starts or starts[0] != 0):
        return None
    keys, end = [], 0
    for k, start in enumerate(starts):
        stop = starts[k + 1] if k + 1 < len(starts) else len(data)
        chunk = data[start:stop]
        if not _GAME_END.search(chunk):
            break  # a game cut short by a kill: everything from here on is rewritten
        tags = {name.decode(): value.decode() for name, value in _KEY_TAG.findall(chunk)}
        level = tags.get("StockfishLevel", tags.get("StockfishElo", ""))
        keys.append((tags.get("Temperature", ""), tags.get("GameIndex", ""), level))
        end = stop
    return keys, end


def _sync_pgn(pgn: Path, raw: list[dict[str, Any]]) -> None:
    """Make the PGN hold exactly the games of ``raw`` (the JSONL lines), in order: append the
    games a kill kept out of it, cut a half-written game, or rebuild it if it disagrees."""
    data = pgn.read_bytes() if pgn.exists() else b""
    want = [_pgn_key(r) for r in raw]
    found = _complete_pgn_games(data)
    try:
        if found is not None and found[0] == want[: len(found[0])]:
            keys, end = found
            if end == len(data) and len(keys) == len(want):
                return
            missing = "".join(pgn_game(r) for r in raw[len(keys) :]).encode("utf-8")
            with open(pgn, "r+b" if pgn.exists() else "wb") as f:
                f.truncate(end)
                f.seek(end)
                f.write(missing)
                f.flush()
                os.fsync(f.fileno())
        else:
            print(f"{pgn}: does not match {RESULTS_FILE}; rebuilding it", file=sys.stderr)
            _write_atomic(pgn, "".join(pgn_game(r) for r in raw))
    except (KeyError, ValueError, TypeError) as e:  # lines not written by this runner
        print(f"warning: cannot rebuild {pgn} from {RESULTS_FILE}: {e!r}", file=sys.stderr)


# ---- the match directory -------------------------------------------------------------------------
def prepare_dir(out: Path, cfg: MatchConfig, force: bool) -> list[GameRecord]:
    """Check or write match.json, repair a kill's leftovers; return the finished games."""
    out.mkdir(parents=True, exist_ok=True)
    meta_path = out / MATCH_FILE
    results = out / RESULTS_FILE
    if meta_path.exists():
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta.get("format") != MATCH_FORMAT:
            raise MatchConfigError(f"{str(meta_path)!r} is not a chessformer match file")
        old = MatchConfig.from_json(meta["config"])
        diff = old.differences(cfg)
        if diff and not force:
            raise MatchConfigError(
                f"{str(out)!r} holds a match with another configuration ("
                + "; ".join(diff)
                + "). Use another --out directory, or --force to add games to it anyway."
            )
    elif results.exists() and not force:
        raise MatchConfigError(
            f"{str(results)!r} exists but {MATCH_FILE} does not; use another --out directory "
            "or --force"
        )
    meta = {
        "format": MATCH_FORMAT,
        "format_version": MATCH_FORMAT_VERSION,
        "config": cfg.to_json(),
        "updated": datetime.datetime.now().isoformat(timespec="seconds"),
    }
    _write_atomic(meta_path, json.dumps(meta, indent=2) + "\n")

    _cut_incomplete_tail(results)
    records = read_results(results) if results.exists() else []
    _sync_pgn(out / PGN_FILE, _raw_lines(results))
    return records


def run_match(
    cfg: MatchConfig,
    out: Path,
    *,
    stockfish_path: str,
    concurrency: int,
    device: str = "cpu",
    engine_timeout: float = 0.0,
    max_retries: int = 2,
    force: bool = False,
    progress: bool = True,
    openings: Sequence[Opening] = (),
    stockfish_env: dict[str, str] | None = None,
    engine: Any = None,
    batch_window: float = 0.0,
) -> MatchStats:
    """Play the games of ``cfg`` not yet in ``out``; the library entry point of ``main``."""
    records = prepare_dir(out, cfg, force)
    done = {
        (r.temperature, r.opponent_level, r.game_index)
        for r in records
        if r.model == cfg.model_name and r.opponent == cfg.opponent
    }
    taken = {
        (r.temperature, r.game_index): r.opponent_level
        for r in records
        if r.model == cfg.model_name
    }
    specs = [s for s in schedule(cfg, openings) if s.key not in done]
    for s in specs:
        other = taken.get((s.temperature, s.game_index))
        if other is not None and other != s.level:
            raise MatchConfigError(
                f"game_index {s.game_index} at temperature {s.temperature:g} is already used by "
                f"a level-{other} game in {str(out / RESULTS_FILE)!r}; the levels changed — "
                "use a new --out directory"
            )
    mine = [r for r in records if r.model == cfg.model_name]
    wdl = [sum(r.score == x for r in mine) for x in (1.0, 0.5, 0.0)]
    total = len(specs) + len(done)
    bar = _Progress(total, len(done), wdl, sys.stderr, progress)
    if not specs:
        print(f"all {total} games are already in {out}", file=sys.stderr)
        return MatchStats(concurrency=0)
    if done:
        print(f"resuming: {len(done)} of {total} games already played", file=sys.stderr)
    if engine is None:
        engine = _make_engine(Path(cfg.model_path), max(1, min(concurrency, len(specs))), device)
    if engine_timeout <= 0:
        engine_timeout = default_engine_timeout(cfg.limit)
    runner = MatchRunner(
        cfg,
        out,
        specs,
        engine=engine,
        stockfish_path=stockfish_path,
        concurrency=concurrency,
        engine_timeout=engine_timeout,
        max_retries=max_retries,
        progress=bar,
        stockfish_env=stockfish_env,
        batch_window=batch_window,
    )
    stats = runner.run()
    line = {"time": datetime.datetime.now().isoformat(timespec="seconds"), **stats.to_json()}
    _append_bytes(out / RUNS_FILE, (json.dumps(line) + "\n").encode())
    return stats


def default_engine_timeout(limit: Limit) -> float:
    """A generous hang timeout: 50x the movetime (at least 10 s); 60 s for node/depth limits."""
    if limit.movetime is not None and limit.nodes is None and limit.depth is None:
        return max(10.0, 50.0 * limit.movetime)
    return 60.0


# ---- command line --------------------------------------------------------------------------------
def _floats(text: str) -> tuple[float, ...]:
    try:
        vals = tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a comma-separated list of numbers: {text!r}"
        ) from None
    if not vals or any(not math.isfinite(v) or v < 0 for v in vals):
        raise argparse.ArgumentTypeError(f"need numbers >= 0: {text!r}")
    return vals


def _ints(text: str) -> tuple[int, ...]:
    try:
        vals = tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a comma-separated list of integers: {text!r}"
        ) from None
    if not vals:
        raise argparse.ArgumentTypeError(f"empty list: {text!r}")
    return vals


def _parser() -> argparse.ArgumentParser:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    p = argparse.ArgumentParser(
        prog="chessformer match",
        description="Play the model against Stockfish at many sampling temperatures (the paper's "
        "protocol by default); results go to DIR/games.jsonl and DIR/games.pgn, and a rerun "
        "of the same command resumes.",
    )
    p.add_argument("--model", help="run or checkpoint folder, or nanoGPT .pt (default: bundled)")
    p.add_argument("--name", help="model name in the results (default: from the model path)")
    p.add_argument("--out", required=True, metavar="DIR", help="match directory")
    g = p.add_argument_group("opponent")
    lv = g.add_mutually_exclusive_group()
    lv.add_argument(
        "--stockfish-levels",
        type=_ints,
        default=PAPER_LEVELS,
        metavar="LIST",
        help="Skill Levels, e.g. 1,3,5 (default, the paper's)",
    )
    lv.add_argument(
        "--uci-elo",
        type=_ints,
        metavar="LIST",
        help="play UCI_LimitStrength at these UCI_Elo values instead of Skill Levels",
    )
    g.add_argument(
        "--anchor",
        type=anchor_argument,
        action="append",
        default=[],
        metavar="LEVEL=RATING",
        help="fixed rating of a Skill Level (default: the paper's 1=1554 ... 5=2148; "
        "with --uci-elo the Elo itself); a level without one (e.g. 0) is played and scored "
        "but left out of the ratings",
    )
    g.add_argument(
        "--stockfish",
        metavar="PATH",
        help="Stockfish executable (default: `stockfish` on PATH, then /usr/games/stockfish)",
    )
    g.add_argument(
        "--movetime",
        type=float,
        metavar="SECONDS",
        help=f"seconds per Stockfish move (default {PAPER_MOVETIME} unless --nodes or "
        "--depth is given)",
    )
    g.add_argument("--nodes", type=int, help="node limit per Stockfish move")
    g.add_argument("--depth", type=int, help="depth limit per Stockfish move")
    g.add_argument("--hash", type=int, default=16, metavar="MB", help="Stockfish hash (16)")
    s = p.add_argument_group("games")
    s.add_argument(
        "--games",
        type=int,
        default=100,
        help="games per temperature and level, half with the model as White (100)",
    )
    s.add_argument(
        "--temperatures",
        type=_floats,
        default=PAPER_TEMPERATURES,
        metavar="LIST",
        help="sampling temperatures (default: the paper's eight)",
    )
    s.add_argument("--seed", type=int, default=0, help="base of every game's seed (0)")
    s.add_argument(
        "--decoding",
        choices=("masked", "paper"),
        default="masked",
        help="masked: never illegal (default); paper: char models, 5 tries then lose",
    )
    s.add_argument(
        "--openings",
        metavar="FILE",
        help="openings from a PGN or EPD file, one per "
        "pair of games (each played with both colours), in file order",
    )
    s.add_argument(
        "--opening-plies", type=int, metavar="N", help="use at most N plies of each PGN opening"
    )
    s.add_argument(
        "--random-plies",
        type=int,
        default=0,
        metavar="N",
        help="start each pair of games after N random legal plies",
    )
    a = p.add_argument_group("adjudication")
    a.add_argument(
        "--max-moves",
        type=int,
        default=PAPER_MAX_MOVES,
        metavar="N",
        help="a game still running after full move N+1 is a draw, as the paper's "
        "harness does with N = 89 (default); 0: no limit",
    )
    a.add_argument(
        "--claim-draws",
        action="store_true",
        help="end games at threefold repetition and the fifty-move rule (off: the "
        "paper's harness only stops at fivefold and 75 moves)",
    )
    a.add_argument(
        "--resign-moves",
        type=int,
        default=0,
        metavar="N",
        help="adjudicate a win when Stockfish's score is beyond --resign-score for "
        "N of its moves in a row (off by default)",
    )
    a.add_argument("--resign-score", type=int, default=1000, metavar="CP")
    a.add_argument(
        "--draw-moves",
        type=int,
        default=0,
        metavar="N",
        help="adjudicate a draw when |Stockfish's score| <= --draw-score for N of its "
        "moves in a row after move --draw-after (off by default)",
    )
    a.add_argument("--draw-score", type=int, default=10, metavar="CP")
    a.add_argument("--draw-after", type=int, default=40, metavar="MOVE")
    r = p.add_argument_group("running")
    r.add_argument(
        "--concurrency",
        type=int,
        default=cores,
        help=f"games at once, one Stockfish each (default: the cores, {cores})",
    )
    r.add_argument(
        "--batch-window",
        type=float,
        default=0.0,
        metavar="MS",
        help="let the model wait up to MS milliseconds for Stockfish answers due by then, to "
        "batch more games per call (default 0: never wait)",
    )
    r.add_argument("--device", default="auto", help="model device: auto, cpu, cuda[:N]")
    r.add_argument(
        "--model-threads",
        type=int,
        metavar="N",
        help="torch CPU threads (default: the cores Stockfish leaves free, >= 1)",
    )
    r.add_argument(
        "--engine-timeout",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="a Stockfish answer later than this is a hang (default: 50x movetime, "
        "at least 10 s; 60 s with --nodes/--depth)",
    )
    r.add_argument(
        "--max-retries",
        type=int,
        default=2,
        help="replays of a game after engine failures before giving up on it (2)",
    )
    r.add_argument(
        "--force",
        action="store_true",
        help="continue in a DIR whose match.json has another configuration",
    )
    r.add_argument("--no-progress", action="store_true", help="no progress bar")
    r.add_argument("--no-report", action="store_true", help="do not print the ratings table")
    return p


def _model_name(path: Path) -> str:
    path = path.resolve()
    if path.name.startswith("ckpt-"):
        return f"{path.parent.name}@{path.name[5:].lstrip('0') or '0'}"
    return path.stem if path.is_file() else path.name


# option -> (smallest allowed value, what it means); None values (not given) are not checked
_MINIMA: dict[str, tuple[float, str]] = {
    "games": (1, ">= 1"),
    "movetime": (0, "> 0"),
    "nodes": (1, ">= 1"),
    "depth": (1, ">= 1"),
    "hash": (1, ">= 1 (MB)"),
    "opening_plies": (0, ">= 0"),
    "random_plies": (0, ">= 0"),
    "max_moves": (0, ">= 0 (0: no limit)"),
    "resign_moves": (0, ">= 0 (0: off)"),
    "resign_score": (1, ">= 1 (centipawns)"),
    "draw_moves": (0, ">= 0 (0: off)"),
    "draw_score": (0, ">= 0 (centipawns)"),
    "draw_after": (0, ">= 0"),
    "concurrency": (1, ">= 1"),
    "batch_window": (0, ">= 0 (milliseconds)"),
    "model_threads": (1, ">= 1"),
    "engine_timeout": (0, ">= 0 (0: the default)"),
    "max_retries": (0, ">= 0"),
}


def check_args(args: argparse.Namespace) -> None:
    """Every numeric option in its range, and the lists without repeats; MatchConfigError names
    the option and the rule. Runs before the model or Stockfish is loaded."""
    for name, (least, rule) in _MINIMA.items():
        v = getattr(args, name)
        if v is None:
            continue
        bad = not math.isfinite(v) or v < least or (name == "movetime" and v <= 0)
        if bad:
            raise MatchConfigError(f"--{name.replace('_', '-')} must be {rule}, got {v!r}")
    levels: tuple[int, ...] = args.uci_elo or args.stockfish_levels
    if len(set(levels)) != len(levels):
        raise MatchConfigError(f"repeated level in {levels!r}")
    if len(set(args.temperatures)) != len(args.temperatures):
        raise MatchConfigError(f"repeated temperature in {args.temperatures!r}")
    if args.uci_elo and any(v < 1 for v in args.uci_elo):
        raise MatchConfigError(f"--uci-elo values must be >= 1, got {args.uci_elo!r}")
    if not args.uci_elo and any(not 0 <= lv <= 20 for lv in levels):
        raise MatchConfigError(f"Skill Levels are 0..20, got {levels!r}")
    if args.openings and args.random_plies:
        raise MatchConfigError("give --openings or --random-plies, not both")


def _config_from_args(
    args: argparse.Namespace, model_path: Path, stockfish_name: str
) -> MatchConfig:
    from chessformer.arena.ratings import STOCKFISH_ANCHORS

    check_args(args)
    levels: tuple[int, ...] = args.uci_elo or args.stockfish_levels
    given = dict(args.anchor)
    anchors: dict[str, float] = {}
    for level in levels:
        if level in given:
            anchors[str(level)] = given[level]
        elif args.uci_elo:
            anchors[str(level)] = float(level)
        elif level in STOCKFISH_ANCHORS:
            anchors[str(level)] = STOCKFISH_ANCHORS[level]
        else:
            # played and scored, but no rating can be derived from these games alone
            print(
                f"note: Skill Level {level} has no rating anchor (the paper's are "
                f"{dict(STOCKFISH_ANCHORS)}): its games count in W/D/L but not in the ratings; "
                f"give one with --anchor {level}=RATING (or later: chessformer report --anchor)",
                file=sys.stderr,
            )
    movetime = args.movetime
    if movetime is None and args.nodes is None and args.depth is None:
        movetime = PAPER_MOVETIME
    sha = None
    if args.openings:
        sha = hashlib.sha256(Path(args.openings).read_bytes()).hexdigest()
    return MatchConfig(
        model_path=str(model_path.resolve()),
        model_name=args.name or _model_name(model_path),
        temperatures=tuple(args.temperatures),
        games=args.games,
        levels=tuple(levels),
        uci_elo=bool(args.uci_elo),
        anchors=anchors,
        movetime=movetime,
        nodes=args.nodes,
        depth=args.depth,
        decoding=args.decoding,
        seed=args.seed,
        openings=str(Path(args.openings).resolve()) if args.openings else None,
        openings_sha256=sha,
        opening_plies=args.opening_plies,
        random_plies=args.random_plies,
        max_moves=args.max_moves,
        claim_draws=args.claim_draws,
        resign_moves=args.resign_moves,
        resign_score=args.resign_score,
        draw_moves=args.draw_moves,
        draw_score=args.draw_score,
        draw_after=args.draw_after,
        stockfish=stockfish_name,
        hash_mb=args.hash,
    )


def _probe_stockfish(path: str, uci_elo: Sequence[int] | None) -> str:
    """Start the engine once: fail fast on a broken binary; return its `id name`."""
    engine = UciEngine(path, {"Threads": 1})
    try:
        needed = ["UCI_LimitStrength", "UCI_Elo"] if uci_elo else ["Skill Level"]
        missing = [o for o in needed if o not in engine.option_names]
        if missing:
            raise MatchConfigError(f"{engine.name} ({path}) has no UCI option {missing[0]!r}")
        return engine.name
    finally:
        engine.close()


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    err = "chessformer match: error:"
    try:
        check_args(args)  # before the slow part: loading the model, starting Stockfish
        model_path = resolve_model(args.model)
        sf_path = find_stockfish(args.stockfish)
        sf_name = _probe_stockfish(sf_path, args.uci_elo)
        cfg = _config_from_args(args, model_path, sf_name)
        openings: list[Opening] = load_openings(args.openings) if args.openings else []
        if openings and any(o.start_fen for o in openings):
            print(
                "warning: openings set up from a FEN are off the model's training "
                "distribution (it learned games from the start position)",
                file=sys.stderr,
            )
        if args.games % 2:
            print(
                f"warning: --games {args.games} is odd: the model plays White one game more "
                "than Black at each temperature and level",
                file=sys.stderr,
            )
        import torch

        device = args.device
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
        torch.set_num_threads(args.model_threads or max(1, cores - args.concurrency))
        out = Path(args.out)
        t = time.perf_counter()
        stats = run_match(
            cfg,
            out,
            stockfish_path=sf_path,
            concurrency=args.concurrency,
            device=device,
            engine_timeout=args.engine_timeout,
            max_retries=args.max_retries,
            force=args.force,
            progress=not args.no_progress,
            openings=openings,
            batch_window=args.batch_window / 1000.0,
        )
    except (EngineNotFoundError, FileNotFoundError, MatchConfigError, EngineError) as e:
        print(f"{err} {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted; rerun the same command to resume", file=sys.stderr)
        return 130
    if stats.games:
        print(
            f"played {stats.games} games in {stats.wall:.1f} s ({time.perf_counter() - t:.1f} s "
            f"with loading) at concurrency {stats.concurrency}: model {stats.model_time:.1f} s "
            f"({100 * stats.model_share:.1f}% of wall, {stats.model_calls} batched calls, "
            f"{stats.model_moves / max(1, stats.model_calls):.2f} games per call); Stockfish "
            f"{stats.stockfish_time:.1f} s over {stats.stockfish_moves} moves"
            + (
                f"; wall / (Stockfish time / {stats.concurrency}) = {stats.stockfish_ratio:.2f}"
                if stats.stockfish_time > 0
                else ""
            ),
            file=sys.stderr,
        )
    if not args.no_report and (out / RESULTS_FILE).exists():
        from chessformer.arena import report

        report.main([str(out)])
    if stats.errors:
        print(
            f"{stats.errors} games failed after {args.max_retries} retries (see "
            f"{out / ERRORS_FILE}); rerun the same command to retry them",
            file=sys.stderr,
        )
        return 1
    return 0
