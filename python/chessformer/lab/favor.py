"""`chessformer lab favor`: where does low temperature gain, position by position?

    chessformer lab favor lab-runs/denoising/matches.pgn.zst --model lab-runs/denoising/run \\
        --player chessformer: --positions 300 --out favor/denoising

The paper's analysis (its Fig. 4): in positions the model met, the reward of a move is Stockfish's
expected score after it (win + draw/2, from ``UCI_ShowWDL``, every legal move in one MultiPV
search), and the reward of a temperature is the model's expected reward at that temperature. The
gain of τ is its reward minus τ = 1's. The paper finds +2.15 percentage points on average for
τ = 0.001, carried by a few positions.

Where it concentrates: the *spread* of a position is the standard deviation of the reward under
the model's τ = 1 distribution -- the imitation of its experts' choices -- i.e. how much the
experts' choices differ in value there. The report gives the share of the total gain carried by
the 10% of positions with the largest spread, and the correlation of gain and spread.

Positions come from any games (chessformer.lab.sources: lab and match folders, PGN files, prepared
datasets); ``--player TEXT`` keeps the positions where the side to move's name contains TEXT
(``chessformer:`` for the model's own moves in a lab run). Writes ``positions.jsonl``,
``favor.json`` and ``favor.png`` into ``--out``.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chessformer import _core
from chessformer._argtypes import int_at_least, number_list
from chessformer._io import write_atomic, write_json
from chessformer.arena.stockfish import EngineError, EngineNotFoundError, find_stockfish
from chessformer.lab.sources import SourceError, iter_games
from chessformer.lab.uci import EnginePool, Search

__all__ = ["PositionFavor", "analyse", "move_rewards"]

DEFAULT_TEMPERATURES = (0.001, 0.01, 0.1, 0.3, 0.5, 0.75, 1.0, 1.5)
TOP_SHARE = 0.10  # the share of positions (by spread) whose part of the gain is reported


@dataclass
class PositionFavor:
    fen: str
    moves: list[str]  # from the start position
    rewards: dict[str, float]  # legal move -> expected score for the side to move
    reward: dict[float, float]  # temperature -> model's expected reward
    spread: float

    def gain(self, t: float) -> float:
        return self.reward[t] - self.reward[1.0]


def parse_wdl_lines(lines: list[str]) -> dict[str, float]:
    """Root move -> expected score (W + D/2) from the last MultiPV info line of each move."""
    out: dict[str, float] = {}
    for line in lines:
        words = line.split()
        if "wdl" not in words or "pv" not in words or "multipv" not in words:
            continue
        k = words.index("wdl")
        try:
            w, d = int(words[k + 1]), int(words[k + 2])
        except (IndexError, ValueError):
            continue
        out[words[words.index("pv") + 1]] = (w + d / 2) / 1000.0
    return out


def sample_positions(
    source: str, n: int, seed: int, player: str | None, max_games: int | None
) -> list[list[str]]:
    """Up to ``n`` distinct positions (as move lists) drawn uniformly from the games' plies."""
    candidates: list[list[str]] = []
    for game in iter_games(source, max_games):
        for ply in range(len(game.moves)):
            name = game.white if ply % 2 == 0 else game.black
            if player is None or player in name:
                candidates.append(game.moves[:ply])
    rng = random.Random(seed)
    rng.shuffle(candidates)
    seen: set[int] = set()
    out = []
    for moves in candidates:
        board = _core.Board()
        for m in moves:
            board.push_uci(m)
        if board.count_legal() < 2 or board.zobrist in seen:
            continue
        seen.add(board.zobrist)
        out.append(moves)
        if len(out) == n:
            break
    return out


