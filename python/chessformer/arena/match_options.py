"""`chessformer match`'s command line: its options, their checks, and the configuration they
give (:class:`~chessformer.arena.config.MatchConfig`)."""

from __future__ import annotations

import argparse
import hashlib
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from chessformer._argtypes import int_list, number_list
from chessformer.arena.config import (
    PAPER_LEVELS,
    PAPER_MAX_MOVES,
    PAPER_MOVETIME,
    PAPER_TEMPERATURES,
    MatchConfig,
    MatchConfigError,
)
from chessformer.arena.ratings import anchor_argument
from chessformer.arena.stockfish import UciClient

__all__ = ["check_args", "check_device", "config_from_args", "parser", "probe_stockfish"]


def parser() -> argparse.ArgumentParser:
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
        type=int_list,
        default=PAPER_LEVELS,
        metavar="LIST",
        help="Skill Levels, e.g. 1,3,5 (default, the paper's)",
    )
    lv.add_argument(
        "--uci-elo",
        type=int_list,
        metavar="LIST",
        help="play UCI_LimitStrength at these UCI_Elo values instead of Skill Levels; each must "
        "lie in the range the engine advertises (Stockfish 15.1: 1350..2850)",
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
        type=number_list(at_least=0.0),
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
        help="continue in a DIR whose match.json has another configuration, or add the match to a "
        "non-empty DIR that is not a match folder (files the match did not write are never "
        "overwritten: it refuses instead)",
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


MAX_GAMES = 10_000_000  # per match: its schedule (~300 bytes a game) is held in memory
MAX_RANDOM_PLIES = 200  # a random opening longer than a game under the paper's move cap


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
    total = args.games * len(levels) * len(args.temperatures)
    if total > MAX_GAMES:
        raise MatchConfigError(
            f"--games {args.games} x {len(levels)} levels x {len(args.temperatures)} "
            f"temperatures is {total:,} games; one match plays at most {MAX_GAMES:,} (the "
            "schedule is held in memory)"
        )
    if args.random_plies > MAX_RANDOM_PLIES:
        raise MatchConfigError(
            f"--random-plies must be <= {MAX_RANDOM_PLIES}, got {args.random_plies}"
        )


def config_from_args(
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


def probe_stockfish(path: str, uci_elo: Sequence[int] | None) -> str:
    """Start the engine once: fail fast on a broken binary, or on levels outside the range the
    engine advertises (Stockfish ignores an out-of-range ``setoption``: the games would be played
    at another strength than recorded); return its `id name`."""
    engine = UciClient(path, {"Threads": 1})
    try:
        needed = ["UCI_LimitStrength", "UCI_Elo"] if uci_elo else ["Skill Level"]
        missing = [o for o in needed if o not in engine.option_names]
        if missing:
            raise MatchConfigError(f"{engine.name} ({path}) has no UCI option {missing[0]!r}")
        if uci_elo and "UCI_Elo" in engine.option_ranges:
            low, high = engine.option_ranges["UCI_Elo"]
            bad = [v for v in uci_elo if not low <= v <= high]
            if bad:
                raise MatchConfigError(
                    f"--uci-elo {bad[0]} is outside {engine.name}'s calibrated UCI_Elo range "
                    f"{low}..{high}"
                )
        return engine.name
    finally:
        engine.close()


def check_device(name: str) -> str:
    """The model's device: ``auto`` resolved, anything torch cannot use here refused with a
    MatchConfigError (before Stockfish starts or the folder is touched)."""
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except RuntimeError as e:
        raise MatchConfigError(f"--device {name!r} is not a device ({e})") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise MatchConfigError(
                f"--device {name!r}: CUDA is not available here (torch {torch.__version__}, "
                f"{'built without CUDA' if torch.version.cuda is None else 'no usable GPU'}); "
                "use --device cpu"
            )
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise MatchConfigError(
                f"--device {name!r}: there are {torch.cuda.device_count()} CUDA devices"
            )
    elif device.type != "cpu":
        try:
            torch.empty(1, device=device)
        except (RuntimeError, AssertionError) as e:
            raise MatchConfigError(f"--device {name!r} is not usable here ({e})") from None
    return name
