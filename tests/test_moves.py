"""The 1968-move vocabulary and the batch legal-move API (docs/formats.md, "Move vocabulary")."""

from __future__ import annotations

import gc
import random

import chess
import numpy as np
import pytest

from chessformer.board import Board, IllegalMoveError, InvalidFenError, Move
from chessformer.moves import (
    MOVE_VOCAB,
    NUM_MOVES,
    id_to_move,
    legal_move_ids,
    legal_move_mask,
    legal_move_mask_games,
    move_to_id,
)

PACKED_WIDTH = (1968 + 7) // 8


def _expected_vocab() -> list[str]:
    """The vocabulary rebuilt from its definition in docs/formats.md."""
    plain = []
    for frm in chess.SQUARES:
        for to in chess.SQUARES:
            if frm == to:
                continue
            df = abs(chess.square_file(frm) - chess.square_file(to))
            dr = abs(chess.square_rank(frm) - chess.square_rank(to))
            if df == 0 or dr == 0 or df == dr or {df, dr} == {1, 2}:
                plain.append(chess.square_name(frm) + chess.square_name(to))
    promos = []
    for frm in chess.SQUARES:
        rank = chess.square_rank(frm)
        if rank not in (1, 6):
            continue
        to_rank = 7 if rank == 6 else 0
        for to in chess.SQUARES:
            if (
                chess.square_rank(to) == to_rank
                and abs(chess.square_file(to) - chess.square_file(frm)) <= 1
            ):
                promos += [chess.square_name(frm) + chess.square_name(to) + p for p in "nbrq"]
    return plain + promos


def test_vocabulary_layout() -> None:
    assert NUM_MOVES == len(MOVE_VOCAB) == 1968
    assert len(set(MOVE_VOCAB)) == 1968
    assert sum(len(u) == 4 for u in MOVE_VOCAB) == 1792
    assert sum(len(u) == 5 for u in MOVE_VOCAB) == 176
    assert all(len(u) == 4 for u in MOVE_VOCAB[:1792])
    assert list(MOVE_VOCAB) == _expected_vocab()
    # ordered by from, then to (ascending square index); promotions by from, to, then n b r q
    keys = [(chess.parse_square(u[:2]), chess.parse_square(u[2:4])) for u in MOVE_VOCAB[:1792]]
    assert keys == sorted(keys)
    assert MOVE_VOCAB[1792:1796] == ("a2a1n", "a2a1b", "a2a1r", "a2a1q")
    assert MOVE_VOCAB[-1] == "h7h8q"
    for special in ("e1g1", "e1c1", "e8g8", "e8c8", "e1h1", "e1a1", "b1a1", "g1h1", "e5d6", "e7e8"):
        assert special in MOVE_VOCAB


def test_move_to_id_and_back() -> None:
    for i, uci in enumerate(MOVE_VOCAB):
        assert move_to_id(uci) == i
        assert move_to_id(Move.from_uci(uci)) == i
        assert move_to_id(chess.Move.from_uci(uci)) == i
        assert id_to_move(i) == Move.from_uci(uci)
    for bad in ("e2e5x", "a1b3q", "e2e2", "a1h7", "0000", "e7e8k"):
        with pytest.raises(IllegalMoveError, match=repr(bad)):
            move_to_id(bad)
    for bad_id in (-1, 1968, 10**6):
        with pytest.raises(ValueError):
            id_to_move(bad_id)


def test_every_legal_move_is_in_the_vocabulary(random_positions: list[tuple[str, bool]]) -> None:
    assert len(random_positions) > 2000
    for fen, chess960 in random_positions:
        board = Board(fen, chess960=chess960)
        for move in board.legal_moves:
            assert id_to_move(move_to_id(move)) == move


def _boards(positions: list[tuple[str, bool]]) -> list[Board]:
    return [Board(fen, chess960=c960) for fen, c960 in positions]


def _expected_ids(board: Board) -> list[int]:
    return sorted(move_to_id(m) for m in board.legal_moves)


