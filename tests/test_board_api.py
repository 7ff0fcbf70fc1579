"""The python-chess-like facade: every method against python-chess semantics, lenient SAN input
(docs/pgn.md quirk rows 13, 21-25), errors, python-chess interoperability and GIL release."""

from __future__ import annotations

import copy
import threading

import chess
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chessformer.board import (
    STARTING_FEN,
    AmbiguousMoveError,
    Board,
    IllegalMoveError,
    InvalidFenError,
    Move,
    Outcome,
    Termination,
)

KIWIPETE = "r3k2r/p1ppqpb1/bn2pnp1/3PN3/1p2P3/2N2Q1p/PPPBBPPP/R3K2R w KQkq - 0 1"


def _ucis(board: Board | chess.Board) -> set[str]:
    return {m.uci() for m in board.legal_moves}


# ---- Move ----------------------------------------------------------------------------------------


def test_move_basics() -> None:
    m = Move.from_uci("e7e8q")
    assert (m.from_square, m.to_square, m.promotion) == (52, 60, 5)
    assert m.uci() == str(m) == "e7e8q" and repr(m) == "Move.from_uci('e7e8q')"
    assert Move.from_uci("g1f3") == Move(6, 21) and hash(Move(6, 21)) == hash(Move.from_uci("g1f3"))
    assert Move.from_uci("0000") == Move.null() and not Move.null() and Move.null().uci() == "0000"
    assert bool(Move.from_uci("a1a2"))
    for uci in ("e2e4", "a7a8n", "h2h1b", "b7c8r", "0000"):
        assert Move.from_uci(uci).uci() == chess.Move.from_uci(uci).uci()


@pytest.mark.parametrize(
    "uci", ["", "e2", "e2e4e", "e2e4k", "e2e4p", "i2e4", "e9e4", "E2E4", "e2e4qq", "e2e2", "a1a1q"]
)
def test_move_from_uci_rejects(uci: str) -> None:
    with pytest.raises(IllegalMoveError) as info:
        Move.from_uci(uci)
    assert isinstance(info.value, ValueError)
    assert repr(uci) in str(info.value)
    if uci not in ("e2e4k", "e2e4p"):  # python-chess reads k/p promotions (for variants)
        with pytest.raises(ValueError):
            chess.Move.from_uci(uci)


def test_push_uci_same_square_is_not_a_null_move() -> None:
    board = Board()
    with pytest.raises(IllegalMoveError):
        board.push_uci("e2e2")
    with pytest.raises(IllegalMoveError):
        board.push("e1e1")
    assert board.ply == 0 and board.fen() == STARTING_FEN


# ---- state ---------------------------------------------------------------------------------------


def test_state_accessors_match_python_chess() -> None:
    fen = "rnbqkbnr/ppp1p1pp/8/3pPp2/8/8/PPPP1PPP/RNBQKBNR w KQkq f6 0 3"
    ours, theirs = Board(fen), chess.Board(fen)
    assert ours.turn is True and Board(fen.replace(" w ", " b ").replace("f6", "-")).turn is False
    assert ours.chess960 is False and Board(fen, chess960=True).chess960 is True
    assert (ours.halfmove_clock, ours.fullmove_number, ours.ep_square) == (0, 3, chess.F6)
    assert ours.ply == 0
    assert ours.board_fen() == theirs.board_fen()
    for sq in chess.SQUARES:
        piece = theirs.piece_at(sq)
        assert ours.piece_at(sq) == (piece.symbol() if piece else None)
    with pytest.raises(IndexError):
        ours.piece_at(64)
    with pytest.raises(IndexError):
        ours.piece_at(-1)
    assert str(ours) == str(theirs)
    assert repr(ours) == f"Board({fen!r})"


