"""`chessformer lab diversity`: how diverse are the experts behind a dataset?

    chessformer lab diversity data/le1000 data/le1300 data/le1500 --plot diversity.png
    chessformer lab diversity lab-runs/denoising/games.pgn.zst lab-runs/no-diversity/data

The paper's measure (its Fig. 5): in positions of the first 16 plies met more than 100 times, the
entropy of the next-move distribution, normalised by its maximum, the log of the number of legal
moves (0: everyone plays the same move; 1: uniformly random). The paper finds 0.70 / 0.66 / 0.64
for its <=1000 / <=1300 / <=1500 data: the less diverse the data, the less low temperature helps.
Positions are identified by their Zobrist key (transpositions count as one position). Lab games
start with random plies (``opening_plies``), which are the same uniform choice for every expert:
``--from-ply`` skips them.

Each input is a dataset folder, a PGN(.zst) file or a folder of them (chessformer.lab.sources).
Prints one row per input (mean over positions, and weighted by visits); ``--json`` writes every
position's numbers, ``--plot`` the distribution of per-position entropies per input.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from chessformer import _core
from chessformer._argtypes import int_at_least
from chessformer._io import write_json
from chessformer.lab.sources import SourceError, SourceGame, iter_games

__all__ = ["Diversity", "move_diversity"]

PAPER_PLIES = 16
PAPER_MIN_VISITS = 100


@dataclass
class Diversity:
    name: str
    games: int
    positions: list[tuple[str, int, int, float]]  # (FEN, visits, legal moves, normalised H)

    @property
    def mean(self) -> float:
        return (
            sum(p[3] for p in self.positions) / len(self.positions) if self.positions else math.nan
        )

    @property
    def weighted(self) -> float:
        visits = sum(p[1] for p in self.positions)
        return sum(p[1] * p[3] for p in self.positions) / visits if visits else math.nan


def normalised_entropy(counts: Iterable[int], legal: int) -> float:
    """Entropy of the empirical distribution ``counts`` divided by log(legal)."""
    c = [x for x in counts if x > 0]
    total = sum(c)
    h = -sum(x / total * math.log(x / total) for x in c)
    return h / math.log(legal) if legal > 1 else 0.0


def move_diversity(
    games: Iterable[SourceGame],
    name: str = "",
    *,
    plies: int = PAPER_PLIES,
    min_visits: int = PAPER_MIN_VISITS,
    from_ply: int = 0,
) -> Diversity:
    """Normalised move entropy of every position of plies ``from_ply`` .. ``from_ply + plies - 1``
    visited more than ``min_visits`` times (positions with one legal move are left out)."""
    moves_at: dict[int, Counter[str]] = {}
    info: dict[int, tuple[str, int]] = {}  # key -> (FEN, legal moves)
    n = 0
    for game in games:
        n += 1
        board = _core.Board()
        for ply, uci in enumerate(game.moves[: from_ply + plies]):
            if ply < from_ply:
                board.push_uci(uci)
                continue
            key = board.zobrist
            seen = moves_at.get(key)
            if seen is None:
                seen = moves_at[key] = Counter()
                info[key] = (board.fen(), board.count_legal())
            seen[uci] += 1
            try:
                board.push_uci(uci)
            except ValueError:
                break
    positions = []
    for key, seen in moves_at.items():
        visits = sum(seen.values())
        fen, legal = info[key]
        if visits > min_visits and legal > 1:
            positions.append((fen, visits, legal, normalised_entropy(seen.values(), legal)))
    positions.sort(key=lambda p: -p[1])
    return Diversity(name, n, positions)


def _plot(path: Path, results: Sequence[Diversity]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    data = [[p[3] for p in r.positions] or [math.nan] for r in results]
    ax.violinplot(data, showmeans=True)
    ax.set_xticks(range(1, len(results) + 1), [r.name for r in results], fontsize=7)
    ax.set_ylabel("normalised move entropy")
    ax.set_ylim(0, 1)
    ax.set_title("move diversity in common opening positions")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="chessformer lab diversity", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("inputs", nargs="+", help="dataset folders, PGN(.zst) files, match folders")
    p.add_argument(
        "--plies", type=int_at_least(1), default=PAPER_PLIES, help="opening depth (paper: 16)"
    )
    p.add_argument(
        "--min-visits",
        type=int_at_least(0),
        default=PAPER_MIN_VISITS,
        help="common = visited > N times",
    )
    p.add_argument(
        "--from-ply",
        type=int_at_least(0),
        default=0,
        help="skip the first N plies (e.g. a lab run's random opening plies)",
    )
    p.add_argument("--max-games", type=int_at_least(1), help="read at most N games of each input")
    p.add_argument("--json", type=Path, help="write every position's numbers here")
    p.add_argument("--plot", type=Path, help="write the per-position distribution plot here")
    return p


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    results = []
    try:
        for src in args.inputs:
            games = iter_games(src, args.max_games)
            results.append(
                move_diversity(
                    games, src, plies=args.plies, min_visits=args.min_visits, from_ply=args.from_ply
                )
            )
    except (SourceError, OSError) as e:
        print(f"chessformer lab diversity: {e}", file=sys.stderr)
        return 2
    width = max(len(r.name) for r in results)
    print(f"{'input':<{width}}  {'games':>8}  {'positions':>9}  {'mean':>6}  {'weighted':>8}")
    for r in results:
        print(
            f"{r.name:<{width}}  {r.games:>8}  {len(r.positions):>9}  {r.mean:>6.3f}  "
            f"{r.weighted:>8.3f}"
        )
    if args.json:
        write_json(
            args.json,
            [
                {
                    "input": r.name,
                    "games": r.games,
                    "mean": None if math.isnan(r.mean) else r.mean,
                    "weighted": None if math.isnan(r.weighted) else r.weighted,
                    "positions": [
                        {"fen": f, "visits": v, "legal": n, "entropy": h}
                        for f, v, n, h in r.positions
                    ],
                }
                for r in results
            ],
        )
    if args.plot:
        _plot(args.plot, results)
    return 0
