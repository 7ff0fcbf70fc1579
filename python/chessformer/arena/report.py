"""Rating-vs-temperature report from match results: tables (Markdown, CSV) and the plot.

Run::

    chessformer report runs/cf-1000 runs/cf-1300 [--out OUT] [--data-max-rating 1000]

Each DIR holds ``games.jsonl`` (the match results format, version 1, in docs/formats.md; a path to
the file itself also works). For every (model, temperature) — and opponent level with
``--by-level`` — the report gives the Glicko-2 rating as the paper computes it (one rating period
per game, in game order) with its 95% interval, the joint Bradley–Terry maximum-likelihood rating
with its interval, and games / wins / draws / losses. It writes ``ratings.md`` (also printed),
``ratings.csv`` and ``rating_vs_temperature.{png,svg}`` (log-scale temperature axis, one line per
model, like the paper's Figure 1) into OUT, by default ``DIR/report`` for one DIR and
``./report`` for several. The plot needs matplotlib (``pip install 'chessformer[plot]'``).

What a reader can trust: a row with fewer than ``--min-games`` (10) games against rated
opponents shows "too few games" instead of a rating (and stays off the plot); a Bradley–Terry
rating that is infinite (every rated game won or lost) shows its finite 95% bound (``> 1830``,
``< 1210``); the CSV keeps every number with a ``note``. Each DIR's games are rated against that
DIR's own anchors (the ratings its games recorded); ``--anchor`` applies to every DIR.

The results format itself (reading and writing ``games.jsonl``) is :mod:`chessformer.arena.results`.
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chessformer._io import replacing
from chessformer.arena.ratings import Glicko2Rating, anchor_argument, fit_bradley_terry, rate_games
from chessformer.arena.results import (
    RESULTS_FILE,
    GameRecord,
    ResultsFormatError,
    append_result,
    model_score,
    read_results,
)

__all__ = [
    "REPORT_DIR",
    "REPORT_FILES",
    "GameRecord",
    "ResultsFormatError",
    "Row",
    "anchor_argument",
    "append_result",
    "main",
    "markdown_table",
    "model_score",
    "read_results",
    "summarize",
    "write_csv",
    "write_plot",
]

MIN_RATED_GAMES = 10  # fewer rated games in a group: "too few games", no rating shown
REPORT_DIR = "report"  # a match folder's report, the default --out for one DIR
REPORT_FILES = (
    "ratings.md",
    "ratings.csv",
    "rating_vs_temperature.png",
    "rating_vs_temperature.svg",
)


@dataclass(frozen=True)
class Row:
    """One line of the report table."""

    model: str  # as shown (the directory is added when two directories share a model name)
    source: str  # the results file
    temperature: float
    opponent_level: int | None  # None: all levels pooled
    games: int
    wins: int
    draws: int
    losses: int
    glicko2: Glicko2Rating | None  # None: no game against a rated opponent
    rated_games: int  # games against a rated opponent (the ones the ratings use)
    bt_rating: float
    bt_se: float
    bt_lower: float
    bt_upper: float

    @property
    def score(self) -> float:
        return (self.wins + 0.5 * self.draws) / self.games


def _results_path(arg: str) -> Path:
    p = Path(arg)
    return p / RESULTS_FILE if p.is_dir() else p


def summarize(
    sources: Sequence[tuple[Path, Sequence[GameRecord]]],
    by_level: bool,
    anchors_given: Mapping[int, float] | None = None,
) -> list[Row]:
    """Rate every (source, model, temperature[, level]) group; one joint BT fit over all of them.

    Opponent ratings come from the records of each source: an anchor belongs to its results
    file and is never applied to another file's games. ``anchors_given`` (level -> rating), the
    user's explicit request, adds or replaces them in every source. Games against an opponent
    without a rating count in W/D/L and the score but in neither rating; a group with no rated
    game has no ratings (NaN)."""
    given = dict(anchors_given or {})
    # (source, opponent, level) -> rating: each file's anchors are its own
    anchors: dict[tuple[str, str, int], float] = {}
    # (source, model, temperature, level or None) -> games sorted by game_index
    groups: dict[tuple[str, str, float, int | None], list[GameRecord]] = {}
    for path, records in sources:
        first: dict[tuple[str, int], int] = {}
        for rec in records:
            akey = (str(path), rec.opponent, rec.opponent_level)
            rating = given.get(rec.opponent_level, rec.opponent_rating)
            if rating is not None:
                if anchors.setdefault(akey, rating) != rating:
                    raise ResultsFormatError(
                        f"{path}: {rec.opponent!r} level {rec.opponent_level!r} is rated "
                        f"{rating!r} in game {rec.game_index!r} but {anchors[akey]!r} in game "
                        f"{first[akey[1:]]!r}"
                    )
                first.setdefault(akey[1:], rec.game_index)
            level = rec.opponent_level if by_level else None
            groups.setdefault((str(path), rec.model, rec.temperature, level), []).append(rec)
    for games in groups.values():
        games.sort(key=lambda r: r.game_index)

    def opponent(source: str, r: GameRecord) -> tuple[str, str, int]:
        return (source, r.opponent, r.opponent_level)

    def rated(source: str, games: Sequence[GameRecord]) -> list[GameRecord]:
        return [r for r in games if opponent(source, r) in anchors]

    bt = fit_bradley_terry(
        (
            (key, opponent(key[0], rec), rec.score)
            for key, games in groups.items()
            for rec in rated(key[0], games)
        ),
        anchors,
    )
    nan = math.nan
    # A model name is ambiguous on the plot if it comes from several results files.
    files_of: dict[str, set[str]] = {}
    for source, model, _, _ in groups:
        files_of.setdefault(model, set()).add(source)

    rows = []
    # Rows in the order the files were given, then model, temperature, level.
    order = {str(path): i for i, (path, _) in enumerate(sources)}
    for key in sorted(
        groups, key=lambda k: (order[k[0]], k[1], k[2], -1 if k[3] is None else k[3])
    ):
        source, model, temperature, level = key
        games = groups[key]
        scored = rated(source, games)
        glicko = (
            rate_games(((opponent(source, r), r.score) for r in scored), anchors)
            if scored
            else None
        )
        b = bt.get(key)
        label = model if len(files_of[model]) == 1 else f"{model} ({Path(source).parent})"
        rows.append(
            Row(
                model=label,
                source=source,
                temperature=temperature,
                opponent_level=level,
                games=len(games),
                wins=sum(r.score == 1.0 for r in games),
                draws=sum(r.score == 0.5 for r in games),
                losses=sum(r.score == 0.0 for r in games),
                glicko2=glicko,
                rated_games=len(scored),
                bt_rating=b.rating if b else nan,
                bt_se=b.se if b else nan,
                bt_lower=b.lower if b else nan,
                bt_upper=b.upper if b else nan,
            )
        )
    return rows


def unrated_levels(
    sources: Sequence[tuple[Path, Sequence[GameRecord]]],
    anchors_given: Mapping[int, float] | None = None,
) -> list[int]:
    """Opponent levels with games that have no rating: none in their own file's records, none
    in ``anchors_given``."""
    given = anchors_given or {}
    out = set()
    for _, records in sources:
        rated = {(r.opponent, r.opponent_level) for r in records if r.opponent_rating is not None}
        out |= {
            r.opponent_level
            for r in records
            if (r.opponent, r.opponent_level) not in rated and r.opponent_level not in given
        }
    return sorted(out)


def rating_note(r: Row, min_games: int = MIN_RATED_GAMES) -> str:
    """Why ``r`` has no (two-sided) rating to show, or "" when it has one."""
    if r.glicko2 is None:
        return "no rated opponent"
    if r.rated_games < min_games:
        return f"too few games ({r.rated_games} rated, {min_games} needed)"
    if r.bt_rating == math.inf:
        return "won every rated game"
    if r.bt_rating == -math.inf:
        return "lost every rated game"
    return ""


def markdown_table(rows: Iterable[Row], by_level: bool, min_games: int = MIN_RATED_GAMES) -> str:
    """The table ``report`` prints. A group with fewer than ``min_games`` rated games gets no
    rating, only a note saying so; a Bradley–Terry rating that is infinite (every rated game
    won or lost) shows its finite 95% bound, e.g. ``< 1210``, never ``-inf``."""
    head = ["model", "τ"] + (["level"] if by_level else [])
    head += ["games", "W", "D", "L", "score", "Glicko-2", "95% CI", "BT", "95% CI"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r.model, f"{r.temperature:g}"] + ([str(r.opponent_level)] if by_level else [])
        cells += [str(r.games), str(r.wins), str(r.draws), str(r.losses), f"{r.score:.3f}"]
        note = rating_note(r, min_games)
        if r.glicko2 is None or r.rated_games < min_games:
            cells += ["—", f"({note})", "—", ""]
        else:
            lo, hi = r.glicko2.interval()
            cells += [f"{r.glicko2.rating:.0f}", f"[{lo:.0f}, {hi:.0f}]"]
            if r.bt_rating == math.inf:
                cells += [f"> {r.bt_lower:.0f}", f"({note})"]
            elif r.bt_rating == -math.inf:
                cells += [f"< {r.bt_upper:.0f}", f"({note})"]
            elif math.isnan(r.bt_rating):
                cells += ["—", ""]
            else:
                cells += [f"{r.bt_rating:.0f}", f"[{r.bt_lower:.0f}, {r.bt_upper:.0f}]"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


CSV_COLUMNS = [
    "model",
    "source",
    "temperature",
    "opponent_level",
    "games",
    "wins",
    "draws",
    "losses",
    "score",
    "glicko2_rating",
    "glicko2_rd",
    "glicko2_volatility",
    "glicko2_lower",
    "glicko2_upper",
    "bt_rating",
    "bt_se",
    "bt_lower",
    "bt_upper",
    "rated_games",
    "note",
]


def write_csv(rows: Iterable[Row], path: Path, min_games: int = MIN_RATED_GAMES) -> None:
    """Full-precision numbers (``repr`` round-trips), computed whatever the number of games;
    ``inf`` for an infinite BT rating, ``nan`` for none; ``note`` says when a rating is not
    one to trust (too few games, every game won or lost)."""
    with replacing(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(CSV_COLUMNS)
        for r in rows:
            g = r.glicko2 or Glicko2Rating(math.nan, math.nan, math.nan)
            lo, hi = g.interval()
            w.writerow(
                [
                    r.model,
                    r.source,
                    repr(r.temperature),
                    "all" if r.opponent_level is None else r.opponent_level,
                    r.games,
                    r.wins,
                    r.draws,
                    r.losses,
                    repr(r.score),
                    repr(g.rating),
                    repr(g.rd),
                    repr(g.volatility),
                    repr(lo),
                    repr(hi),
                    repr(r.bt_rating),
                    repr(r.bt_se),
                    repr(r.bt_lower),
                    repr(r.bt_upper),
                    r.rated_games,
                    rating_note(r, min_games),
                ]
            )


def write_plot(
    rows: Sequence[Row],
    stem: Path,
    rating: str,
    data_max: Sequence[float],
    min_games: int = MIN_RATED_GAMES,
) -> list[Path]:
    """Rating against temperature, one line per model; returns the files written. Groups with
    fewer than ``min_games`` rated games are left off.

    Raises ImportError when matplotlib is missing.
    """
    # Figure without pyplot: no global state and no GUI backend; PNG renders through Agg.
    from matplotlib import rc_context
    from matplotlib.figure import Figure
    from matplotlib.ticker import NullLocator

    fig = Figure(figsize=(7.0, 4.5), layout="constrained")
    ax = fig.add_subplot()
    series: dict[tuple[str, int | None], list[Row]] = {}
    for r in rows:
        series.setdefault((r.model, r.opponent_level), []).append(r)
    temps = sorted({r.temperature for r in rows if r.temperature > 0})
    if any(r.temperature <= 0 for r in rows):
        print("warning: temperature 0 cannot go on a log axis; left off the plot", file=sys.stderr)
    n = len(series)
    colors: list[Any] = []
    for k, ((model, level), rs) in enumerate(series.items()):
        pts = []
        for r in sorted(rs, key=lambda r: r.temperature):
            if r.temperature <= 0 or r.rated_games < min_games:
                continue
            if rating == "glicko2":
                if r.glicko2 is None:
                    continue
                y, (lo, hi) = r.glicko2.rating, r.glicko2.interval()
            else:
                y, lo, hi = r.bt_rating, r.bt_lower, r.bt_upper
            if math.isfinite(y):
                pts.append((r.temperature, y, y - lo, hi - y))
        if not pts:
            continue
        # Nudge the lines apart (multiplicatively, on the log axis) so error bars don't overlap.
        nudge = 1.04 ** (k - (n - 1) / 2)
        label = model if level is None else f"{model} vs level {level}"
        line = ax.errorbar(
            [p[0] * nudge for p in pts],
            [p[1] for p in pts],
            yerr=[[p[2] for p in pts], [p[3] for p in pts]],
            marker="o",
            capsize=3,
            label=label,
        )
        colors.append(line.lines[0].get_color())
    # One maximum per model line (in order) takes that line's colour; otherwise they are grey.
    matched = len(data_max) == len(colors) > 1
    for k, m in enumerate(data_max):
        color = colors[k] if matched else "0.4"
        ax.axhline(m, linestyle="--", color=color, label=f"max rating in training data ({m:g})")
    ax.set_xscale("log")
    ax.set_xticks(temps, labels=[f"{t:g}" for t in temps])
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlabel("temperature")
    ax.set_ylabel("Glicko-2 rating" if rating == "glicko2" else "Bradley–Terry rating")
    ax.set_title("Rating against Stockfish vs sampling temperature (95% intervals)")
    ax.grid(True, alpha=0.3)
    if ax.get_legend_handles_labels()[0]:  # nothing rated (only unanchored levels): no legend
        ax.legend(fontsize="small")
    written = []
    for ext in ("png", "svg"):
        out = stem.with_suffix(f".{ext}")
        # No date and fixed clip-path ids (a fixed hash salt) in the SVG, so an unchanged report
        # is byte-identical.
        with replacing(out) as tmp, rc_context({"svg.hashsalt": "chessformer"}):
            meta = {"Date": None} if ext == "svg" else None
            fig.savefig(tmp, format=ext, dpi=150, metadata=meta)
        written.append(out)
    return written


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="chessformer report",
        description="Rating-vs-temperature table and plot from match results (games.jsonl).",
    )
    p.add_argument("dirs", nargs="+", metavar="DIR", help="match directory (or games.jsonl)")
    p.add_argument(
        "--out", help="output directory (default: DIR/report for one DIR, ./report for several)"
    )
    p.add_argument(
        "--data-max-rating",
        type=float,
        action="append",
        default=[],
        metavar="N",
        help="draw a dashed line at the training data's maximum rating; repeat it once per model, "
        "in DIR order, to colour each like its model",
    )
    p.add_argument(
        "--by-level",
        action="store_true",
        help="rate each Stockfish level separately, as the paper's evaluation code does "
        "(default: pool all levels of a temperature, in game_index order)",
    )
    p.add_argument(
        "--anchor",
        type=anchor_argument,
        action="append",
        default=[],
        metavar="LEVEL=RATING",
        help="rate games against this Stockfish level with this fixed rating, in every DIR (adds "
        "an anchor to a level played without one, or replaces the one recorded; without it each "
        "DIR's games are rated only with that DIR's own anchors)",
    )
    p.add_argument(
        "--min-games",
        type=int,
        default=MIN_RATED_GAMES,
        metavar="N",
        help=f"fewer rated games than N in a row: no rating shown, only 'too few games' "
        f"(default {MIN_RATED_GAMES})",
    )
    p.add_argument(
        "--plot-rating",
        choices=("glicko2", "bt"),
        default="glicko2",
        help="which rating the plot shows (default: glicko2)",
    )
    return p


def main(argv: list[str]) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.min_games < 1:
        parser.error(f"--min-games must be >= 1, got {args.min_games}")
    try:
        sources = []
        for d in args.dirs:
            if not Path(d).exists():
                raise ResultsFormatError(f"{d!r}: no such match folder or results file")
            path = _results_path(d)
            if not path.exists():
                raise ResultsFormatError(f"{d!r} holds no {RESULTS_FILE}: not a match folder")
            records = read_results(path)
            print(f"{path}: {len(records)} games", file=sys.stderr)
            if records:
                sources.append((path, records))
        if not sources:
            print("chessformer report: error: no games found", file=sys.stderr)
            return 1
        given = dict(args.anchor)
        rows = summarize(sources, args.by_level, given)
        unrated = unrated_levels(sources, given)
    except (OSError, ValueError) as e:
        print(f"chessformer report: error: {e}", file=sys.stderr)
        return 1

    if args.out is not None:
        out = Path(args.out)
    elif len(args.dirs) == 1:
        out = _results_path(args.dirs[0]).parent / REPORT_DIR
    else:
        out = Path("report")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        print(f"chessformer report: error: cannot create --out {str(out)!r}: {e}", file=sys.stderr)
        return 1

    table = markdown_table(rows, args.by_level, args.min_games)
    if any(r.glicko2 is not None and r.rated_games < args.min_games for r in rows):
        table += (
            f"\nA rating needs at least {args.min_games} games against rated opponents "
            "(`--min-games`); rows with fewer show none.\n"
        )
    if unrated:
        table += (
            f"\nGames against level(s) {', '.join(map(str, unrated))} count in W/D/L and the score "
            "but not in the ratings: those levels have no rating anchor (add one with "
            "`chessformer report --anchor LEVEL=RATING`).\n"
        )
    print(table, end="")
    with replacing(out / "ratings.md") as tmp:
        tmp.write_text(table, encoding="utf-8")
    write_csv(rows, out / "ratings.csv", args.min_games)
    written = [out / "ratings.md", out / "ratings.csv"]
    try:
        written += write_plot(
            rows,
            out / "rating_vs_temperature",
            args.plot_rating,
            args.data_max_rating,
            args.min_games,
        )
    except ImportError:
        print(
            "matplotlib is not installed, so no plot was written; install it with "
            "`pip install 'chessformer[plot]'` (or `pip install matplotlib`)",
            file=sys.stderr,
        )
    print("wrote " + ", ".join(str(p) for p in written), file=sys.stderr)
    return 0