def test_zobrist_hash_and_equality() -> None:
    a, b = Board(), Board()
    for san in ("Nf3", "Nf6", "Ng1", "Ng8"):
        a.push_san(san)
    assert a.zobrist_hash() == b.zobrist_hash()
    assert a.fen() != b.fen()  # the clocks differ
    b.push_san("e4")
    assert a.zobrist_hash() != b.zobrist_hash()
    assert Board() == Board() and Board() != b
    assert Board().__eq__("not a board") is NotImplemented
    with pytest.raises(TypeError):
        hash(Board())
    # the en passant square is part of the key only when the capture is legal
    with_ep = Board("rnbqkbnr/ppp1pppp/8/8/3pP3/8/PPPP1PPP/RNBQKBNR b KQkq e3 0 3")
    without = Board("rnbqkbnr/ppp1pppp/8/8/3pP3/8/PPPP1PPP/RNBQKBNR b KQkq - 0 3")
    assert with_ep.zobrist_hash() != without.zobrist_hash()
    no_capture = Board("rnbqkbnr/pppppppp/8/8/4P3/8/PPPP1PPP/RNBQKBNR b KQkq e3 0 1")
    assert no_capture.zobrist_hash() == Board(no_capture.fen()).zobrist_hash()
    assert no_capture.fen().split()[3] == "-"


def test_copy_is_independent() -> None:
    board = Board()
    board.push_san("e4")
    for dup in (board.copy(), copy.copy(board)):
        assert dup == board and dup.move_stack == board.move_stack
        dup.push_san("e5")
        assert board.ply == 1 and dup.ply == 2
        assert dup.pop() == Move.from_uci("e7e5") and dup.pop() == Move.from_uci("e2e4")
    assert board.move_stack == [Move.from_uci("e2e4")]


# ---- moves ---------------------------------------------------------------------------------------


def test_legal_moves_container() -> None:
    board = Board(KIWIPETE)
    moves = board.legal_moves
    assert len(moves) == moves.count() == 48 and bool(moves)
    assert _ucis(board) == _ucis(chess.Board(KIWIPETE))
    assert (
        Move.from_uci("e1g1") in moves and "e1c1" in moves and chess.Move.from_uci("e5f7") in moves
    )
    assert "e1h1" not in moves  # legal_moves spells castling as the king's move (python-chess)
    assert Move.from_uci("e1e2") not in moves and None not in moves
    assert repr(moves).startswith("<LegalMoves (") and "e1g1" in repr(moves)
    mated = Board("rnb1kbnr/pppp1ppp/8/4p3/6Pq/5P2/PPPPP2P/RNBQKBNR w KQkq - 1 3")
    assert not mated.legal_moves and len(mated.legal_moves) == 0


def test_is_legal_and_parse_uci() -> None:
    board = Board(KIWIPETE)
    assert board.is_legal("e1g1") and board.is_legal(chess.Move.from_uci("e1c1"))
    assert board.is_legal(Move.from_uci("e1h1"))  # king takes rook is read as castling too
    assert not board.is_legal("e1e3") and not board.is_legal(Move.null())
    assert board.parse_uci("e1h1") == Move.from_uci("e1g1")
    assert board.parse_uci("e1a1") == Move.from_uci("e1c1")
    assert board.parse_uci("0000") == Move.null()
    with pytest.raises(IllegalMoveError) as info:
        board.parse_uci("e1e3")
    assert "'e1e3'" in str(info.value)
    with pytest.raises(TypeError):
        board.is_legal(1234)


