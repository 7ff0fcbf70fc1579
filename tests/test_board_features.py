"""Board features of move-tokenizer rows (chessformer._core.board_features), checked against
python-chess boards on random games: pieces, side to move, castling rights, en passant,
promotions; the perspective view; value targets; bad tokens."""

from __future__ import annotations

import random

import chess
import numpy as np
import pytest

from chessformer import _core
from chessformer.moves import move_to_id

BOS, PAD = _core.MOVE_BOS, _core.MOVE_PAD
WHITE_WINS, BLACK_WINS, DRAW, UNKNOWN = (
    _core.MOVE_RESULT_TOKENS[r] for r in ("1-0", "0-1", "1/2-1/2", "*")
)
FPAD = _core.FEATURE_PAD


def expected(board: chess.Board, perspective: bool = False) -> set[int]:
    """NNUE-style ids of a python-chess board (the documented layout, written independently)."""
    flip = perspective and board.turn == chess.BLACK
    ids = set()
    for sq, p in board.piece_map().items():
        colour = 0 if p.color == chess.WHITE else 1
        if flip:
            colour, sq = 1 - colour, chess.square_mirror(sq)
        ids.add((colour * 6 + p.piece_type - 1) * 64 + sq)
    ids.add(768 if board.turn == chess.WHITE else 769)
    rights = [
        board.has_kingside_castling_rights(chess.WHITE),
        board.has_queenside_castling_rights(chess.WHITE),
        board.has_kingside_castling_rights(chess.BLACK),
        board.has_queenside_castling_rights(chess.BLACK),
    ]
    if flip:
        rights = rights[2:] + rights[:2]
    ids.update(770 + i for i, ok in enumerate(rights) if ok)
    if board.ep_square is not None and board.has_legal_en_passant():
        ids.add(774 + chess.square_file(board.ep_square))
    return ids


def random_games(
    n: int, seed: int, max_plies: int = 160
) -> list[tuple[list[int], list[chess.Board]]]:
    """Random legal games biased towards the interesting moves (castling, en passant,
    promotions, captures), as token rows with the board after each token."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        board = chess.Board()
        tokens, boards = [BOS], [board.copy()]
        for _ in range(rng.randint(0, max_plies)):
            moves = list(board.legal_moves)
            if not moves:
                break
            special = [
                m
                for m in moves
                if board.is_castling(m)
                or board.is_en_passant(m)
                or m.promotion
                or board.is_capture(m)
            ]
            move = rng.choice(special if special and rng.random() < 0.5 else moves)
            tokens.append(move_to_id(move.uci()))
            board.push(move)
            boards.append(board.copy())
        tokens.append(rng.choice([WHITE_WINS, BLACK_WINS, DRAW, UNKNOWN]))
        out.append((tokens, boards))
    return out


def rows_of(
    games: list[tuple[list[int], list[chess.Board]]], width: int | None = None
) -> np.ndarray:
    width = width or max(len(t) for t, _ in games)
    rows = np.full((len(games), width), PAD, dtype=np.int64)
    for i, (t, _) in enumerate(games):
        rows[i, : min(len(t), width)] = t[:width]
    return rows


@pytest.mark.parametrize("perspective", [False, True])
def test_features_match_python_chess(perspective: bool) -> None:
    games = random_games(120, seed=7 if perspective else 3)
    rows = rows_of(games)
    feats, values, plies, bad = _core.board_features(rows, perspective)
    assert feats.shape == (*rows.shape, _core.MAX_FEATURES) and feats.dtype == np.int16
    assert values.shape == rows.shape and values.dtype == np.int8
    assert bad == 0 and plies == sum(len(t) - 2 for t, _ in games)
    seen = {"castling": 0, "ep": 0, "promotion": 0}
    for i, (tokens, boards) in enumerate(games):
        for t in range(len(tokens) - 1):
            got = feats[i, t]
            real = got[got != FPAD]
            assert len(set(real.tolist())) == len(real), "duplicate ids"
            assert set(real.tolist()) == expected(boards[t], perspective), (i, t, boards[t].fen())
            if t:
                move = boards[t].move_stack[-1]
                seen["castling"] += boards[t - 1].is_castling(move)
                seen["ep"] += boards[t - 1].is_en_passant(move)
                seen["promotion"] += move.promotion is not None
        # the result token repeats the final position; padding has no features
        last = len(tokens) - 1
        assert set(feats[i, last][feats[i, last] != FPAD].tolist()) == expected(
            boards[-1], perspective
        )
        assert (feats[i, len(tokens) :] == FPAD).all()
    assert min(seen.values()) > 0, seen  # the games did exercise every special move


def test_value_targets_follow_the_result_and_the_side_to_move() -> None:
    games = random_games(60, seed=11, max_plies=40)
    rows = rows_of(games)
    _, values, _, _ = _core.board_features(rows, False)
    for i, (tokens, boards) in enumerate(games):
        result = tokens[-1]
        for t in range(len(tokens) - 1):
            white_to_move = boards[t].turn == chess.WHITE
            want = {
                WHITE_WINS: 2 if white_to_move else 0,
                BLACK_WINS: 0 if white_to_move else 2,
                DRAW: 1,
                UNKNOWN: -1,
            }[result]
            assert values[i, t] == want
        assert (values[i, len(tokens) - 1 :] == -1).all()  # the result token and padding


def test_truncated_row_has_no_value_targets_but_keeps_features() -> None:
    tokens, boards = random_games(1, seed=5, max_plies=60)[0]
    cut = rows_of([(tokens, boards)], width=len(tokens) - 1)  # result token cut off
    feats, values, _, _ = _core.board_features(cut, False)
    assert (values == -1).all()
    assert set(feats[0, 3][feats[0, 3] != FPAD].tolist()) == expected(boards[3])


def test_an_illegal_token_pads_the_rest_of_its_row_and_is_counted() -> None:
    e2e4, e7e5, e2e4_again = (move_to_id(u) for u in ("e2e4", "e7e5", "e2e4"))
    rows = np.array([[BOS, e2e4, e7e5, e2e4_again, e7e5, DRAW], [BOS, e2e4, e7e5, PAD, PAD, PAD]])
    feats, values, plies, bad = _core.board_features(rows.astype(np.uint16), False)
    assert bad == 1 and plies == 4
    assert (feats[0, 3:] == FPAD).all() and (values[0, 3:] == -1).all()
    assert (feats[0, :3] != FPAD).any(axis=-1).all()
    # every dtype the loader may hand over gives the same answer
    for dt in (np.int64, np.int32):
        f2, v2, _, _ = _core.board_features(rows.astype(dt), False)
        assert np.array_equal(f2, feats) and np.array_equal(v2, values)


def test_tokens_before_a_bos_have_no_position() -> None:
    rows = np.array([[move_to_id("e2e4"), BOS, move_to_id("e2e4")]], dtype=np.int64)
    feats, _, _, bad = _core.board_features(rows, False)
    assert (feats[0, 0] == FPAD).all() and bad == 0
    assert expected(
        chess.Board("rnbqkbnr/pppppppp/8/8/4P3/8/PPPP1PPP/RNBQKBNR b KQkq - 0 1")
    ) == set(feats[0, 2][feats[0, 2] != FPAD].tolist())


def test_bad_shapes_and_dtypes_are_refused() -> None:
    with pytest.raises(ValueError, match="2-D"):
        _core.board_features(np.zeros(5, dtype=np.int64), False)
    with pytest.raises(TypeError, match="integer"):
        _core.board_features(np.zeros((2, 2), dtype=np.float32), False)
