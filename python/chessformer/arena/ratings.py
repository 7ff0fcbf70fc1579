"""Ratings for match results: Glicko-2 against fixed anchors, and a joint Bradley–Terry fit.

Two estimators of a model's playing strength from games against Stockfish:

- :func:`rate_games` — Glicko-2 (Glickman, "Example of the Glicko-2 system", glicko.net), set up as
  in the paper's evaluation code: the model starts at 1500 / RD 500 / σ 0.06, the system constant
  τ is 0.5, every game is its own rating period (updated in the order played), and the opponents
  are anchors with RD 0 that never move. Its interval is ``rating ± 1.96·RD``. With one game per
  period the estimate weights recent games more and depends on their order; the RD settles near
  60 however many games are played, because each period adds σ back.
- :func:`fit_bradley_terry` — the order-free alternative: the joint maximum-likelihood fit of the
  Elo logistic model (400-point scale, a draw counts as half a win) for any number of free players
  against fixed anchors, with Wald intervals from the observed Fisher information.

Used by ``chessformer report``; as a library::

    from chessformer.arena.ratings import rate_games, fit_bradley_terry
    r = rate_games([(1, 1.0), (3, 0.5), (5, 0.0)])      # (Stockfish level, model's score)
    lo, hi = r.interval()
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np

# The paper's Stockfish anchors (Skill Level -> rating), fixed with RD 0.
STOCKFISH_ANCHORS: Mapping[int, float] = MappingProxyType(
    {1: 1554.0, 2: 1759.0, 3: 1867.0, 4: 2006.0, 5: 2148.0}
)

# Glickman's conversion factor between the Glicko and Glicko-2 scales (400 / ln 10, as printed).
GLICKO2_SCALE = 173.7178
GLICKO2_CENTER = 1500.0
DEFAULT_TAU = 0.5
# Glickman's convergence tolerance for the volatility iteration.
VOLATILITY_EPSILON = 1e-6
# z for a two-sided 95% normal interval.
Z95 = 1.96

# Elo logistic: P(win) = 1 / (1 + 10^(-(r_a - r_b) / 400)); ELO_K converts points to logits.
ELO_K = math.log(10.0) / 400.0


@dataclass(frozen=True)
class Glicko2Rating:
    """A Glicko-2 rating on the familiar (Glicko) scale."""

    rating: float
    rd: float  # rating deviation, in rating points
    volatility: float  # σ, on the Glicko-2 scale

    def interval(self, z: float = Z95) -> tuple[float, float]:
        """``(rating - z·RD, rating + z·RD)``; 95% for the default z."""
        return (self.rating - z * self.rd, self.rating + z * self.rd)


# The paper's starting point for a model.
DEFAULT_START = Glicko2Rating(rating=1500.0, rd=500.0, volatility=0.06)


def _g(phi: float) -> float:
    # Down-weights a game by the opponent's uncertainty; g(0) = 1 for anchors.
    return 1.0 / math.sqrt(1.0 + 3.0 * phi * phi / (math.pi * math.pi))


def _new_volatility(
    sigma: float, phi: float, v: float, delta: float, tau: float, eps: float
) -> float:
    """Step 5: solve f(x) = 0 for x = ln σ'² with the Illinois (regula falsi) iteration."""
    a = math.log(sigma * sigma)
    delta2 = delta * delta
    phi2 = phi * phi

    def f(x: float) -> float:
        ex = math.exp(x)
        d = phi2 + v + ex
        return ex * (delta2 - phi2 - v - ex) / (2.0 * d * d) - (x - a) / (tau * tau)

    big_a = a
    if delta2 > phi2 + v:
        big_b = math.log(delta2 - phi2 - v)
    else:
        # f is decreasing, f(a) >= 0 here, so stepping left by τ must cross zero.
        k = 1
        while f(a - k * tau) < 0.0:
            k += 1
            if k > 10_000:
                raise RuntimeError(f"Glicko-2 volatility bracket not found (sigma={sigma!r})")
        big_b = a - k * tau
    f_a, f_b = f(big_a), f(big_b)
    for _ in range(10_000):
        if abs(big_b - big_a) <= eps:
            return math.exp(big_a / 2.0)
        big_c = big_a + (big_a - big_b) * f_a / (f_b - f_a)
        f_c = f(big_c)
        if f_c * f_b <= 0.0:
            big_a, f_a = big_b, f_b
        else:
            # The Illinois modification: halve the retained end's value so it cannot stall.
            f_a /= 2.0
        big_b, f_b = big_c, f_c
    raise RuntimeError(f"Glicko-2 volatility iteration did not converge (sigma={sigma!r})")