def test_castling_uci_forms() -> None:
    # standard: both the king's move and king-takes-rook
    for uci, fen_after in (
        ("e1g1", "r3k2r/8/8/8/8/8/8/R4RK1 b kq - 1 1"),
        ("e1h1", "r3k2r/8/8/8/8/8/8/R4RK1 b kq - 1 1"),
        ("e1c1", "r3k2r/8/8/8/8/8/8/2KR3R b kq - 1 1"),
        ("e1a1", "r3k2r/8/8/8/8/8/8/2KR3R b kq - 1 1"),
    ):
        board = Board("r3k2r/8/8/8/8/8/8/R3K2R w KQkq - 0 1")
        board.push_uci(uci)
        assert board.fen() == fen_after
        assert board.move_stack[0].uci() in ("e1g1", "e1c1")
    # chess960: only king takes rook; the king's two-square form is not castling
    board = Board("r3k2r/8/8/8/8/8/8/R3K2R w KQkq - 0 1", chess960=True)
    assert board.is_legal("e1h1") and not board.is_legal("e1g1")
    board.push_uci("e1h1")
    assert board.move_stack == [Move.from_uci("e1h1")] and board.fen().startswith(
        "r3k2r/8/8/8/8/8/8/R4RK1 b kq"
    )
    # ambiguous case: king b1, rook a1 -- b1c1 is a plain king move, b1a1 is castling
    fen = "4k3/8/8/8/8/8/8/RK5R w HA - 0 1"
    board = Board(fen, chess960=True)
    assert board.parse_uci("b1c1") == Move.from_uci("b1c1")
    board.push_uci("b1c1")
    assert board.fen() == "4k3/8/8/8/8/8/8/R1K4R b - - 1 1"
    board = Board(fen, chess960=True)
    board.push_uci("b1a1")
    assert board.fen() == "4k3/8/8/8/8/8/8/2KR3R b - - 1 1"
    theirs = chess.Board(fen, chess960=True)
    assert _ucis(Board(fen, chess960=True)) == _ucis(theirs)


def test_push_pop_peek_move_stack() -> None:
    board = Board()
    assert board.push_uci("e2e4") == Move.from_uci("e2e4")
    board.push(chess.Move.from_uci("c7c5"))
    board.push(Move.from_uci("g1f3"))
    assert board.push_san("Nc6") == Move.from_uci("b8c6")
    assert board.ply == 4 and board.peek() == Move.from_uci("b8c6")
    assert [m.uci() for m in board.move_stack] == ["e2e4", "c7c5", "g1f3", "b8c6"]
    with pytest.raises(IllegalMoveError):
        board.push("e4e6")
    with pytest.raises(IllegalMoveError):
        board.push_san("Ke3")
    with pytest.raises(TypeError):
        board.push(42)
    assert board.ply == 4
    for _ in range(4):
        board.pop()
    assert board.fen() == STARTING_FEN
    with pytest.raises(IndexError):
        board.pop()
    with pytest.raises(IndexError):
        board.peek()


def test_null_moves() -> None:
    board = Board("rnbqkbnr/pppppppp/8/8/4P3/8/PPPP1PPP/RNBQKBNR b KQkq - 0 1")
    theirs = chess.Board(board.fen())
    for token in ("--", "Z0", "0000", "@@@@"):
        assert board.parse_san(token) == Move.null()
        assert theirs.parse_san(token) == chess.Move.null()
    assert board.push_san("--") == Move.null()
    theirs.push(chess.Move.null())
    assert board.fen() == theirs.fen() and board.move_stack == [Move.null()]
    board.push("0000")
    theirs.push(chess.Move.null())
    assert board.fen() == theirs.fen()
    assert board.pop() == Move.null() and board.pop() == Move.null()
    assert board.to_chess().fen() == board.fen()


# ---- SAN -----------------------------------------------------------------------------------------

