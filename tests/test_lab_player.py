"""Lab experts as arena players (chessformer.lab.player)."""

from __future__ import annotations

import os
import queue
import shutil

import chess
import pytest

from chessformer.arena.players import Position, Reply
from chessformer.arena.schedule import GameSpec, Opening
from chessformer.arena.stockfish import Limit
from chessformer.board import Board
from chessformer.lab.experts import ExpertSpecError, parse_expert
from chessformer.lab.player import ExpertPlayer, expert_limit

STOCKFISH = shutil.which("stockfish") or "/usr/games/stockfish"


def test_expert_limit() -> None:
    assert expert_limit("go depth 2") == Limit(depth=2)
    assert expert_limit("go nodes 500") == Limit(nodes=500)
    assert expert_limit("go movetime 100") == Limit(movetime=0.1)
    with pytest.raises(ValueError, match="single-limit"):
        expert_limit("go infinite")


def test_model_experts_are_refused() -> None:
    with pytest.raises(ExpertSpecError, match="ModelPlayer"):
        ExpertPlayer(parse_expert("chessformer:model=x"), STOCKFISH)


@pytest.mark.skipif(not os.access(STOCKFISH, os.X_OK), reason="stockfish not installed")
@pytest.mark.parametrize("spec", ["stockfish:depth=1,eps=1", "stockfish:skill=0", "random"])
def test_expert_player_answers_legal_moves(spec: str) -> None:
    player = ExpertPlayer(parse_expert(spec), STOCKFISH)
    replies: queue.Queue[Reply] = queue.Queue()
    player.start(2, replies)
    game = GameSpec(1.0, 0, 0, 0, 7, True, Opening(None, ()))
    boards = [Board(), Board()]
    boards[1].push("e2e4")
    try:
        for slot, board in enumerate(boards):
            player.new_game(slot, game)
            moves = tuple(m.uci() for m in board.move_stack)
            player.ask(slot, slot, game, Position(None, moves, board))
        got = [replies.get(timeout=30) for _ in boards]
    finally:
        player.stop()
    for reply in got:
        assert not reply.error, reply.error
        legal = chess.Board()
        for m in boards[reply.slot].move_stack:
            legal.push_uci(m.uci())
        assert chess.Move.from_uci(reply.move or "") in legal.legal_moves
        if spec.endswith("eps=1") or spec == "random":
            assert reply.elapsed < 0.05  # played without a search
