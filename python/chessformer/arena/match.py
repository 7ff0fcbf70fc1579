"""`chessformer match`: the model against Stockfish at many temperatures, many games at once.

Run::

    chessformer match --model runs/cf-1000 --stockfish-levels 1,3,5 --games 100 \\
        --temperatures 0.001,0.01,0.1,0.3,0.5,0.75,1.0,1.5 --out matches/cf-1000

The defaults are the paper's protocol: Stockfish ``Skill Level`` k thinking 0.1 s a move, half the
games with the model as White, a game still running after full move 90 (the paper's harness stops
once its move counter passes ``MAX_MOVES = 89``) scored a draw, no draw claims (python-chess's
``is_game_over()``), and legal-move masking (``--decoding paper`` selects the paper's rule: free
characters, up to 5 samples, then the game is lost).

How it runs: ``--concurrency N`` games at once (default: the number of cores; more than the
cores and memory allow is capped, with a note), each with its own Stockfish process (Threads 1,
small hash) served by its own thread (``chessformer.arena.players``).
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
  A non-empty DIR without ``match.json`` is refused, and a file the match did not write is never
  overwritten (``chessformer.arena.folder``).
- ``errors.jsonl`` -- games given up after repeated engine failures; ``runs.jsonl`` -- timing of
  each invocation (model share of wall time, Stockfish time).

Reproducibility: game i of (temperature, level) samples with its own seed, a hash of (``--seed``,
temperature, level, i), passed to ``InferenceEngine.choose_moves(seeds=...)``: its moves do not
depend on which games shared a batch.
Stockfish below Skill Level 20 (and with ``UCI_Elo``) picks its weakened moves with a
time-seeded random generator, and a ``--movetime`` search depends on machine load: only full
strength with ``--nodes``/``--depth`` is deterministic, and only then are whole games replayable.

The parts, one job each: ``config`` (MatchConfig, match.json's contents), ``folder`` (the match
folder and resuming it), ``schedule`` (games, colours, seeds, openings), ``adjudication`` (when a
game ends, pure functions), ``players`` (the model and Stockfish as players), ``runner`` (the
event loop), ``results`` and ``pgn_file`` (the files written); this module is the command line.
"""

from __future__ import annotations

import datetime
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from chessformer.arena.config import MatchConfig, MatchConfigError
from chessformer.arena.folder import ERRORS_FILE, RUNS_FILE, pending_games, prepare_dir
from chessformer.arena.match_options import (
    check_args,
    check_device,
    config_from_args,
    parser,
    probe_stockfish,
)
from chessformer.arena.players import ModelPlayer, Player, StockfishPlayer
from chessformer.arena.results import (
    RESULTS_FILE,
    MatchRecord,
    ResultsFormatError,
    append_line,
)
from chessformer.arena.runner import MatchRunner, MatchStats, Progress
from chessformer.arena.schedule import GameSpec, Opening, game_seed, load_openings, schedule
from chessformer.arena.stockfish import EngineError, Limit, find_stockfish

__all__ = [
    "GameSpec",
    "MatchConfig",
    "MatchConfigError",
    "MatchRecord",
    "MatchStats",
    "Opening",
    "concurrency_cap",
    "game_seed",
    "load_model_engine",
    "load_openings",
    "main",
    "resolve_model",
    "run_match",
    "schedule",
]

STOCKFISH_MB = 80  # a Stockfish 15.1 process's own memory besides its hash (measured: ~70 MB)


def resolve_model(path: str | os.PathLike[str] | None) -> Path:
    """The model to load: ``path`` if given, else the bundled default model (a clear
    FileNotFoundError when there is none)."""
    from chessformer.engine.bundled import resolve_model as _resolve

    return _resolve(path)