def test_legal_move_ids(random_positions: list[tuple[str, bool]]) -> None:
    boards = _boards(random_positions[:600])
    ids, offsets = legal_move_ids(boards)
    assert ids.dtype == np.int16 and offsets.dtype == np.int64
    assert offsets.shape == (len(boards) + 1,) and offsets[0] == 0 and offsets[-1] == len(ids)
    assert np.all(np.diff(offsets) >= 0)
    for i, board in enumerate(boards):
        assert ids[offsets[i] : offsets[i + 1]].tolist() == _expected_ids(board)
    # FEN strings work as well as boards
    fens = [fen for fen, c960 in random_positions[:50] if not c960]
    ids2, offsets2 = legal_move_ids(fens)
    for i, fen in enumerate(fens):
        assert ids2[offsets2[i] : offsets2[i + 1]].tolist() == _expected_ids(Board(fen))
    with pytest.raises(InvalidFenError):
        legal_move_ids(["not a fen"])


def test_legal_move_mask_bool_and_packed(random_positions: list[tuple[str, bool]]) -> None:
    boards = _boards(random_positions[:700])
    mask = legal_move_mask(boards)
    packed = legal_move_mask(boards, packed=True)
    assert mask.dtype == np.bool_ and mask.shape == (len(boards), 1968)
    assert packed.dtype == np.uint8 and packed.shape == (len(boards), PACKED_WIDTH)
    unpacked = np.unpackbits(packed, axis=1, bitorder="little")
    assert not unpacked[:, 1968:].any()  # padding bits are zero
    assert np.array_equal(unpacked[:, :1968].astype(bool), mask)
    for i, board in enumerate(boards):
        assert np.flatnonzero(mask[i]).tolist() == _expected_ids(board)
        assert int(mask[i].sum()) == len(board.legal_moves)


def test_chess960_castling_ids() -> None:
    board = Board("4k3/8/8/8/8/8/8/RK5R w HA - 0 1", chess960=True)
    mask = legal_move_mask([board])[0]
    assert mask[move_to_id("b1a1")] and mask[move_to_id("b1h1")] and mask[move_to_id("b1c1")]
    standard = Board("r3k2r/8/8/8/8/8/8/R3K2R w KQkq - 0 1")
    as960 = Board("r3k2r/8/8/8/8/8/8/R3K2R w KQkq - 0 1", chess960=True)
    m_std, m_960 = legal_move_mask([standard, as960])
    assert m_std[move_to_id("e1g1")] and not m_std[move_to_id("e1h1")]
    assert m_960[move_to_id("e1h1")] and not m_960[move_to_id("e1g1")]


def test_empty_batches() -> None:
    assert legal_move_mask([]).shape == (0, 1968)
    assert legal_move_mask([], packed=True).shape == (0, PACKED_WIDTH)
    ids, offsets = legal_move_ids([])
    assert ids.shape == (0,) and offsets.tolist() == [0]
    assert legal_move_mask_games([]).shape == (0, 1968)


def _games(n: int, seed: int, max_plies: int = 80) -> list[list[str]]:
    """Random games (UCI lists) played with our Board, which test_differential.py checks."""
    rng = random.Random(seed)
    games = []
    for _ in range(n):
        board = Board()
        moves = []
        for _ in range(rng.randrange(0, max_plies)):
            legal = list(board.legal_moves)
            if not legal:
                break
            move = rng.choice(legal)
            moves.append(move.uci())
            board.push(move)
        games.append(moves)
    return games


def test_legal_move_mask_games_equals_replayed_boards() -> None:
    games = _games(120, 3)
    masks = legal_move_mask_games(games)
    packed = legal_move_mask_games(games, packed=True)
    replayed = []
    for moves in games:
        board = Board()
        for uci in moves:
            board.push_uci(uci)
        replayed.append(board)
    assert np.array_equal(masks, legal_move_mask(replayed))
    assert np.array_equal(packed, legal_move_mask(replayed, packed=True))
    # castling as king-takes-rook is accepted in the replay too
    assert legal_move_mask_games([["e2e4", "e7e5", "g1f3", "b8c6", "f1c4", "g8f6", "e1h1"]]).any()


def test_legal_move_mask_games_with_fens_and_chess960() -> None:
    fen960 = "b1q1rrkb/pppppppp/3nn3/8/P7/1PPP4/4PPPP/BQNNRKRB w GE - 1 9"
    games = [["f1g1", "h7h6"], [], ["e2e4"]]
    fens = [fen960, fen960, "b1q1rrkb/pppppppp/3nn3/8/P7/1PPP4/4PPPP/BQNNRKRB w GE - 1 9"]
    masks = legal_move_mask_games(games, fens, chess960=True)
    for i, (fen, moves) in enumerate(zip(fens, games, strict=True)):
        board = Board(fen, chess960=True)
        for uci in moves:
            board.push_uci(uci)
        assert np.flatnonzero(masks[i]).tolist() == _expected_ids(board)
    with pytest.raises(ValueError, match="2 start FENs for 3 games"):
        legal_move_mask_games(games, fens[:2], chess960=True)
    with pytest.raises(InvalidFenError):
        legal_move_mask_games([[]], ["nonsense"])


