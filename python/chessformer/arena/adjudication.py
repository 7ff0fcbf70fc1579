"""When a game ends besides checkmate: the move limit, draw claims and score adjudication.

Pure functions of the position and the scores the engines report, so the rules are tested
without an engine (tests/test_adjudication.py)::

    end = game_over(board, rules)                     # the rules of chess, then the move limit
    streaks, end = adjudicate(rules, streaks, score)  # after each move that came with a score

``end`` is ``(result, termination)`` -- the PGN result from White's view and the name written to
``games.jsonl`` -- or None while the game goes on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["MATE_CP", "Ending", "Rules", "Score", "Streaks", "adjudicate", "game_over"]

MATE_CP = 30000  # a mate score counts as this many centipawns for adjudication
PAPER_MAX_MOVES = 89  # the paper's harness: its MAX_MOVES

Ending = tuple[str, str]  # (result from White's view, termination)


@dataclass(frozen=True)
class Rules:
    """The adjudication settings of a match (``chessformer match --help``, "adjudication")."""

    max_moves: int = PAPER_MAX_MOVES  # a draw after both sides played move max_moves + 1; 0: off
    claim_draws: bool = False  # threefold repetition and the fifty-move rule end the game
    resign_moves: int = 0  # 0: no resign adjudication
    resign_score: int = 1000  # centipawns
    draw_moves: int = 0  # 0: no draw adjudication
    draw_score: int = 10  # centipawns
    draw_after: int = 40  # full move number after which draw adjudication counts


@dataclass(frozen=True)
class Score:
    """A score reported with a move, from the view of the side that played it."""

    cp: int | None  # centipawns
    mate: int | None  # mate in N (negative: getting mated), when reported instead of cp
    white: bool  # the side that reported it is White
    fullmove: int  # the full move number after the move


@dataclass(frozen=True)
class Streaks:
    """Consecutive scores of one side: winning (>= resign_score), losing (<= -resign_score),
    and drawish (|score| <= draw_score after move draw_after)."""

    winning: int = 0
    losing: int = 0
    drawish: int = 0


def game_over(board: Any, rules: Rules) -> Ending | None:
    """The game's end by the rules of chess (draws claimed only with ``claim_draws``), or by
    the move limit: the paper's harness stops once its full-move counter exceeds MAX_MOVES,
    i.e. after both sides have played move MAX_MOVES + 1."""
    outcome = board.outcome(claim_draw=rules.claim_draws)
    if outcome is not None:
        return outcome.result(), outcome.termination.name.lower()
    if rules.max_moves > 0 and board.fullmove_number > rules.max_moves + 1:
        return "1/2-1/2", "move_limit"
    return None


def adjudicate(rules: Rules, streaks: Streaks, score: Score) -> tuple[Streaks, Ending | None]:
    """The reporting side's streaks after ``score``, and the game's end if they decide it: a
    win for the side whose score stayed beyond ``resign_score`` for ``resign_moves`` reports in
    a row, a draw when it stayed within ``draw_score`` for ``draw_moves`` reports after move
    ``draw_after``. A move without a score changes nothing."""
    if score.cp is None and score.mate is None:
        return streaks, None
    mate_cp = MATE_CP if (score.mate or 0) > 0 else -MATE_CP
    cp = score.cp if score.cp is not None else mate_cp
    winning, losing, drawish = streaks.winning, streaks.losing, streaks.drawish
    end: Ending | None = None
    if rules.resign_moves > 0:
        winning = winning + 1 if cp >= rules.resign_score else 0
        losing = losing + 1 if cp <= -rules.resign_score else 0
        if winning >= rules.resign_moves:
            end = ("1-0" if score.white else "0-1"), "adjudication_resign"
        elif losing >= rules.resign_moves:
            end = ("0-1" if score.white else "1-0"), "adjudication_resign"
    if end is None and rules.draw_moves > 0 and score.fullmove > rules.draw_after:
        drawish = drawish + 1 if abs(cp) <= rules.draw_score else 0
        if drawish >= rules.draw_moves:
            end = "1/2-1/2", "adjudication_draw"
    return Streaks(winning, losing, drawish), end