# (FEN, chess960, accepted inputs, the move they mean)
SAN_FORMS: list[tuple[str, bool, list[str], str]] = [
    # row 22: castling
    (
        "r3k2r/8/8/8/8/8/8/R3K2R w KQkq - 0 1",
        False,
        ["O-O", "0-0", "o-o", "O-O+", "0-0#", "O-O!", "Kg1", "e1g1", "e1h1"],
        "e1g1",
    ),
    (
        "r3k2r/8/8/8/8/8/8/R3K2R w KQkq - 0 1",
        False,
        ["O-O-O", "0-0-0", "o-o-o", "O-O-O+", "0-0-0#", "Kc1", "e1c1", "e1a1"],
        "e1c1",
    ),
    ("r3k2r/8/8/8/8/8/8/R3K2R b KQkq - 0 1", False, ["O-O", "0-0", "o-o+"], "e8g8"),
    ("4k3/8/8/8/8/8/8/RK5R w HA - 0 1", True, ["O-O-O", "0-0-0", "o-o-o", "b1a1"], "b1a1"),
    ("4k3/8/8/8/8/8/8/RK5R w HA - 0 1", True, ["O-O", "0-0", "b1h1"], "b1h1"),
    # row 23: promotion without '=', lowercase piece letter
    (
        "4k3/P7/8/8/8/8/8/4K3 w - - 0 1",
        False,
        ["a8=Q", "a8Q", "a8=q", "a8q", "a8=Q+", "a8Q+", "a7a8q", "Pa8=Q", "a8=Q#"],
        "a7a8q",
    ),
    ("4k3/P7/8/8/8/8/8/4K3 w - - 0 1", False, ["a8=N", "a8N", "a8n", "a8=n", "a7a8n"], "a7a8n"),
    (
        "2r1k3/1P6/8/8/8/8/8/4K3 w - - 0 1",
        False,
        ["bxc8=B", "bxc8B", "bxc8b", "bc8b", "bxc8=b", "b7c8b", "b7xc8=B"],
        "b7c8b",
    ),
    ("2r1k3/1P6/8/8/8/8/8/4K3 w - - 0 1", False, ["b8=R", "b8R", "b8r", "b8=R+"], "b7b8r"),
    ("4k3/8/8/8/8/8/p7/4K3 b - - 0 1", False, ["a1=Q", "a1Q", "a1q", "a1=Q+"], "a2a1q"),
    # row 24: over-disambiguated / long SAN, P prefix, wrong or missing +/#, e.p.
    (
        "4k3/8/8/8/8/8/8/4K1N1 w - - 0 1",
        False,
        [
            "Nf3",
            "Ng1f3",
            "Ng1-f3",
            "Ngf3",
            "N1f3",
            "Nxf3",
            "Ng1xf3",
            "Nf3+",
            "Nf3#",
            "Nf3!?",
            "Nf3$1",
            " Nf3 ",
        ],
        "g1f3",
    ),
    (
        "4k3/8/8/8/8/8/4P3/4K3 w - - 0 1",
        False,
        ["e4", "Pe4", "Pe2e4", "e2-e4", "e4+", "Pe2-e4"],
        "e2e4",
    ),
    (
        "4k3/8/8/3pP3/8/8/8/4K3 w - d6 0 1",
        False,
        ["exd6", "exd6e.p.", "exd6ep", "ed6", "Pxd6", "exd6+", "e5d6", "Pe5xd6"],
        "e5d6",
    ),
    (
        "rnbqkbnr/pppp1ppp/8/4p3/6P1/5P2/PPPPP2P/RNBQKBNR b KQkq - 0 2",
        False,
        ["Qh4#", "Qh4", "Qh4+", "Qd8h4", "Qd8-h4#", "Qxh4"],
        "d8h4",
    ),
    ("4k3/8/8/8/8/2N5/8/4K1N1 w - - 0 1", False, ["Nce2", "N3e2", "Nc3e2", "Nc3-e2"], "c3e2"),
    # row 25: pure UCI
    (STARTING_FEN, False, ["g1f3"], "g1f3"),
]


@pytest.mark.parametrize(("fen", "chess960", "inputs", "uci"), SAN_FORMS)
def test_lenient_san_forms(fen: str, chess960: bool, inputs: list[str], uci: str) -> None:
    board = Board(fen, chess960=chess960)
    want = Move.from_uci(uci)
    assert want in board.legal_moves
    for text in inputs:
        assert board.parse_san(text) == want, text
        pushed = board.copy()
        assert pushed.push_san(text) == want
        assert pushed.pop() == want and pushed.fen() == board.fen()
    # the strict SAN we write is one of the accepted forms and agrees with python-chess
    theirs = chess.Board(fen, chess960=chess960)
    assert board.san(want) == theirs.san(chess.Move.from_uci(uci))


def test_movetext_with_numbers_and_pure_uci_game() -> None:
    """Row 13/25 at the board level: tokens after the move-number split, and a UCI-only game."""
    board = Board()
    for token in ["e4", "c5", "Nf3", "d6", "d4", "cxd4", "Nxd4", "Nf6", "Nc3", "a6"]:
        board.push_san(token)
    uci_board = Board()
    for token in ["e2e4", "c7c5", "g1f3", "d7d6", "d2d4", "c5d4", "f3d4", "g8f6", "b1c3", "a7a6"]:
        uci_board.push_san(token)
    assert board.fen() == uci_board.fen() == chess.Board(board.fen()).fen()


