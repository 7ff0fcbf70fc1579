"""`chessformer lab generate`: expert-vs-expert games to a resumable ``.pgn.zst``.

    chessformer lab generate --experts "stockfish:depth=1,eps=0.5" "stockfish:skill=1" \\
        --games 10000 --out games/noisy.pgn.zst

Game i's pairing, colours and random opening come from ``--seed`` and i alone. Games are played
``--concurrency`` at a time over ``--engines`` Stockfish processes (see chessformer.lab.games) or,
with ``--ray ADDRESS``, in chunks on a Ray cluster; either way they reach the file in index order,
and a rerun of the same command after a kill continues where the file ends (chessformer.lab.store).
Tags: ``White``/``Black`` are the expert specs, ``WhiteElo``/``BlackElo`` their measured ratings
when ``--ratings`` gives them (a JSON object spec -> rating, e.g. a lab run's ratings.json).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from chessformer._argtypes import int_at_least
from chessformer.arena.stockfish import EngineError, EngineNotFoundError, find_stockfish
from chessformer.lab.experts import Expert, ExpertSpecError, parse_expert
from chessformer.lab.games import DEFAULT_MAX_PLIES, GameResult, GameTask, play_games, task_seed
from chessformer.lab.progress import GameProgress
from chessformer.lab.ray_backend import RayUnavailableError
from chessformer.lab.store import GameStore, StoreError, pgn_text

__all__ = ["GenerateConfig", "generate", "main", "pairing_tasks"]


@dataclass(frozen=True)
class GenerateConfig:
    experts: tuple[str, ...]  # canonical specs
    games: int
    seed: int = 1
    opening_plies: int = 4
    max_plies: int = DEFAULT_MAX_PLIES

    def identity(self) -> dict[str, object]:
        """What decides the games (``games`` may grow between runs on one file)."""
        return {
            "experts": list(self.experts),
            "seed": self.seed,
            "opening_plies": self.opening_plies,
            "max_plies": self.max_plies,
        }


def pairing_tasks(cfg: GenerateConfig, start: int = 0) -> Iterator[GameTask]:
    """Game i: two experts drawn uniformly (colours included) from game i's seed."""
    for i in range(start, cfg.games):
        seed = task_seed(cfg.seed, i)
        rng = random.Random(seed ^ 0x5EED)
        white, black = rng.choice(cfg.experts), rng.choice(cfg.experts)
        yield GameTask(i, white, black, seed, cfg.opening_plies, cfg.max_plies)


def generate(
    cfg: GenerateConfig,
    out: Path,
    *,
    stockfish: str | None = None,
    engines: int = 2,
    concurrency: int = 32,
    ratings: dict[str, float] | None = None,
    ray_address: str | None = None,
    force: bool = False,
    progress: bool = True,
    event: str = "chessformer lab",
) -> int:
    """Play the games of ``cfg`` missing from ``out``; returns the number of games in it."""
    experts = {s: parse_expert(s) for s in cfg.experts}
    store = GameStore(out, cfg.identity(), force=force)
    tasks = list(pairing_tasks(cfg, store.done))
    bar = GameProgress(cfg.games, store.done, enabled=progress)
    try:
        for result in run_tasks(
            tasks, experts, stockfish, engines, concurrency, ray_address, bar.plies
        ):
            store.add(result.task.index, pgn_text(result, ratings, event))
            bar.game(result.result)
    finally:
        store.close()  # games already finished are kept, even on Ctrl-C
        bar.close()
    return store.done


def run_tasks(
    tasks: Sequence[GameTask],
    experts: dict[str, Expert],
    stockfish: str | None,
    engines: int,
    concurrency: int,
    ray_address: str | None,
    on_ply: Callable[[int], None] | None = None,
) -> Iterator[GameResult]:
    """Games of ``tasks`` as they end: here, or on a Ray cluster when ``ray_address`` is set."""
    if not tasks:
        return
    needs_sf = any(e.uses_stockfish for e in experts.values())
    if ray_address:
        from chessformer.lab.ray_backend import ray_tasks

        yield from ray_tasks(ray_address, tasks, experts, stockfish, engines, concurrency, on_ply)
        return
    path = find_stockfish(stockfish) if needs_sf else None
    yield from play_games(
        tasks, experts, stockfish=path, engines=engines, concurrency=concurrency, on_ply=on_ply
    )


_positive = int_at_least(1)


def add_play_options(p: argparse.ArgumentParser) -> None:
    """Options shared by every lab command that plays games."""
    p.add_argument("--stockfish", help="Stockfish executable (default: on PATH or /usr/games)")
    p.add_argument(
        "--engines",
        type=_positive,
        default=os.cpu_count() or 1,
        help="Stockfish processes (default: the number of cores)",
    )
    p.add_argument("--concurrency", type=_positive, default=32, help="games played at once")
    p.add_argument("--ray", metavar="ADDRESS", help="run on this Ray cluster (e.g. HOST:6379)")
    p.add_argument("--quiet", action="store_true", help="no progress display")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="chessformer lab generate", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("--experts", nargs="+", required=True, metavar="SPEC", help="expert specs")
    p.add_argument("--games", type=_positive, required=True, help="games in the file")
    p.add_argument("--out", type=Path, required=True, help="output .pgn.zst")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--opening-plies", type=int_at_least(0), default=4, help="random plies first")
    p.add_argument(
        "--max-plies", type=_positive, default=DEFAULT_MAX_PLIES, help="adjudicate a draw here"
    )
    p.add_argument("--ratings", type=Path, help="JSON {spec: rating} for WhiteElo/BlackElo")
    p.add_argument("--force", action="store_true", help="start the file again")
    add_play_options(p)
    return p


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    try:
        specs = tuple(dict.fromkeys(parse_expert(s).spec for s in args.experts))
        ratings = None
        if args.ratings is not None:
            ratings = {str(k): float(v) for k, v in json.loads(args.ratings.read_text()).items()}
        cfg = GenerateConfig(specs, args.games, args.seed, args.opening_plies, args.max_plies)
        done = generate(
            cfg,
            args.out,
            stockfish=args.stockfish,
            engines=args.engines,
            concurrency=args.concurrency,
            ratings=ratings,
            ray_address=args.ray,
            force=args.force,
            progress=not args.quiet,
        )
    except (
        ExpertSpecError,
        StoreError,
        EngineNotFoundError,
        EngineError,
        RayUnavailableError,
    ) as e:
        print(f"chessformer lab generate: {e}", file=sys.stderr)
        return 2
    except (OSError, ValueError) as e:  # an unreadable --ratings file
        print(f"chessformer lab generate: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nchessformer lab generate: interrupted; rerun to continue", file=sys.stderr)
        return 130
    print(f"{done} games in {args.out}", file=sys.stderr)
    return 0