def glicko2_update(
    player: Glicko2Rating,
    games: Sequence[tuple[float, float, float]],
    tau: float = DEFAULT_TAU,
    *,
    eps: float = VOLATILITY_EPSILON,
) -> Glicko2Rating:
    """One Glicko-2 rating period: ``player`` after ``games`` of ``(opp_rating, opp_rd, score)``.

    ``score`` is the player's: 1 win, 0.5 draw, 0 loss. With no games only the RD grows (step 6).
    Follows Glickman's steps 1-8 literally; opponents' ratings are taken as they were before the
    period, as the system requires.
    """
    if not (player.rd >= 0.0 and math.isfinite(player.rd)):
        raise ValueError(f"rating deviation must be finite and >= 0, got {player.rd!r}")
    if not player.volatility > 0.0:
        raise ValueError(f"volatility must be > 0, got {player.volatility!r}")
    if not tau > 0.0:
        raise ValueError(f"tau must be > 0, got {tau!r}")
    mu = (player.rating - GLICKO2_CENTER) / GLICKO2_SCALE
    phi = player.rd / GLICKO2_SCALE
    sigma = player.volatility
    if not games:
        phi_star = math.sqrt(phi * phi + sigma * sigma)
        return Glicko2Rating(player.rating, phi_star * GLICKO2_SCALE, sigma)

    v_inv = 0.0
    delta_sum = 0.0
    for opp_rating, opp_rd, score in games:
        if not 0.0 <= score <= 1.0:
            raise ValueError(f"score must be in [0, 1], got {score!r}")
        if not opp_rd >= 0.0:
            raise ValueError(f"opponent rating deviation must be >= 0, got {opp_rd!r}")
        mu_j = (opp_rating - GLICKO2_CENTER) / GLICKO2_SCALE
        g_j = _g(opp_rd / GLICKO2_SCALE)
        e_j = 1.0 / (1.0 + math.exp(-g_j * (mu - mu_j)))
        v_inv += g_j * g_j * e_j * (1.0 - e_j)
        delta_sum += g_j * (score - e_j)
    if v_inv <= 0.0:
        raise ValueError("the games carry no information (expected scores are exactly 0 or 1)")
    v = 1.0 / v_inv
    delta = v * delta_sum

    sigma_new = _new_volatility(sigma, phi, v, delta, tau, eps)
    phi_star = math.sqrt(phi * phi + sigma_new * sigma_new)
    phi_new = 1.0 / math.sqrt(1.0 / (phi_star * phi_star) + v_inv)
    mu_new = mu + phi_new * phi_new * delta_sum
    return Glicko2Rating(
        rating=GLICKO2_SCALE * mu_new + GLICKO2_CENTER,
        rd=GLICKO2_SCALE * phi_new,
        volatility=sigma_new,
    )


def rate_games(
    results: Iterable[tuple[Hashable, float]],
    anchors: Mapping[Any, float] = STOCKFISH_ANCHORS,
    *,
    start: Glicko2Rating = DEFAULT_START,
    tau: float = DEFAULT_TAU,
) -> Glicko2Rating:
    """Glicko-2 rating of a player from ``(opponent, score)`` games, in the order played.

    ``opponent`` is a key of ``anchors`` (by default a Stockfish skill level); anchors have RD 0
    and never move. Each game is one rating period, as in the paper's evaluation code.
    """
    rating = start
    for opponent, score in results:
        try:
            anchor = anchors[opponent]
        except KeyError:
            known = ", ".join(repr(k) for k in anchors)
            raise ValueError(
                f"no anchor rating for opponent {opponent!r} (known: {known})"
            ) from None
        rating = glicko2_update(rating, [(float(anchor), 0.0, float(score))], tau)
    return rating