@pytest.mark.parametrize(
    ("fen", "text", "error"),
    [
        ("4k3/8/8/8/8/2N5/8/4K1N1 w - - 0 1", "Ne2", AmbiguousMoveError),
        ("4k3/8/8/8/8/2N5/8/4K1N1 w - - 0 1", "Nxe2", AmbiguousMoveError),
        ("4k3/8/8/8/1R6/8/8/1R2K3 w - - 0 1", "Rb2", AmbiguousMoveError),
        ("4k3/8/8/8/8/8/8/R3K2R w - - 0 1", "O-O", IllegalMoveError),  # no castling rights
        ("r3k2r/8/8/8/8/8/8/R3K2R w KQkq - 0 1", "O-O-O-O", IllegalMoveError),
        ("4k3/8/8/8/8/8/8/4K1N1 w - - 0 1", "Nf4", IllegalMoveError),
        ("4k3/8/8/8/8/8/8/4K1N1 w - - 0 1", "Nhf3", IllegalMoveError),
        ("4k3/8/8/8/8/8/8/4K1N1 w - - 0 1", "Bf3", IllegalMoveError),
        ("4k3/P7/8/8/8/8/8/4K3 w - - 0 1", "a8", IllegalMoveError),  # promotion piece missing
        ("4k3/P7/8/8/8/8/8/4K3 w - - 0 1", "a8=K", IllegalMoveError),
        ("4k3/P7/8/8/8/8/8/4K3 w - - 0 1", "a8=P", IllegalMoveError),
        ("4k3/8/8/8/8/8/4P3/4K3 w - - 0 1", "e5", IllegalMoveError),
        ("4k3/8/8/8/8/8/4P3/4K3 w - - 0 1", "E4", IllegalMoveError),
        ("4k3/8/8/8/8/8/4P3/4K3 w - - 0 1", "Nf3=Q", IllegalMoveError),
        (STARTING_FEN, "", IllegalMoveError),
        (STARTING_FEN, "   ", IllegalMoveError),
        (STARTING_FEN, "xyz", IllegalMoveError),
        (STARTING_FEN, "e2e5", IllegalMoveError),
        (STARTING_FEN, "e4 e5", IllegalMoveError),
        (STARTING_FEN, "N@f3", IllegalMoveError),  # crazyhouse drop
        (STARTING_FEN, "Nf3" + "!" * 40, IllegalMoveError),
        (STARTING_FEN, "\ud800", IllegalMoveError),
        (STARTING_FEN, "e4\u3000", IllegalMoveError),
        (STARTING_FEN, "e\x004", IllegalMoveError),
    ],
)
def test_bad_san_raises(fen: str, text: str, error: type[Exception]) -> None:
    board = Board(fen)
    with pytest.raises(error) as info:
        board.parse_san(text)
    assert isinstance(info.value, ValueError)
    if error is AmbiguousMoveError:
        assert not isinstance(info.value, IllegalMoveError) or error is IllegalMoveError
    if text.isprintable() and text.isascii():
        assert f"'{text}'" in str(info.value), str(info.value)
    with pytest.raises(error):
        board.push_san(text)
    assert board.ply == 0 and board.fen() == Board(fen).fen()