def move_rewards(
    pool: EnginePool, positions: list[list[str]], go: str
) -> list[dict[str, float] | None]:
    """Each legal move's expected score, one MultiPV search per position (None: incomplete)."""
    fens = []
    for i, moves in enumerate(positions):
        board = _core.Board()
        for m in moves:
            board.push_uci(m)
        fens.append((board.fen(), set(board.legal_moves_uci())))
        options = (("MultiPV", str(board.count_legal())), ("UCI_ShowWDL", "true"))
        pool.submit(Search(i, fens[-1][0], go, (*options, ("Skill Level", "20")), info=True))
    out: list[dict[str, float] | None] = [None] * len(positions)
    done = 0
    while done < len(positions):
        for reply in pool.poll(None):
            rewards = parse_wdl_lines(reply.info)
            legal = fens[reply.token][1]
            out[reply.token] = rewards if set(rewards) == legal else None
            done += 1
    return out


def analyse(
    model: str,
    positions: list[list[str]],
    rewards: list[dict[str, float] | None],
    temperatures: tuple[float, ...],
) -> list[PositionFavor]:
    from chessformer.board import Board
    from chessformer.inference import InferenceEngine

    engine = InferenceEngine.from_checkpoint(model, max_batch=1)
    temps = tuple(sorted(set(temperatures) | {1.0}))
    out = []
    for moves, r in zip(positions, rewards, strict=True):
        if r is None:
            continue
        board = Board()
        for m in moves:
            board.push(m)
        reward = {}
        p1: dict[str, float] = {}
        for t in temps:
            p = engine.move_probabilities(board, temperature=t)
            total = sum(p.values()) or 1.0
            reward[t] = sum(prob * r[m] for m, prob in p.items() if m in r) / total
            if t == 1.0:
                p1 = {m: prob / total for m, prob in p.items()}
        mean = reward[1.0]
        spread = math.sqrt(sum(prob * (r[m] - mean) ** 2 for m, prob in p1.items() if m in r))
        out.append(PositionFavor(board.fen(), moves, r, reward, spread))
    return out


def summarise(results: list[PositionFavor], temperatures: tuple[float, ...]) -> dict[str, Any]:
    n = len(results)
    summary: dict[str, Any] = {"positions": n, "temperatures": {}}
    for t in temperatures:
        gains = [r.gain(t) for r in results]
        mean = sum(gains) / n if n else math.nan
        sd = math.sqrt(sum((g - mean) ** 2 for g in gains) / (n - 1)) if n > 1 else math.nan
        summary["temperatures"][f"{t:g}"] = {
            "mean_gain_pp": 100 * mean,
            "ci95_pp": 100 * 1.96 * sd / math.sqrt(n) if n > 1 else None,
            "positions_gaining": sum(g > 1e-9 for g in gains),
            "positions_losing": sum(g < -1e-9 for g in gains),
        }
    low = min(temperatures)
    gains = [r.gain(low) for r in results]
    total = sum(gains)
    by_spread = sorted(results, key=lambda r: -r.spread)
    top = by_spread[: max(1, math.ceil(TOP_SHARE * n))] if n else []
    summary["lowest_temperature"] = low
    summary["top_spread_share_of_gain"] = (
        sum(r.gain(low) for r in top) / total if total > 0 else None
    )
    summary["gain_spread_correlation"] = _corr([r.spread for r in results], gains)
    by_gain = sorted(gains, reverse=True)
    k = max(1, math.ceil(TOP_SHARE * n)) if n else 0
    summary["top_gain_share_of_gain"] = sum(by_gain[:k]) / total if total > 0 else None
    return summary


def _corr(x: list[float], y: list[float]) -> float | None:
    n = len(x)
    if n < 3:
        return None
    mx, my = sum(x) / n, sum(y) / n
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y, strict=True))
    sx = math.sqrt(sum((a - mx) ** 2 for a in x))
    sy = math.sqrt(sum((b - my) ** 2 for b in y))
    return sxy / (sx * sy) if sx > 0 and sy > 0 else None