@dataclass(frozen=True)
class BTRating:
    """A player's Bradley–Terry (Elo logistic) maximum-likelihood rating.

    ``rating`` is ``+inf``/``-inf`` when the player won/lost every game it has; the interval is
    then open on that side (see :func:`fit_bradley_terry`) and ``se`` is NaN.
    """

    rating: float
    se: float  # standard error in rating points, from the observed Fisher information
    lower: float
    upper: float
    games: int
    points: float  # wins + draws / 2

    @property
    def finite(self) -> bool:
        return math.isfinite(self.rating)


def fit_bradley_terry(
    games: Iterable[tuple[Hashable, Hashable, float]],
    anchors: Mapping[Any, float],
    *,
    z: float = Z95,
    tol: float = 1e-9,
    max_iter: int = 200,
) -> dict[Hashable, BTRating]:
    """Joint maximum-likelihood Elo ratings of every non-anchor player.

    ``games`` are ``(player, opponent, score)`` with ``score`` the player's (1, 0.5 or 0; a draw
    counts as half a win, i.e. the binomial log-likelihood with fractional outcomes). Keys found in
    ``anchors`` are fixed at their rating; every other key is a free player. Players may also play
    each other, as long as each is linked to an anchor through the games. Games between two
    anchors carry no information and are skipped.

    Finite ratings come with a Wald interval ``rating ± z·se``, ``se`` from the inverse of the
    observed Fisher information (the negative Hessian of the log-likelihood at the maximum).

    When is the MLE infinite? When a player won (or lost) every game it has, the likelihood keeps
    rising as its rating goes to +inf (-inf). Such players are reported with ``rating = ±inf`` and
    an open interval: ``[lower, +inf)`` (``(-inf, upper]``), where the finite end is the
    likelihood-ratio bound — the rating at which the player's log-likelihood is ``z²/2`` below its
    supremum of 0, its opponents held at their estimates (for z = 1.96 a 95% bound). They are
    removed before fitting the others, which is exact in the limit (their games then contribute
    nothing to anyone else's likelihood); removal repeats while it exposes new such players. No
    prior is added, so finite ratings are plain MLEs. A separated *group* of players (say, two that
    only draw each other and beat every anchor) is not detected this way; the fit then fails to
    converge and raises ``RuntimeError``.
    """
    if not z > 0.0:
        raise ValueError(f"z must be > 0, got {z!r}")
    players: dict[Hashable, int] = {}
    rows: list[tuple[int, int, float, float, float]] = []  # (i, j, fixed_i, fixed_j, score)
    for player, opponent, score in games:
        score = float(score)
        if not 0.0 <= score <= 1.0:
            raise ValueError(f"score must be in [0, 1], got {score!r}")
        p_fixed, o_fixed = player in anchors, opponent in anchors
        if p_fixed and o_fixed:
            continue
        if p_fixed:
            # Always put a free player first: the game from the other side.
            player, opponent, score = opponent, player, 1.0 - score
            p_fixed, o_fixed = False, True
        if player == opponent:
            raise ValueError(f"player {player!r} cannot play itself")
        i = players.setdefault(player, len(players))
        if o_fixed:
            rows.append((i, -1, 0.0, float(anchors[opponent]), score))
        else:
            rows.append((i, players.setdefault(opponent, len(players)), 0.0, 0.0, score))
    if not players:
        return {}

    n = len(players)
    gi = np.array([r[0] for r in rows], dtype=np.int64)
    gj = np.array([r[1] for r in rows], dtype=np.int64)
    anchor_x = np.array([r[3] for r in rows], dtype=np.float64) * ELO_K  # logits
    s = np.array([r[4] for r in rows], dtype=np.float64)
    vs_player = gj >= 0

    n_games = np.bincount(gi, minlength=n) + np.bincount(gj[vs_player], minlength=n)
    points = np.bincount(gi, weights=s, minlength=n) + np.bincount(
        gj[vs_player], weights=1.0 - s[vs_player], minlength=n
    )

    # Peel off players with all wins / all losses among the games still in play.
    inf_sign = np.zeros(n)  # +1: +inf, -1: -inf, 0: finite
    active = np.ones(len(rows), dtype=bool)
    while True:
        live_j = vs_player & active
        g_cnt = np.bincount(gi[active], minlength=n) + np.bincount(gj[live_j], minlength=n)
        p_sum = np.bincount(gi[active], weights=s[active], minlength=n) + np.bincount(
            gj[live_j], weights=1.0 - s[live_j], minlength=n
        )
        has = (g_cnt > 0) & (inf_sign == 0)
        new_pos = has & (p_sum >= g_cnt)
        new_neg = has & (p_sum <= 0.0)
        if not (new_pos.any() or new_neg.any()):
            break
        inf_sign[new_pos] = 1.0
        inf_sign[new_neg] = -1.0
        gone = inf_sign != 0
        active &= ~gone[gi] & ~(vs_player & gone[np.where(vs_player, gj, 0)])

    names = list(players)
    free = inf_sign == 0
    _check_connected(names, free, gi[active], gj[active], n)

    x = np.zeros(n)
    x[free] = float(np.mean([float(v) for v in anchors.values()])) * ELO_K if anchors else 0.0
    cov = _newton(x, free, gi[active], gj[active], anchor_x[active], s[active], tol, max_iter)

    out: dict[Hashable, BTRating] = {}
    for k, idx in players.items():
        games_k, points_k = int(n_games[idx]), float(points[idx])
        if inf_sign[idx] == 0:
            rating = float(x[idx]) / ELO_K
            se = math.sqrt(float(cov[idx, idx])) / ELO_K
            out[k] = BTRating(rating, se, rating - z * se, rating + z * se, games_k, points_k)
        else:
            bound = _open_bound(idx, inf_sign, x, gi, gj, anchor_x, s, z) / ELO_K
            if inf_sign[idx] > 0:
                out[k] = BTRating(math.inf, math.nan, bound, math.inf, games_k, points_k)
            else:
                out[k] = BTRating(-math.inf, math.nan, -math.inf, bound, games_k, points_k)
    return out