def load_model_engine(model_path: Path, max_batch: int, device: str) -> Any:
    """The inference engine; each game passes its own seed to ``choose_moves``."""
    from chessformer.inference import InferenceEngine

    try:
        return InferenceEngine.from_checkpoint(model_path, max_batch=max_batch, device=device)
    except ValueError as e:  # CheckpointError, ConvertError: a broken or hostile model file
        raise MatchConfigError(f"--model {model_path}: {e}") from None


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _available_mb() -> float | None:
    """MemAvailable (Linux), else None: not checked."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def concurrency_cap(cfg: MatchConfig, cores: int, available_mb: float | None) -> tuple[int, str]:
    """The most games this machine can run at once, and why. Each game has its own
    single-threaded Stockfish: with a ``--movetime`` limit more of them than cores would weaken
    Stockfish (its thinking time is wall time), with node or depth limits four per core only
    queue; and all of them must fit in half the available memory."""
    if cfg.movetime is not None:
        cap, why = max(1, cores), f"{cores} cores, one Stockfish per core with --movetime"
    else:
        cap, why = max(1, 4 * cores), f"{cores} cores, 4 games per core"
    if available_mb is not None:
        per_game = STOCKFISH_MB + cfg.hash_mb
        by_memory = max(1, int(available_mb / 2 / per_game))
        if by_memory < cap:
            cap = by_memory
            why = f"{available_mb:.0f} MB of memory free, ~{per_game} MB per Stockfish process"
    return cap, why


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
    opponent: Player | None = None,
) -> MatchStats:
    """Play the games of ``cfg`` not yet in ``out``; the library entry point of ``main``.

    The model (``engine``, loaded from ``cfg.model_path`` when None) plays ``opponent``,
    Stockfish at ``cfg``'s levels by default."""
    records = prepare_dir(out, cfg, force)
    specs, done = pending_games(cfg, records, openings, out)
    cap, why = concurrency_cap(cfg, _cores(), _available_mb())
    if concurrency > cap:
        print(f"note: --concurrency {concurrency} capped at {cap} ({why})", file=sys.stderr)
        concurrency = cap
    mine = [r for r in records if r.model == cfg.model_name]
    wdl = [sum(r.score == x for r in mine) for x in (1.0, 0.5, 0.0)]
    total = len(specs) + done
    bar = Progress(total, done, wdl, sys.stderr, progress)
    if not specs:
        print(f"all {total} games are already in {out}", file=sys.stderr)
        return MatchStats(concurrency=0)
    if done:
        print(f"resuming: {done} of {total} games already played", file=sys.stderr)
    if engine is None:
        engine = load_model_engine(
            Path(cfg.model_path), max(1, min(concurrency, len(specs))), device
        )
    if engine_timeout <= 0:
        engine_timeout = default_engine_timeout(cfg.limit)
    if opponent is None:
        opponent = StockfishPlayer(
            stockfish_path,
            cfg.limit,
            name=cfg.stockfish or "Stockfish",
            uci_elo=cfg.uci_elo,
            hash_mb=cfg.hash_mb,
            timeout=engine_timeout,
            env=stockfish_env,
        )
    runner = MatchRunner(
        cfg,
        out,
        specs,
        model=ModelPlayer(engine, cfg.decoding, cfg.model_name),
        opponent=opponent,
        concurrency=concurrency,
        max_retries=max_retries,
        progress=bar,
        batch_window=batch_window,
        model_kind=engine.tokenizer.name,
    )
    stats = runner.run()
    line = {"time": datetime.datetime.now().isoformat(timespec="seconds"), **stats.to_json()}
    append_line(out / RUNS_FILE, (json.dumps(line) + "\n").encode())
    return stats


def default_engine_timeout(limit: Limit) -> float:
    """A generous hang timeout: 50x the movetime (at least 10 s); 60 s for node/depth limits."""
    if limit.movetime is not None and limit.nodes is None and limit.depth is None:
        return max(10.0, 50.0 * limit.movetime)
    return 60.0


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    err = "chessformer match: error:"
    try:
        check_args(args)  # before the slow part: loading the model, starting Stockfish
        model_path = resolve_model(args.model)
        sf_path = find_stockfish(args.stockfish)
        sf_name = probe_stockfish(sf_path, args.uci_elo)
        cfg = config_from_args(args, model_path, sf_name)
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
        device = check_device(args.device)
        import torch

        # run_match caps the concurrency (and says so); the model gets the cores left over
        concurrency = min(args.concurrency, concurrency_cap(cfg, _cores(), _available_mb())[0])
        torch.set_num_threads(args.model_threads or max(1, _cores() - concurrency))
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
    except (OSError, MatchConfigError, ResultsFormatError, EngineError) as e:
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
