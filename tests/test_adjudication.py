"""Adjudication as pure functions, and the runner playing players that are not engines.

No Stockfish and no model here: positions come from python-chess (the oracle for the rules of
chess), scores are given, and the players of the last tests are scripted in Python.
"""

from __future__ import annotations

import io
import json
import queue
import random
from pathlib import Path
from typing import Any

import chess
import pytest

from chessformer.arena.adjudication import MATE_CP, Rules, Score, Streaks, adjudicate, game_over
from chessformer.arena.config import MatchConfig
from chessformer.arena.players import Player, Position, Reply
from chessformer.arena.results import read_results
from chessformer.arena.runner import MatchRunner, Progress
from chessformer.arena.schedule import GameSpec, schedule
from chessformer.board import Board


def _board(moves: list[str], fen: str | None = None) -> Board:
    board = Board(fen) if fen else Board()
    for m in moves:
        board.push(m)
    return board


FOOLS_MATE = ["f2f3", "e7e5", "g2g4", "d8h4"]
REPEAT = ["g1f3", "g8f6", "f3g1", "f6g8"] * 2  # the start position three times


def test_game_over_follows_the_rules_of_chess() -> None:
    assert game_over(_board(FOOLS_MATE), Rules()) == ("0-1", "checkmate")
    stalemate = "7k/5Q2/6K1/8/8/8/8/8 b - - 0 1"
    assert chess.Board(stalemate).is_stalemate()
    assert game_over(_board([], stalemate), Rules()) == ("1/2-1/2", "stalemate")
    assert game_over(_board([]), Rules()) is None


def test_draw_claims_only_when_asked() -> None:
    board = _board(REPEAT)
    assert chess.Board().can_claim_threefold_repetition() is False
    oracle = chess.Board()
    for m in REPEAT:
        oracle.push_uci(m)
    assert oracle.can_claim_threefold_repetition() and not oracle.is_game_over()
    assert game_over(board, Rules()) is None  # the paper's harness plays on
    assert game_over(board, Rules(claim_draws=True)) == ("1/2-1/2", "threefold_repetition")


@pytest.mark.parametrize("max_moves", [1, 3, 10])
def test_move_limit_after_both_sides_play_move_n_plus_1(max_moves: int) -> None:
    rng = random.Random(max_moves)
    oracle, board, rules = chess.Board(), Board(), Rules(max_moves=max_moves)
    plies = 0
    while game_over(board, rules) is None:
        move = rng.choice(sorted(m.uci() for m in oracle.legal_moves))
        oracle.push_uci(move)
        board.push(move)
        plies += 1
    assert game_over(board, rules) == ("1/2-1/2", "move_limit")
    assert plies == 2 * (max_moves + 1)
    assert game_over(board, Rules(max_moves=0)) is None  # 0: no limit


def _run(rules: Rules, scores: list[int | None], white: bool, start: int = 1) -> list[Any]:
    """The ends after each score in turn, from a side that reports them every move."""
    streaks, ends = Streaks(), []
    for k, cp in enumerate(scores):
        streaks, end = adjudicate(rules, streaks, Score(cp, None, white, start + k))
        ends.append(end)
    return ends


def test_resign_needs_n_scores_in_a_row() -> None:
    rules = Rules(resign_moves=3, resign_score=500)
    ends = _run(rules, [600, 700, 100, 600, 600, 600], white=False)
    assert ends[:5] == [None] * 5
    assert ends[5] == ("0-1", "adjudication_resign")  # Black reported winning: Black wins
    ends = _run(rules, [-500, -800, -MATE_CP], white=True)
    assert ends[2] == ("0-1", "adjudication_resign")  # White reported losing
    assert _run(Rules(resign_moves=0), [-5000] * 10, white=True) == [None] * 10


def test_mate_scores_count_as_decisive() -> None:
    rules = Rules(resign_moves=2)
    s, end = adjudicate(rules, Streaks(), Score(None, 3, True, 10))
    assert s.winning == 1 and end is None
    s, end = adjudicate(rules, s, Score(None, 2, True, 11))
    assert end == ("1-0", "adjudication_resign")
    s, end = adjudicate(rules, Streaks(), Score(None, -1, False, 10))
    assert s.losing == 1