def _check_connected(
    names: Sequence[Hashable], free: np.ndarray, gi: np.ndarray, gj: np.ndarray, n: int
) -> None:
    # A free player is identified only if a chain of games links it to an anchor.
    linked = np.zeros(n, dtype=bool)
    linked[gi[gj < 0]] = True
    pairs = gj >= 0
    a, b = gi[pairs], gj[pairs]
    while True:
        grown = linked.copy()
        grown[a[linked[b]]] = True
        grown[b[linked[a]]] = True
        if (grown == linked).all():
            break
        linked = grown
    lost = [names[int(k)] for k in np.flatnonzero(free & ~linked)]
    if lost:
        raise ValueError(
            f"ratings of {lost!r} are not identified: no chain of games links them to an anchor"
        )


def _loglik(
    x: np.ndarray, gi: np.ndarray, gj: np.ndarray, anchor_x: np.ndarray, s: np.ndarray
) -> float:
    d = x[gi] - np.where(gj >= 0, x[np.maximum(gj, 0)], anchor_x)
    # log σ(d) = -log1p(e^-d), written stably with logaddexp.
    return float(-(s * np.logaddexp(0.0, -d) + (1.0 - s) * np.logaddexp(0.0, d)).sum())


def _newton(
    x: np.ndarray,
    free: np.ndarray,
    gi: np.ndarray,
    gj: np.ndarray,
    anchor_x: np.ndarray,
    s: np.ndarray,
    tol: float,
    max_iter: int,
) -> np.ndarray:
    """Maximise the log-likelihood over ``x[free]`` in place; return the covariance (n × n)."""
    n = len(x)
    idx = np.flatnonzero(free)
    cov = np.full((n, n), np.nan)
    if len(idx) == 0:
        return cov
    vs_player = gj >= 0
    jj = np.maximum(gj, 0)
    ll = _loglik(x, gi, gj, anchor_x, s)
    for _ in range(max_iter):
        d = x[gi] - np.where(vs_player, x[jj], anchor_x)
        p = 1.0 / (1.0 + np.exp(-d))
        resid, w = s - p, p * (1.0 - p)
        grad = np.bincount(gi, weights=resid, minlength=n)
        grad -= np.bincount(gj[vs_player], weights=resid[vs_player], minlength=n)
        hess = np.zeros((n, n))  # negative Hessian = observed Fisher information
        np.add.at(hess, (gi, gi), w)
        a, b, wp = gi[vs_player], gj[vs_player], w[vs_player]
        np.add.at(hess, (b, b), wp)
        np.add.at(hess, (a, b), -wp)
        np.add.at(hess, (b, a), -wp)
        info = hess[np.ix_(idx, idx)]
        step = np.linalg.solve(info, grad[idx])
        # Damped Newton: the log-likelihood is concave, so halving the step always recovers.
        t = 1.0
        while True:
            trial = x.copy()
            trial[idx] += t * step
            ll_trial = _loglik(trial, gi, gj, anchor_x, s)
            if ll_trial >= ll - 1e-12 or t < 1e-6:
                break
            t /= 2.0
        x[:] = trial
        ll = ll_trial
        if np.max(np.abs(t * step)) < tol * ELO_K:
            cov[np.ix_(idx, idx)] = np.linalg.inv(info)
            return cov
    raise RuntimeError(
        "Bradley–Terry fit did not converge; a group of players may have won or lost every game "
        "against everyone outside it (infinite MLE)"
    )