@pytest.mark.parametrize(
    ("games", "where", "bad"),
    [
        ([["e2e4", "e7e5"], ["e2e4", "e7e5", "e1e2", "e8e7", "e2e4"]], "game 1, ply 5", "e2e4"),
        ([["e2e5"]], "game 0, ply 1", "e2e5"),
        ([["e2e4"], [], ["g1f3", "xx"]], "game 2, ply 2", "xx"),
        ([["e2e4"], ["0000"]], "game 1, ply 1", "0000"),
        ([["e2e4", "e7e5", "e1g1"]], "game 0, ply 3", "e1g1"),
    ],
)
def test_legal_move_mask_games_names_game_and_ply(
    games: list[list[str]], where: str, bad: str
) -> None:
    with pytest.raises(IllegalMoveError) as info:
        legal_move_mask_games(games)
    message = str(info.value)
    assert where in message and f"'{bad}'" in message, message


def test_arrays_own_their_memory() -> None:
    boards = [Board() for _ in range(10)]
    mask = legal_move_mask(boards)
    packed = legal_move_mask(boards, packed=True)
    ids, offsets = legal_move_ids(boards)
    games_mask = legal_move_mask_games([["e2e4"]] * 10)
    del boards
    gc.collect()
    for arr in (mask, packed, ids, offsets, games_mask):
        assert isinstance(arr, np.ndarray)
        assert arr.base is not None  # a C++ buffer kept alive by the array
        assert arr.flags.c_contiguous
        # writable arrays that really own their data: writing does not disturb other results
        assert arr.flags.writeable
    before = legal_move_mask([Board()])
    mask[0, :] = False
    mask[1, 0] = True
    assert mask[0].sum() == 0 and mask[1, 0] and mask[2].sum() == 20
    assert np.array_equal(legal_move_mask([Board()]), before)
    # still valid after the inputs and intermediate objects are gone (no dangling buffers)
    for _ in range(3):
        legal_move_mask([Board("r3k2r/8/8/8/8/8/8/R3K2R w KQkq - 0 1")] * 50)
        gc.collect()
    assert mask[2].sum() == 20 and packed.shape == (10, PACKED_WIDTH)
    assert np.unpackbits(packed[3], bitorder="little")[:1968].sum() == 20
    assert ids.tolist()[:20] == sorted(move_to_id(m) for m in Board().legal_moves)
    assert games_mask[0].sum() == 20


def test_large_batches_match_small_batches(random_positions: list[tuple[str, bool]]) -> None:
    """>= 2048 positions use the threaded path; the result equals batches of 100 (single thread)."""
    positions = (random_positions * (4096 // len(random_positions) + 1))[:4096]
    boards = _boards(positions)
    big = legal_move_mask(boards)
    big_packed = legal_move_mask(boards, packed=True)
    small = np.concatenate([legal_move_mask(boards[i : i + 100]) for i in range(0, 4096, 100)])
    assert np.array_equal(big, small)
    assert np.array_equal(
        big_packed,
        np.concatenate(
            [legal_move_mask(boards[i : i + 100], packed=True) for i in range(0, 4096, 100)]
        ),
    )
    ids, offsets = legal_move_ids(boards)
    assert offsets[-1] == int(big.sum())
    for i in range(0, 4096, 97):
        assert ids[offsets[i] : offsets[i + 1]].tolist() == np.flatnonzero(big[i]).tolist()
    games = _games(2500, 11, 40)
    masks = legal_move_mask_games(games)
    assert np.array_equal(
        masks,
        np.concatenate([legal_move_mask_games(games[i : i + 100]) for i in range(0, 2500, 100)]),
    )


def test_boards_are_not_modified() -> None:
    board = Board()
    board.push_san("e4")
    before = board.fen()
    legal_move_mask([board] * 3000)
    legal_move_ids([board])
    assert board.fen() == before
    assert board.ply == 1 and board.move_stack == [Move.from_uci("e2e4")]