@settings(max_examples=400, deadline=None, database=None)
@given(
    st.sampled_from(
        [
            STARTING_FEN,
            KIWIPETE,
            "2r1k3/1P6/8/8/8/2N5/8/4K1N1 w - - 0 1",
            "r3k2r/8/8/3pP3/8/8/8/R3K2R w KQkq d6 0 1",
        ]
    ),
    st.text(alphabet="NBRQKPabcdefgh12345678xX=+#-Oo0:!?$ .ep@Z", max_size=10),
)
def test_parse_san_never_crashes(fen: str, text: str) -> None:
    """Any text: a legal move (or the null move), or IllegalMoveError/AmbiguousMoveError; and when
    python-chess reads the text, we read the same move."""
    board = Board(fen)
    theirs = chess.Board(fen)
    try:
        move = board.parse_san(text)
    except (IllegalMoveError, AmbiguousMoveError):
        move = None
    if move is not None and move:
        assert move in board.legal_moves
    try:
        their = theirs.parse_san(text)
    except ValueError:
        return
    assert move is not None and move.uci() == their.uci(), (text, move, their)


def test_san_output_and_errors() -> None:
    board = Board(KIWIPETE)
    theirs = chess.Board(KIWIPETE)
    for move in theirs.legal_moves:
        assert board.san(move) == theirs.san(move)
        assert board.san(move.uci()) == theirs.san(move)
    assert board.san("e1h1") == "O-O"
    with pytest.raises(IllegalMoveError):
        board.san("e1e3")
    with pytest.raises(IllegalMoveError):
        board.san("zz")
    assert board.san(Move.null()) == "--"


def test_variation_san_matches_python_chess() -> None:
    fen = "r1bqkbnr/pppp1ppp/2n5/4p3/4P3/5N2/PPPP1PPP/RNBQKB1R b KQkq - 3 3"
    moves = ["g8f6", "f1c4", "f8c5", "e1g1", "e8g8", "d2d4"]
    theirs = chess.Board(fen)
    assert Board(fen).variation_san(moves) == theirs.variation_san(
        [chess.Move.from_uci(u) for u in moves]
    )
    assert Board().variation_san(["e2e4", "e7e5", "g1f3"]) == "1. e4 e5 2. Nf3"
    assert Board().variation_san([]) == ""
    with pytest.raises(IllegalMoveError):
        Board().variation_san(["e2e4", "e2e4"])


# ---- game end ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fen", "termination", "winner"),
    [
        ("rnb1kbnr/pppp1ppp/8/4p3/6Pq/5P2/PPPPP2P/RNBQKBNR w KQkq - 1 3", "CHECKMATE", False),
        ("6k1/5ppp/8/8/8/8/8/3R2K1 b - - 0 1", None, None),
        ("3R2k1/5ppp/8/8/8/8/8/6K1 b - - 0 1", "CHECKMATE", True),
        ("7k/5Q2/6K1/8/8/8/8/8 b - - 0 1", "STALEMATE", None),
        ("8/8/8/8/8/8/8/K6k w - - 0 1", "INSUFFICIENT_MATERIAL", None),
        ("8/8/8/8/8/8/8/KN5k w - - 0 1", "INSUFFICIENT_MATERIAL", None),
        ("8/8/8/8/8/8/8/KB4bk w - - 0 1", None, None),  # opposite-coloured bishops
        ("8/8/8/8/8/8/8/KB5k w - - 0 1", "INSUFFICIENT_MATERIAL", None),
        ("8/8/8/8/8/8/8/KBB4k w - - 0 1", None, None),
        ("8/8/8/8/8/8/8/KN4nk w - - 0 1", None, None),  # knights can help-mate
        ("8/8/8/8/8/8/p7/K6k w - - 0 1", None, None),
        ("8/8/8/8/8/8/8/KQ5k b - - 149 100", None, None),
        ("8/8/8/8/8/8/8/KQ5k b - - 150 100", "SEVENTYFIVE_MOVES", None),
        ("k7/8/KQ6/8/8/8/8/8 b - - 150 100", "STALEMATE", None),  # stalemate takes precedence
        ("k7/1Q6/1K6/8/8/8/8/8 b - - 150 100", "CHECKMATE", True),
        ("8/8/8/8/8/8/8/KB5k w - - 200 100", "INSUFFICIENT_MATERIAL", None),
    ],
)
def test_outcome_of_fens(fen: str, termination: str | None, winner: bool | None) -> None:
    ours, theirs = Board(fen), chess.Board(fen)
    outcome = ours.outcome()
    their = theirs.outcome()
    if termination is None:
        assert outcome is None and their is None
        assert not ours.is_game_over() and ours.result() == "*"
    else:
        assert outcome == Outcome(Termination[termination], winner)
        assert their is not None and their.termination.name == termination
        assert their.winner == winner and ours.is_game_over()
        assert ours.result() == outcome.result() == their.result()
    assert ours.is_insufficient_material() == theirs.is_insufficient_material()
    for color in (True, False):
        assert ours.has_insufficient_material(color) == theirs.has_insufficient_material(color)
    assert ours.is_seventyfive_moves() == theirs.is_seventyfive_moves()
    assert ours.is_fifty_moves() == theirs.is_fifty_moves()