def test_draw_only_after_draw_after() -> None:
    rules = Rules(draw_moves=2, draw_score=10, draw_after=40)
    assert _run(rules, [0, 0, 0], white=True, start=39) == [None, None, None]  # moves 39..41
    assert _run(rules, [0, 5], white=True, start=41)[1] == ("1/2-1/2", "adjudication_draw")
    assert _run(rules, [0, 50, 0], white=True, start=41) == [None, None, None]


def test_a_move_without_a_score_changes_nothing() -> None:
    rules = Rules(resign_moves=2, draw_moves=2)
    s = Streaks(winning=1, drawish=1)
    assert adjudicate(rules, s, Score(None, None, True, 50)) == (s, None)


# ---- the runner with scripted players ------------------------------------------------------------
class FirstMove(Player):
    """Plays the first legal move in sorted UCI order, answering on the queue from start()."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.new_games: list[tuple[int, GameSpec]] = []

    def start(self, slots: int, replies: queue.Queue[Reply]) -> None:
        self.replies = replies

    def new_game(self, slot: int, game: GameSpec) -> None:
        self.new_games.append((slot, game))

    def ask(self, slot: int, token: Any, game: GameSpec, position: Position) -> None:
        oracle = chess.Board(position.start_fen or chess.STARTING_FEN)
        for m in position.moves:
            oracle.push_uci(m)
        move = sorted(m.uci() for m in oracle.legal_moves)[0]
        self.replies.put(Reply(slot, token, move, score_cp=0, elapsed=0.001))


class Batched(Player):
    """A batched player: random legal moves from each game's seed, or an illegal move."""

    batched = True

    def __init__(self, illegal_once: bool = False) -> None:
        self.name, self.asked, self.calls = "batched", [], 0
        self.illegal_once = illegal_once

    def ask(self, slot: int, token: Any, game: GameSpec, position: Position) -> None:
        self.asked.append((slot, token, game, position))

    def flush(self) -> list[Reply]:
        self.calls += 1
        asked, self.asked = self.asked, []
        out = []
        for slot, token, game, pos in asked:
            if self.illegal_once:
                self.illegal_once = False
                out.append(Reply(slot, token, "a1a8"))
                continue
            legal = sorted(m.uci() for m in pos.board.legal_moves)
            rng = random.Random(game.seed + len(pos.moves))
            out.append(Reply(slot, token, rng.choice(legal)))
        return out


def _match(tmp_path: Path, model: Player, opponent: Player, **kw: Any) -> list[dict[str, Any]]:
    cfg = MatchConfig("m", "m", temperatures=(1.0,), games=4, levels=(1,), max_moves=20, **kw)
    runner = MatchRunner(
        cfg,
        tmp_path,
        schedule(cfg, []),
        model=model,
        opponent=opponent,
        concurrency=3,
        max_retries=1,
        progress=Progress(4, 0, [0, 0, 0], io.StringIO(), False),
    )
    stats = runner.run()
    assert stats.games == 4
    assert len(read_results(tmp_path / "games.jsonl")) == 4
    return [json.loads(line) for line in (tmp_path / "games.jsonl").read_text().splitlines()]


def test_runner_plays_any_two_players(tmp_path: Path) -> None:
    model, opponent = Batched(), FirstMove("first")
    games = _match(tmp_path, model, opponent)
    for rec in games:
        oracle = chess.Board()
        for m in rec["moves"].split():
            assert oracle.is_legal(chess.Move.from_uci(m))
            oracle.push_uci(m)
        assert rec["termination"] in ("move_limit", "checkmate", "stalemate")
    assert model.calls > 0 and len(opponent.new_games) == 4  # every game started once


def test_runner_replays_a_game_after_an_illegal_move(tmp_path: Path) -> None:
    games = _match(tmp_path, Batched(illegal_once=True), FirstMove("first"))
    assert sorted(r["retries"] for r in games) == [0, 0, 0, 1]


def test_runner_adjudicates_from_any_player_that_reports_a_score(tmp_path: Path) -> None:
    """The scripted opponent reports 0 cp every move: with draw adjudication from move 1 on,
    every game ends as soon as it has reported twice."""
    games = _match(tmp_path, Batched(), FirstMove("first"), draw_moves=2, draw_after=0)
    assert {r["termination"] for r in games} == {"adjudication_draw"}
    assert sorted(r["plies"] for r in games) == [3, 3, 4, 4]
