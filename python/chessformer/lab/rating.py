"""Experts, Stockfish levels and the model at each temperature on one rating scale.

Every game of a lab run (calibration and matches, read back from their PGN files) goes into one
joint Bradley-Terry fit (:func:`chessformer.arena.ratings.fit_bradley_terry`) with the ladder's
paper levels fixed at their anchors. The report is the rating-vs-temperature table and plot, each
expert's rating drawn as a line, and the transcendence margin: the model's best rating below
τ = 1 minus the best expert's, with the verdict "transcends" only when the two 95% intervals do
not overlap.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from chessformer._io import write_json
from chessformer.arena.ratings import BTRating, fit_bradley_terry, rate_games

if TYPE_CHECKING:
    from chessformer.lab.experiment import Experiment

__all__ = ["fit_file_ratings", "read_results", "write_report"]

_SCORE = {"1-0": 1.0, "0-1": 0.0, "1/2-1/2": 0.5}


def read_results(paths: Iterable[Path]) -> Iterator[tuple[str, str, float]]:
    """``(white, black, white's score)`` of every finished game in PGN(.zst) files (missing files
    are skipped: a stage not run yet)."""
    from chessformer.data.pgn import read_games

    for path in paths:
        if not Path(path).exists():
            continue
        for game in read_games(str(path), annotations=False, on_error="ignore"):
            h = game.headers
            score = _SCORE.get(h.get("Result", ""))
            if score is not None and "White" in h and "Black" in h:
                yield h["White"], h["Black"], score


def joint_fit(
    games: Sequence[tuple[str, str, float]], anchors: dict[str, float], *, prior: bool = False
) -> tuple[dict[Any, BTRating], str]:
    """The joint fit, and a note when it needed a prior.

    Small samples can leave the maximum-likelihood fit undefined (chains of players who won or
    lost everything); the fit is then redone with one virtual draw per pairing (a weak prior, as
    BayesElo adds), and the note says so. ``prior=True`` always adds it (every rating finite).
    """
    if not prior:
        try:
            return fit_bradley_terry(games, anchors), ""
        except (np.linalg.LinAlgError, RuntimeError):
            pass
    draws = [(w, b, 0.5) for w, b in sorted({(w, b) for w, b, _ in games})]
    note = "one virtual draw per pairing: the plain fit does not exist for these games"
    if prior:
        note = "one virtual draw per pairing"
    return fit_bradley_terry([*games, *draws], anchors), note


def fit_file_ratings(
    paths: Sequence[Path], anchors: dict[str, float], *, prior: bool = False
) -> dict[Any, BTRating]:
    return joint_fit(list(read_results(paths)), anchors, prior=prior)[0]


def _fmt(r: BTRating) -> str:
    if r.finite:
        return f"{r.rating:.0f} [{r.lower:.0f}, {r.upper:.0f}]"
    return f"{'≥' if r.rating > 0 else '≤'} {r.lower if r.rating > 0 else r.upper:.0f}"


def _temperature(name: str) -> float | None:
    m = re.fullmatch(r"chessformer:model=run,temperature=([0-9.e+-]+)", name)
    return float(m.group(1)) if m else None


def write_report(out: Path, exp: Experiment, opponents: Sequence[str]) -> str:
    """Fit, then write ratings.json, report.md and rating.png into ``out``; returns the verdict."""
    games = list(read_results([out / "calibrate.pgn.zst", out / "matches.pgn.zst"]))
    ratings, note = joint_fit(games, exp.anchors)
    for spec, value in exp.anchors.items():
        ratings[spec] = BTRating(value, 0.0, value, value, 0, 0.0)
    points: dict[tuple[str, str], list[float]] = {}
    for w, b, s in games:
        points.setdefault((w, b), []).append(s)
        points.setdefault((b, w), []).append(1.0 - s)
    model = sorted(
        ((t, str(k)) for k in ratings if (t := _temperature(str(k))) is not None),
    )
    expert_ratings = {e: ratings[e] for e in exp.experts if e in ratings}
    best_expert = max(expert_ratings.values(), key=lambda r: r.rating, default=None)
    low = [ratings[n] for t, n in model if t < 1.0]
    best_low = max(low, key=lambda r: r.rating, default=None)
    at_one = next((ratings[n] for t, n in model if t == 1.0), None)
    verdict = _verdict(best_low, best_expert, at_one)

    lines = [f"# {exp.name}: the model's rating against temperature", ""]
    lines += [f"Joint Bradley-Terry fit of {len(games)} games; anchors: "]
    lines[-1] += ", ".join(f"{k} = {v:g}" for k, v in exp.anchors.items())
    if note:
        lines[-1] += f" ({note})"
    lines += [
        "",
        "| τ | rating [95% CI] | Glicko-2 [95% CI] | "
        + " | ".join(f"score vs {o}" for o in opponents)
        + " |",
    ]
    lines += ["|---|---|---|" + "---|" * len(opponents)]
    fixed = {k: r.rating for k, r in ratings.items() if r.finite and _temperature(str(k)) is None}
    for t, name in model:
        cells = []
        for o in opponents:
            got = points.get((name, o), [])
            cells.append(f"{sum(got) / len(got):.2f} ({len(got)})" if got else "")
        g2 = paper_glicko2(games, name, fixed)
        g2_text = f"{g2.rating:.0f} [{g2.lower:.0f}, {g2.upper:.0f}]" if g2 else ""
        lines.append(f"| {t:g} | {_fmt(ratings[name])} | {g2_text} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Glicko-2: the paper's protocol (start 1500, RD 500, one rating period per game, in the",
        "order played), each opponent fixed at its joint-fit rating.",
    ]
    lines += ["", "| player | rating [95% CI] | games |", "|---|---|---|"]
    for name in dict.fromkeys((*exp.experts, *exp.ladder)):  # an expert may be on the ladder
        if name in ratings:
            lines.append(f"| {name} | {_fmt(ratings[name])} | {ratings[name].games} |")
    lines += ["", f"**{verdict}**", ""]
    (out / "report.md").write_text("\n".join(lines))
    write_json(
        out / "ratings.json",
        {
            str(k): {
                "rating": _finite(v.rating),
                "lower": _finite(v.lower),
                "upper": _finite(v.upper),
                "games": v.games,
            }
            for k, v in ratings.items()
        }
        | {"verdict": verdict},
    )
    _plot(out / "rating.png", exp, model, ratings, expert_ratings)
    return verdict


def paper_glicko2(
    games: Sequence[tuple[str, str, float]], player: str, fixed: dict[str, float]
) -> BTRating | None:
    """``player``'s Glicko-2 rating as the paper computes it, from its games (in file order)
    against opponents held at ``fixed`` ratings; None without such games."""
    played = []
    for w, b, s in games:
        if w == player and b in fixed:
            played.append((b, s))
        elif b == player and w in fixed:
            played.append((w, 1.0 - s))
    if not played:
        return None
    r = rate_games(played, fixed)
    lo, hi = r.interval()
    return BTRating(r.rating, r.rd, lo, hi, len(played), sum(s for _, s in played))


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None  # JSON has no infinity: an open interval end is null


def _verdict(best: BTRating | None, expert: BTRating | None, at_one: BTRating | None) -> str:
    if best is None or expert is None:
        return "no verdict: the model or the experts have no rating"
    margin = best.rating - expert.rating
    text = f"transcendence margin (best τ < 1 minus best expert): {margin:+.0f}"
    if best.lower > expert.upper:
        text += " -- transcends (95% intervals do not overlap)"
    else:
        text += " -- no transcendence (intervals overlap or the model is below)"
    if at_one is not None and math.isfinite(at_one.rating):
        text += f"; at τ = 1 the model is {at_one.rating - expert.rating:+.0f}"
    return text


def _plot(
    path: Path,
    exp: Experiment,
    model: list[tuple[float, str]],
    ratings: dict[Any, BTRating],
    experts: dict[str, BTRating],
) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    finite = [(t, ratings[n]) for t, n in model if ratings[n].finite]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    if finite:
        ts = [t for t, _ in finite]
        ys = [r.rating for _, r in finite]
        err = [[r.rating - r.lower for _, r in finite], [r.upper - r.rating for _, r in finite]]
        ax.errorbar(ts, ys, yerr=err, marker="o", capsize=3, color="black", label="model")
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for k, (name, r) in enumerate(experts.items()):
        if not r.finite:
            continue
        c = colors[k % len(colors)]
        ax.axhline(r.rating, color=c, lw=1.2, label=name)
        ax.axhspan(r.lower, r.upper, color=c, alpha=0.12)
    if finite and experts:
        best_t, best = max(
            ((t, r) for t, r in finite if t < 1.0), key=lambda x: x[1].rating, default=(None, None)
        )
        top = max((r for r in experts.values() if r.finite), key=lambda r: r.rating, default=None)
        if best_t is not None and best is not None and top is not None:
            ax.annotate(
                "",
                xy=(best_t, best.rating),
                xytext=(best_t, top.rating),
                arrowprops={"arrowstyle": "<->", "color": "crimson"},
            )
            ax.text(
                best_t * 1.15,
                (best.rating + top.rating) / 2,
                f"margin {best.rating - top.rating:+.0f}",
                color="crimson",
            )
    ax.set_xscale("log")
    ax.set_xlabel("temperature τ")
    ax.set_ylabel("rating (joint fit)")
    ax.set_title(f"{exp.name}: model vs its experts")
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
