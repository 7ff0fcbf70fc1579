"""Glicko-2 and Bradley–Terry ratings (chessformer.arena.ratings)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from chessformer.arena.ratings import (
    DEFAULT_START,
    ELO_K,
    STOCKFISH_ANCHORS,
    Glicko2Rating,
    fit_bradley_terry,
    glicko2_update,
    rate_games,
)

SCALE = 173.7178


# --- Glicko-2 -------------------------------------------------------------------------------------


def test_glickman_worked_example() -> None:
    # Glickman, "Example of the Glicko-2 system": μ' = -0.2069, φ' = 0.8722, σ' = 0.05999,
    # printed as r' = 1464.06, RD' = 151.52. The printed r' comes from the rounded μ' (unrounded:
    # 1464.0507), and σ' = 0.059996 is printed truncated; so compare at the printed precision.
    new = glicko2_update(
        Glicko2Rating(1500.0, 200.0, 0.06),
        [(1400.0, 30.0, 1.0), (1550.0, 100.0, 0.0), (1700.0, 300.0, 0.0)],
    )
    assert round((new.rating - 1500.0) / SCALE, 4) == -0.2069
    assert round(new.rd / SCALE, 4) == 0.8722
    assert new.rating == pytest.approx(1464.06, abs=0.01)
    assert new.rd == pytest.approx(151.52, abs=0.01)
    assert new.volatility == pytest.approx(0.05999, abs=1e-5)


def _reference_one_game(r: Glicko2Rating, anchor: float, score: float, tau: float) -> Glicko2Rating:
    """Glicko-2 for one game against an RD-0 opponent, re-derived with plain bisection."""
    mu, phi, sigma = (r.rating - 1500.0) / SCALE, r.rd / SCALE, r.volatility
    e = 1.0 / (1.0 + math.exp(-(mu - (anchor - 1500.0) / SCALE)))  # g(0) = 1
    v = 1.0 / (e * (1.0 - e))
    delta = v * (score - e)
    a = math.log(sigma**2)

    def f(x: float) -> float:
        ex = math.exp(x)
        return ex * (delta**2 - phi**2 - v - ex) / (2 * (phi**2 + v + ex) ** 2) - (x - a) / tau**2

    lo, hi = a - 50.0, a + 50.0  # f is strictly decreasing with f(lo) > 0 > f(hi)
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if f(mid) > 0 else (lo, mid)
    sigma_new = math.exp(lo / 2)
    phi_new = 1.0 / math.sqrt(1.0 / (phi**2 + sigma_new**2) + 1.0 / v)
    mu_new = mu + phi_new**2 * (score - e)
    return Glicko2Rating(SCALE * mu_new + 1500.0, SCALE * phi_new, sigma_new)


def test_anchored_one_game_periods_match_rederivation() -> None:
    rng = np.random.default_rng(7)
    levels = rng.choice([1, 2, 3, 4, 5], size=60)
    scores = rng.choice([0.0, 0.5, 1.0], size=60)
    ref = DEFAULT_START
    for level, score in zip(levels, scores, strict=True):
        ref = _reference_one_game(ref, STOCKFISH_ANCHORS[int(level)], float(score), 0.5)
    got = rate_games(zip(levels.tolist(), scores.tolist(), strict=True))
    assert got.rating == pytest.approx(ref.rating, abs=1e-4)
    assert got.rd == pytest.approx(ref.rd, abs=1e-4)
    assert got.volatility == pytest.approx(ref.volatility, abs=1e-7)


def test_empty_period_only_grows_rd() -> None:
    r = Glicko2Rating(1600.0, 100.0, 0.06)
    new = glicko2_update(r, [])
    assert new.rating == r.rating
    assert new.rd == pytest.approx(SCALE * math.hypot(100.0 / SCALE, 0.06))


def test_win_draw_loss_ordering_and_rd_shrinks() -> None:
    after = {s: rate_games([(3, s)]) for s in (0.0, 0.5, 1.0)}
    assert after[1.0].rating > after[0.5].rating > after[0.0].rating
    assert all(r.rd < DEFAULT_START.rd for r in after.values())
    r = after[0.5]
    assert r.interval() == pytest.approx((r.rating - 1.96 * r.rd, r.rating + 1.96 * r.rd))


def test_stronger_opponent_moves_rating_more() -> None:
    wins = [rate_games([(level, 1.0)]).rating for level in (1, 2, 3, 4, 5)]
    losses = [rate_games([(level, 0.0)]).rating for level in (1, 2, 3, 4, 5)]
    assert wins == sorted(wins) and len(set(wins)) == 5
    assert losses == sorted(losses) and len(set(losses)) == 5


def test_winning_streak_rises_monotonically() -> None:
    r, history = DEFAULT_START, []
    for _ in range(30):
        r = glicko2_update(r, [(1867.0, 0.0, 1.0)])
        history.append(r.rating)
    assert all(b > a for a, b in itertools.pairwise(history))


def test_rd_floor_with_one_game_periods() -> None:
    # The paper's code notes RD cannot go below ~59.73 with one game per period: the fixed point of
    # 1/φ² = 1/(φ² + σ²) + 1/4 for σ = 0.06 and even games. Volatility drifts slightly below 0.06
    # in the meantime, so the floor is approached from just under.
    r = Glicko2Rating(1500.0, 500.0, 0.06)
    for _ in range(400):
        r = glicko2_update(r, [(1500.0, 0.0, 0.5)])
    assert r.rating == pytest.approx(1500.0)
    assert 55.0 < r.rd < 59.74


def test_configurable_anchors_and_bad_input() -> None:
    custom = rate_games([("sf-a", 1.0)], anchors={"sf-a": 1554.0})
    assert custom == rate_games([(1, 1.0)])
    with pytest.raises(ValueError, match="'sf-b'"):
        rate_games([("sf-b", 1.0)], anchors={"sf-a": 1554.0})
    with pytest.raises(ValueError, match=r"score must be in \[0, 1\], got 2.0"):
        rate_games([(1, 2.0)])
    with pytest.raises(ValueError, match="tau"):
        glicko2_update(DEFAULT_START, [(1500.0, 0.0, 1.0)], tau=0.0)


# --- Bradley–Terry --------------------------------------------------------------------------------


def _simulate(rng: np.random.Generator, rating: float, n: int) -> list[tuple[int, float]]:
    levels = rng.choice([1, 3, 5], size=n)
    p = 1.0 / (
        1.0 + 10.0 ** (-(rating - np.array([STOCKFISH_ANCHORS[int(k)] for k in levels])) / 400)
    )
    u = rng.random(n)
    # Draws as half wins: win / draw / loss with mean score p (draw probability 0.2·min(p, 1-p)·2).
    d = 0.4 * np.minimum(p, 1.0 - p)
    scores = np.where(u < p - d / 2, 1.0, np.where(u < p + d / 2, 0.5, 0.0))
    return list(zip(levels.tolist(), scores.tolist(), strict=True))


def test_bt_recovers_known_ratings_within_interval() -> None:
    rng = np.random.default_rng(2024)
    truth = {"cf@0.001": 1650.0, "cf@0.3": 1500.0, "cf@1.0": 1100.0}
    games = [(name, lvl, s) for name, r in truth.items() for lvl, s in _simulate(rng, r, 600)]
    fit = fit_bradley_terry(games, STOCKFISH_ANCHORS)
    for name, r in truth.items():
        est = fit[name]
        assert est.lower < r < est.upper, (name, est)
        assert est.upper - est.lower < 200.0
        assert est.games == 600


def test_bt_interval_coverage_is_about_95_percent() -> None:
    rng = np.random.default_rng(11)
    hits, trials = 0, 300
    for _ in range(trials):
        est = fit_bradley_terry(
            [("m", lvl, s) for lvl, s in _simulate(rng, 1700.0, 120)], STOCKFISH_ANCHORS
        )
        hits += est["m"].lower < 1700.0 < est["m"].upper
    assert 0.91 <= hits / trials <= 0.99


def test_bt_single_anchor_closed_form() -> None:
    # k wins in n games against one anchor: r = A + 400·log10(k / (n - k)), se = 1 / √(n p (1-p)).
    n, k, anchor = 50, 35, 1867.0
    fit = fit_bradley_terry([("m", "sf", 1.0)] * k + [("m", "sf", 0.0)] * (n - k), {"sf": anchor})
    p = k / n
    assert fit["m"].rating == pytest.approx(anchor + 400 * math.log10(k / (n - k)), abs=1e-6)
    assert fit["m"].se == pytest.approx(1 / math.sqrt(n * p * (1 - p)) / ELO_K, rel=1e-9)
    assert fit["m"].points == k


def test_bt_draws_count_as_half_wins() -> None:
    drawn = fit_bradley_terry([("m", 3, 0.5), ("m", 3, 0.5)], STOCKFISH_ANCHORS)["m"]
    split = fit_bradley_terry([("m", 3, 1.0), ("m", 3, 0.0)], STOCKFISH_ANCHORS)["m"]
    assert drawn.rating == pytest.approx(1867.0) == split.rating
    assert drawn.se == pytest.approx(split.se)


def test_bt_joint_fit_with_games_between_players() -> None:
    # B never meets an anchor; it is rated through A. At the MLE each player's expected points
    # equal its actual points (the likelihood equations).
    games = [("A", 1, 1.0)] * 6 + [("A", 1, 0.0)] * 4 + [("A", 5, 0.5)] * 4 + [("A", 5, 0.0)] * 6
    games += [("B", "A", 1.0)] * 3 + [("A", "B", 1.0)] * 5 + [(3, "B", 0.5)]  # last: anchor first
    fit = fit_bradley_terry(games, STOCKFISH_ANCHORS)
    rating = {
        **{k: v for k, v in STOCKFISH_ANCHORS.items()},
        **{k: v.rating for k, v in fit.items()},
    }
    for name in ("A", "B"):
        expected = actual = 0.0
        for p, o, s in games:
            if name in (p, o):
                e = 1 / (1 + 10 ** (-(rating[p] - rating[o]) / 400))
                expected += e if p == name else 1 - e
                actual += s if p == name else 1 - s
        assert expected == pytest.approx(actual, abs=1e-7)
    assert fit["B"].se > fit["A"].se
    assert fit["B"].games == 9


def test_bt_all_wins_gives_open_interval() -> None:
    few = fit_bradley_terry([("m", 1, 1.0)] * 5, STOCKFISH_ANCHORS)["m"]
    many = fit_bradley_terry([("m", 1, 1.0)] * 40, STOCKFISH_ANCHORS)["m"]
    for r in (few, many):
        assert r.rating == math.inf and r.upper == math.inf and math.isnan(r.se) and not r.finite
        # The finite end is the likelihood-ratio bound: log-likelihood z²/2 below its supremum 0.
        assert 5 * math.log(1 / (1 + 10 ** (-(few.lower - 1554) / 400))) == pytest.approx(
            -(1.96**2) / 2
        )
    assert many.lower > few.lower > 1554.0 - 400.0
    losses = fit_bradley_terry([("m", 1, 0.0)] * 5, STOCKFISH_ANCHORS)["m"]
    assert losses.rating == -math.inf and losses.lower == -math.inf
    assert losses.upper == pytest.approx(2 * 1554.0 - few.lower)


def test_bt_infinite_player_does_not_disturb_the_others() -> None:
    base = [("x", 1, 1.0), ("x", 3, 0.0), ("x", 5, 0.5)]
    alone = fit_bradley_terry(base, STOCKFISH_ANCHORS)["x"]
    # "w" beats everyone, including x, so in the limit its games tell nothing about x.
    fit = fit_bradley_terry([*base, ("w", 5, 1.0), ("w", "x", 1.0)], STOCKFISH_ANCHORS)
    assert fit["w"].rating == math.inf
    assert fit["x"].rating == pytest.approx(alone.rating, abs=1e-6)
    assert fit["x"].games == 4


def test_bt_unidentified_players_are_an_error() -> None:
    with pytest.raises(ValueError, match="not identified"):
        fit_bradley_terry([("a", 1, 0.5), ("b", "c", 0.5)], STOCKFISH_ANCHORS)
    with pytest.raises(ValueError, match=r"got 1.5"):
        fit_bradley_terry([("a", 1, 1.5)], STOCKFISH_ANCHORS)
    assert fit_bradley_terry([(1, 3, 1.0)], STOCKFISH_ANCHORS) == {}