def _open_bound(
    k: int,
    inf_sign: np.ndarray,
    x: np.ndarray,
    gi: np.ndarray,
    gj: np.ndarray,
    anchor_x: np.ndarray,
    s: np.ndarray,
    z: float,
) -> float:
    """Likelihood-ratio bound (logits) for a player whose MLE is ±inf; see fit_bradley_terry."""
    vs_player = gj >= 0
    jj = np.maximum(gj, 0)
    finite_opp = ~vs_player | (inf_sign[jj] == 0)
    # Player k's games against anchors and finite players, as (opponent logit, k's score).
    first = (gi == k) & finite_opp
    opp_x = np.where(vs_player, x[jj], anchor_x)[first]
    score = s[first]
    second = vs_player & (gj == k) & (inf_sign[gi] == 0)
    opp_x = np.concatenate([opp_x, x[gi[second]]])
    score = np.concatenate([score, 1.0 - s[second]])
    if len(opp_x) == 0:
        return -math.inf if inf_sign[k] > 0 else math.inf
    target = -z * z / 2.0

    def loglik(r: float) -> float:
        d = r - opp_x
        return float(-(score * np.logaddexp(0.0, -d) + (1.0 - score) * np.logaddexp(0.0, d)).sum())

    # loglik rises to 0 towards the infinite side; bisect for where it crosses the target.
    sign = float(inf_sign[k])
    centre = float(np.mean(opp_x))
    near, far = centre, centre
    while loglik(far) < target:
        far += sign * 1.0
    while loglik(near) >= target:
        near -= sign * 1.0
    for _ in range(100):
        mid = 0.5 * (near + far)
        if loglik(mid) >= target:
            far = mid
        else:
            near = mid
    return float(0.5 * (near + far))


def anchor_argument(text: str) -> tuple[int, float]:
    """``LEVEL=RATING`` on a command line (argparse type of ``--anchor``)."""
    level, _, rating = text.partition("=")
    try:
        value = float(rating)
        if not math.isfinite(value):
            raise ValueError
        return int(level), value
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LEVEL=RATING, got {text!r}") from None
