"""Inference with a board-aware model on every CPU backend: the engine's logits equal the model's
own forward over the whole game (features included), legality and seeding as for any model,
windowed long games keep their real positions, the value estimate, and UCI scores from it."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import chess
import chess.engine
import numpy as np
import pytest
import torch
from conftest import save_tiny_model

from chessformer import _core
from chessformer.board import Board
from chessformer.inference import InferenceEngine
from chessformer.model.gpt import CONFIGS, GPT
from chessformer.moves import move_to_id

BACKENDS = ["native", "torch"]


def _model(perspective: bool = True, block_size: int = 64) -> GPT:
    torch.manual_seed(3)
    cfg = CONFIGS["tiny"].with_(
        vocab_size=1974,
        block_size=block_size,
        board_features="perspective" if perspective else "absolute",
        value_head=True,
        bias=True,
    )
    model = GPT(cfg).eval()
    with torch.no_grad():  # make the board matter: larger feature embeddings
        model.transformer.wbe.weight.mul_(20)  # type: ignore[union-attr]
    return model


def _game(seed: int, plies: int) -> Board:
    rng = random.Random(seed)
    b = Board()
    for _ in range(plies):
        moves = list(b.legal_moves)
        if not moves:
            break
        b.push(rng.choice(moves))
    return b


def _reference_logits(model: GPT, board: Board, perspective: bool) -> torch.Tensor:
    """The model's own forward over the whole game, at its last position."""
    tokens = [_core.MOVE_BOS, *(move_to_id(m.uci()) for m in board.move_stack)]
    row = np.asarray([tokens], dtype=np.int64)
    feats = _core.board_features(row, perspective)[0]
    with torch.no_grad():
        logits, _ = model(torch.from_numpy(row), features=torch.from_numpy(feats))
    return logits[0, -1]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("perspective", [False, True])
def test_engine_logits_equal_the_model_forward(backend: str, perspective: bool) -> None:
    model = _model(perspective)
    eng = InferenceEngine(model, "move", max_batch=4, backend=backend)
    boards = [_game(s, p) for s, p in ((1, 10), (2, 25), (3, 3), (4, 40))]
    legal = [[move_to_id(m.uci()) for m in b.legal_moves] for b in boards]
    for step in range(3):  # prefill, then decode steps extending the cached games
        chunks, feats = eng.decoder._synced(list(range(4)), boards)  # type: ignore[attr-defined]
        got = eng.feed(list(range(4)), chunks, legal, feats)
        for i, b in enumerate(boards):
            ref = _reference_logits(model, b, perspective)
            torch.testing.assert_close(got[i, legal[i]], ref[legal[i]], rtol=1e-4, atol=1e-4)
        if step < 2:
            for i, b in enumerate(boards):
                b.push(next(iter(b.legal_moves)))
                legal[i] = [move_to_id(m.uci()) for m in b.legal_moves]


@pytest.mark.parametrize("backend", BACKENDS)
def test_moves_are_legal_and_seeded_games_do_not_depend_on_the_batch(backend: str) -> None:
    model = _model()
    eng = InferenceEngine(model, "move", max_batch=8, backend=backend)
    boards = [_game(s, 2 * s) for s in range(6)]
    together = eng.choose_moves(boards, temperature=1.0, seeds=list(range(6)))
    alone = [
        eng.choose_moves([b], temperature=1.0, seeds=[s], slots=[7])[0]
        for s, b in enumerate(boards)
    ]
    for b, a, c in zip(boards, together, alone, strict=True):
        assert a.move is not None and b.is_legal(a.move)
        assert a.move == c.move


def test_a_long_game_in_a_window_keeps_its_real_positions() -> None:
    model = _model(block_size=24)
    board = _game(9, 60)
    eng = InferenceEngine(model, "move", max_batch=1, backend="native")
    tokens, feats = eng.decoder.windowed(board)  # type: ignore[attr-defined]
    full = [_core.MOVE_BOS, *(move_to_id(m.uci()) for m in board.move_stack)]
    assert len(tokens) < 24 and tokens[1:] == full[-(len(tokens) - 1) :] and feats is not None
    ref = _core.board_features(np.asarray([full], dtype=np.int64), True)[0][0]
    assert np.array_equal(feats[0], ref[0]) and np.array_equal(feats[1:], ref[-(len(tokens) - 1) :])
    choice = eng.choose_moves([board], temperature=0.0)[0]
    assert choice.move is not None and board.is_legal(choice.move)


def test_value_estimate() -> None:
    model = _model()
    eng = InferenceEngine(model, "move", max_batch=1)
    board = _game(5, 17)
    win, draw, loss = eng.value_estimate(board)  # type: ignore[misc]
    tokens = [_core.MOVE_BOS, *(move_to_id(m.uci()) for m in board.move_stack)]
    row = np.asarray([tokens], dtype=np.int64)
    f = torch.from_numpy(_core.board_features(row, True)[0])
    with torch.no_grad():
        ldw = model.value(model.hidden(torch.from_numpy(row), features=f))[0, -1]
    assert (win, draw, loss) == pytest.approx((float(ldw[2]), float(ldw[1]), float(ldw[0])))
    assert win + draw + loss == pytest.approx(1.0)
    plain = GPT(CONFIGS["tiny"].with_(vocab_size=1974, block_size=64)).eval()
    assert InferenceEngine(plain, "move", max_batch=1).value_estimate(board) is None


def test_board_aware_model_needs_the_move_tokenizer() -> None:
    with pytest.raises(ValueError, match="move tokenizer"):
        InferenceEngine(_model(), "char", max_batch=1)


def test_uci_reports_the_value_estimate(tmp_path: Path) -> None:
    run = save_tiny_model(tmp_path / "m", board_features="perspective", value_head=True)
    cmd = [sys.executable, "-m", "chessformer", "uci", "--model", str(run)]
    with chess.engine.SimpleEngine.popen_uci(cmd, timeout=300) as engine:
        engine.configure({"UCI_ShowWDL": True})
        board = chess.Board()
        board.push_san("e4")
        info = engine.analyse(board, chess.engine.Limit(depth=1))
        score = info["score"]
        wdl = info["wdl"]
        assert score.turn == chess.BLACK and score.relative.score() is not None
        assert sum(wdl.relative) == 1000
        result = engine.play(board, chess.engine.Limit(time=1.0))
        assert result.move in board.legal_moves