def _plot(path: Path, results: list[PositionFavor], summary: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    temps = summary["temperatures"]
    low = summary["lowest_temperature"]
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    ts = [float(t) for t in temps]
    axes[0].errorbar(
        ts,
        [v["mean_gain_pp"] for v in temps.values()],
        yerr=[v["ci95_pp"] or 0 for v in temps.values()],
        marker="o",
        capsize=3,
    )
    axes[0].axhline(0, color="grey", lw=0.8)
    axes[0].set_xscale("log")
    axes[0].set_xlabel("temperature τ")
    axes[0].set_ylabel("mean gain over τ = 1 (percentage points)")
    gains = [100 * r.gain(low) for r in results]
    axes[1].hist(gains, bins=40)
    axes[1].set_yscale("log")
    axes[1].set_xlabel(f"gain of τ = {low:g} per position (pp)")
    axes[1].set_ylabel("positions")
    axes[2].scatter([r.spread for r in results], gains, s=8, alpha=0.6)
    axes[2].set_xlabel("spread of the experts' choices (sd of reward at τ = 1)")
    axes[2].set_ylabel(f"gain of τ = {low:g} (pp)")
    fig.suptitle("favor: where low temperature gains")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="chessformer lab favor", description=__doc__.split("\n\n")[0])
    p.add_argument("games", help="games to take positions from: lab/match folder, PGN, dataset")
    p.add_argument("--model", required=True, help="the model (a train run or checkpoint)")
    p.add_argument("--out", type=Path, required=True, help="folder for the results")
    p.add_argument("--player", help="keep positions where the mover's name contains this")
    p.add_argument("--positions", type=int_at_least(1), default=300, help="positions to analyse")
    p.add_argument("--max-games", type=int_at_least(1), help="read at most N games")
    p.add_argument("--temperatures", type=number_list(0.0), default=DEFAULT_TEMPERATURES)
    p.add_argument(
        "--depth", type=int_at_least(1), default=8, help="Stockfish depth of the reward search"
    )
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--stockfish", help="Stockfish executable")
    p.add_argument("--engines", type=int_at_least(1), default=2, help="Stockfish processes")
    return p


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    if args.positions < 1 or args.depth < 1 or args.engines < 1:
        print(
            "chessformer lab favor: --positions, --depth, --engines must be >= 1", file=sys.stderr
        )
        return 2
    try:
        positions = sample_positions(
            args.games, args.positions, args.seed, args.player, args.max_games
        )
        if not positions:
            raise SourceError(f"{args.games}: no position to analyse (check --player)")
        pool = EnginePool(find_stockfish(args.stockfish), args.engines)
        try:
            rewards = move_rewards(pool, positions, f"go depth {args.depth}")
        finally:
            pool.close()
        results = analyse(args.model, positions, rewards, args.temperatures)
    except (SourceError, EngineNotFoundError, EngineError, OSError) as e:
        print(f"chessformer lab favor: {e}", file=sys.stderr)
        return 2
    summary = summarise(results, args.temperatures)
    args.out.mkdir(parents=True, exist_ok=True)
    write_atomic(
        args.out / "positions.jsonl",
        "".join(
            json.dumps(
                {
                    "fen": r.fen,
                    "moves": r.moves,
                    "spread": r.spread,
                    "reward": {f"{t:g}": v for t, v in r.reward.items()},
                    "move_rewards": r.rewards,
                }
            )
            + "\n"
            for r in results
        ),
    )
    write_json(args.out / "favor.json", summary)
    _plot(args.out / "favor.png", results, summary)
    low = summary["temperatures"][f"{summary['lowest_temperature']:g}"]
    print(
        f"{len(results)} positions; gain of τ = {summary['lowest_temperature']:g} over τ = 1: "
        f"{low['mean_gain_pp']:+.2f} pp (95% CI ±{low['ci95_pp'] or 0:.2f}); the top 10% by "
        f"spread carry {_pct(summary['top_spread_share_of_gain'])} of it, the top 10% by gain "
        f"{_pct(summary['top_gain_share_of_gain'])}"
    )
    return 0


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.0f}%"