def test_fifty_move_rule_and_claims() -> None:
    fen = "8/8/8/8/8/8/1R6/K6k w - - 99 80"
    board, theirs = Board(fen), chess.Board(fen)
    # the player may claim *before* a non-zeroing move that reaches 100, as in python-chess
    assert not board.is_fifty_moves() and theirs.can_claim_fifty_moves()
    assert board.can_claim_fifty_moves()
    assert board.outcome(claim_draw=True) == Outcome(Termination.FIFTY_MOVES, None)
    board.push_san("Rb3")
    theirs.push_san("Rb3")
    assert board.is_fifty_moves() and theirs.is_fifty_moves()
    assert board.outcome() is None
    assert board.outcome(claim_draw=True) == Outcome(Termination.FIFTY_MOVES, None)
    assert board.result(claim_draw=True) == "1/2-1/2" and board.result() == "*"
    assert board.is_game_over(claim_draw=True) and not board.is_game_over()
    # a capture resets the clock
    board = Board("7k/8/8/8/8/8/1n6/KR6 w - - 120 80")
    assert board.is_fifty_moves()
    board.push_san("Rxb2")
    assert board.halfmove_clock == 0 and not board.is_fifty_moves()
    # checkmate on the move that reaches 100 is checkmate, not a fifty-move draw
    mate = Board("7k/8/6K1/8/8/8/8/R7 w - - 99 80")
    mate.push_san("Ra8#")
    assert mate.halfmove_clock == 100 and mate.is_checkmate()
    assert not mate.is_fifty_moves()
    assert mate.outcome(claim_draw=True) == Outcome(Termination.CHECKMATE, True)


def test_repetitions() -> None:
    board, theirs = Board(), chess.Board()
    shuffle = ["Nf3", "Nf6", "Ng1", "Ng8"]
    for i in range(16):
        san = shuffle[i % 4]
        board.push_san(san)
        theirs.push_san(san)
        for n in (2, 3, 4, 5):
            assert board.is_repetition(n) == theirs.is_repetition(n), (i, n)
        assert board.is_fivefold_repetition() == theirs.is_fivefold_repetition()
        if board.is_repetition(3):
            assert board.outcome(claim_draw=True) is not None
    assert board.is_fivefold_repetition()
    assert board.outcome() == Outcome(Termination.FIVEFOLD_REPETITION, None)
    board.pop()
    assert board.outcome() is None
    assert board.outcome(claim_draw=True) == Outcome(Termination.THREEFOLD_REPETITION, None)


def test_repetition_needs_same_castling_rights_and_ep() -> None:
    # the position after Ke1-e2-e1 lost castling rights: not a repetition of the start
    board = Board("r3k2r/8/8/8/8/8/8/R3K2R w KQkq - 0 1")
    for san in ("Ke2", "Ke7", "Ke1", "Ke8"):
        board.push_san(san)
    assert board.board_fen() == "r3k2r/8/8/8/8/8/8/R3K2R"
    assert not board.is_repetition(2)
    for san in ("Ke2", "Ke7", "Ke1", "Ke8"):
        board.push_san(san)
    assert board.is_repetition(2) and not board.is_repetition(3)


def test_threefold_claim_counts_the_repeating_move_like_python_chess() -> None:
    """After 1.Nf3 Nf6 2.Ng1 Ng8 3.Nf3 Nf6 4.Ng1, Black may claim: Ng8 would repeat the start
    position a third time (FIDE 9.2, python-chess's can_claim_threefold_repetition)."""
    board, theirs = Board(), chess.Board()
    for san in ["Nf3", "Nf6", "Ng1", "Ng8", "Nf3", "Nf6", "Ng1"]:
        board.push_san(san)
        theirs.push_san(san)
    assert theirs.can_claim_threefold_repetition() and not theirs.is_repetition(3)
    assert not board.is_repetition(3)
    assert board.outcome(claim_draw=True) == Outcome(Termination.THREEFOLD_REPETITION, None)
    assert board.outcome() is None


def test_fifty_move_claim_with_a_move_at_99() -> None:
    board = Board("4k3/8/8/8/8/8/4P3/4K2R w - - 99 80")
    assert not board.is_fifty_moves()
    assert board.outcome(claim_draw=True) == Outcome(Termination.FIFTY_MOVES, None)
    pawn_only = Board("4k3/8/8/8/8/8/4P3/4K3 w - - 99 80")
    # king moves are non-zeroing too, so the claim stands; only zeroing-only positions refuse it
    assert pawn_only.outcome(claim_draw=True) == Outcome(Termination.FIFTY_MOVES, None)


# ---- python-chess interoperability ---------------------------------------------------------------


def test_from_chess_and_to_chess_round_trip() -> None:
    theirs = chess.Board("rnbqkbnr/pppppppp/8/8/8/8/PPPPPPPP/RNBQKBNR w KQkq - 0 1")
    for san in ["e4", "e5", "Nf3", "Nc6", "Bb5", "a6", "O-O", "--", "Ba4", "b5"]:
        theirs.push_san(san)
    ours = Board.from_chess(theirs)
    assert ours.fen() == theirs.fen() and ours.ply == len(theirs.move_stack)
    assert [m.uci() for m in ours.move_stack] == [m.uci() for m in theirs.move_stack]
    back = ours.to_chess()
    assert back.fen() == theirs.fen() and back.move_stack == theirs.move_stack
    assert back.root().fen() == theirs.root().fen()
    # Chess960 game from a Shredder-FEN start
    fen = "b1q1rrkb/pppppppp/3nn3/8/P7/1PPP4/4PPPP/BQNNRKRB w GE - 1 9"
    theirs = chess.Board(fen, chess960=True)
    for san in ["O-O", "h6", "d4", "Nf4"]:
        theirs.push_san(san)
    assert theirs.move_stack[0].uci() == "f1g1"  # O-O as king takes rook
    ours = Board.from_chess(theirs)
    assert ours.chess960 and ours.fen() == theirs.fen()
    back = ours.to_chess()
    assert back.chess960 and back.move_stack == theirs.move_stack and back.fen() == theirs.fen()
    # a board set up from a FEN keeps its start position
    start = chess.Board("4k3/8/8/8/8/8/4P3/4K3 b - - 5 40")
    start.push_san("Kd7")
    ours = Board.from_chess(start)
    assert ours.to_chess().root().fen() == "4k3/8/8/8/8/8/4P3/4K3 b - - 5 40"


# ---- errors are ValueErrors ----------------------------------------------------------------------


def test_error_hierarchy() -> None:
    for cls in (InvalidFenError, IllegalMoveError, AmbiguousMoveError):
        assert issubclass(cls, ValueError)
    assert not issubclass(AmbiguousMoveError, InvalidFenError)


# ---- GIL release ---------------------------------------------------------------------------------


def test_perft_releases_the_gil() -> None:
    """A Python thread keeps running while perft(6) runs in another thread."""
    board = Board()
    result: list[int] = []
    started = threading.Event()

    def work() -> None:
        started.set()
        result.append(board.perft(6))

    thread = threading.Thread(target=work)
    thread.start()
    started.wait()
    iterations = 0
    while thread.is_alive():
        iterations += 1
    thread.join()
    assert result == [119060324]
    # With the GIL held for the whole perft, the loop would get a handful of iterations at most
    # (one switch interval before the call enters C++). Released, it spins the whole time.
    assert iterations > 10_000, iterations
