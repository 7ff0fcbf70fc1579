"""FEN parsing: every rule has a named error quoting the input; anything else round-trips.

Property: for any text, ``Board(text)`` either builds a board whose FEN round-trips (and which
python-chess reads back to the same FEN and the same legal moves) or raises ``InvalidFenError``
(a ``ValueError``) -- never another exception type, never a crash. A crash would kill pytest, so
a large random batch also runs in a subprocess.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import chess
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chessformer.board import STARTING_FEN, Board, InvalidFenError

BASE_FENS = [
    STARTING_FEN,
    "r3k2r/p1ppqpb1/bn2pnp1/3PN3/1p2P3/2N2Q1p/PPPBBPPP/R3K2R w KQkq - 0 1",
    "8/2p5/3p4/KP5r/1R3p1k/8/4P1P1/8 w - - 0 1",
    "r3k2r/Pppp1ppp/1b3nbN/nP6/BBP1P3/q4N2/Pp1P2PP/R2Q1RK1 w kq - 0 1",
    "rnbq1k1r/pp1Pbppp/2p5/8/2B5/8/PPP1NnPP/RNBQK2R w KQ - 1 8",
    "rnbqkbnr/ppp1p1pp/8/3pPp2/8/8/PPPP1PPP/RNBQKBNR w KQkq f6 0 3",
    "rnbqkbnr/pppp1ppp/8/8/3Pp3/8/PPP1PPPP/RNBQKBNR b KQkq d3 0 2",
    "8/8/8/8/k2Pp2Q/8/8/3K4 b - d3 0 1",
    "4k3/8/8/8/8/8/8/4K2R w K - 99 80",
    "bqnb1rkr/pp3ppp/3ppn2/2p5/5P2/P2P4/NPP1P1PP/BQ1BNRKR w HFhf - 2 9",
]

# Characters the mutations draw from: FEN syntax, near misses, whitespace, control, non-ASCII.
MUTATION_CHARS = (
    "pnbrqkPNBRQK12345678/ wb-KQkqABCDEFGHabcdefgh0123456789x9+-.:;"
    "\t\n\r\x00\x01\x1b\x7f\xa0\xe9\u3000\u2014\u265a\U0001f600"
)


def check_any_fen(text: str, chess960: bool = False) -> Board | None:
    """The property every input must satisfy; returns the board when one was built."""
    try:
        board = Board(text, chess960=chess960)
    except InvalidFenError as exc:
        assert isinstance(exc, ValueError)
        assert str(exc).startswith("invalid FEN ")
        return None
    fen = board.fen()
    again = Board(fen, chess960=chess960)
    assert again.fen() == fen
    assert len(fen.split(" ")) == 6
    theirs = chess.Board(fen, chess960=chess960)
    assert theirs.fen() == fen
    if theirs.is_valid():
        assert {m.uci() for m in board.legal_moves} == {m.uci() for m in theirs.legal_moves}
    return board


@st.composite
def mutated_fens(draw: st.DrawFn) -> str:
    fen = draw(st.sampled_from(BASE_FENS))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(
            st.sampled_from(
                ["replace", "insert", "delete", "swap", "huge", "drop", "dup", "truncate", "case"]
            )
        )
        fields = fen.split(" ")
        if op in ("replace", "insert", "delete") and fen:
            i = draw(st.integers(0, len(fen) - 1))
            c = draw(st.sampled_from(MUTATION_CHARS))
            if op == "replace":
                fen = fen[:i] + c + fen[i + 1 :]
            elif op == "insert":
                fen = fen[:i] + c + fen[i:]
            else:
                fen = fen[:i] + fen[i + 1 :]
        elif op == "swap" and len(fields) > 1:
            i = draw(st.integers(0, len(fields) - 1))
            j = draw(st.integers(0, len(fields) - 1))
            fields[i], fields[j] = fields[j], fields[i]
            fen = " ".join(fields)
        elif op == "huge":
            i = draw(st.integers(0, len(fields) - 1))
            fields[i] = draw(
                st.sampled_from(
                    [
                        "65535",
                        "65536",
                        "4294967296",
                        "99999999999999999999",
                        "-1",
                        "-0",
                        "1e3",
                        "0x10",
                        "1_000",
                        "١٢",
                    ]
                )
            )
            fen = " ".join(fields)
        elif op == "drop" and fields:
            del fields[draw(st.integers(0, len(fields) - 1))]
            fen = " ".join(fields)
        elif op == "dup" and fields:
            i = draw(st.integers(0, len(fields) - 1))
            fields.insert(i, fields[i])
            fen = " ".join(fields)
        elif op == "truncate":
            fen = fen[: draw(st.integers(0, len(fen)))]
        elif op == "case":
            fen = fen.swapcase()
    return fen


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=120))
def test_arbitrary_text(text: str) -> None:
    check_any_fen(text)
    check_any_fen(text, chess960=True)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="pnbrqkPNBRQK12345678/ wb-KQkqAHah", max_size=90))
def test_fen_alphabet_text(text: str) -> None:
    check_any_fen(text)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_fens(), st.booleans())
def test_mutated_fens(fen: str, chess960: bool) -> None:
    check_any_fen(fen, chess960=chess960)


@pytest.mark.parametrize(
    "text",
    [
        "\ud800",  # a lone surrogate: not encodable as UTF-8
        STARTING_FEN.replace(" w ", " \udcff "),
        STARTING_FEN.replace("RNBQKBNR w", "RNBQKBNR\u3000w"),  # ideographic space
        STARTING_FEN.replace("RNBQKBNR", "RNBQKBN\xe9"),  # a non-ASCII piece letter
        STARTING_FEN.replace("KQkq", "KQk\u265a"),  # non-ASCII castling character
        STARTING_FEN.replace(" - ", " \u2014 "),
        "\x00",
        "",
        "   ",
        STARTING_FEN + "\x00",
    ],
)
def test_non_ascii_and_control_characters_raise_invalid_fen(text: str) -> None:
    with pytest.raises(InvalidFenError):
        Board(text)


def test_fuzz_in_a_subprocess() -> None:
    """A larger random batch where a segfault would only fail this test, not kill pytest."""
    script = textwrap.dedent(
        """
        import random
        from chessformer.board import Board, InvalidFenError
        BASE = %r
        CHARS = %r
        rng = random.Random(12345)
        built = 0
        for n in range(30000):
            fen = rng.choice(BASE)
            for _ in range(rng.randint(1, 5)):
                i = rng.randrange(len(fen) + 1)
                c = rng.choice(CHARS)
                op = rng.random()
                if op < 0.4:
                    fen = fen[:i] + c + fen[i + 1:]
                elif op < 0.7:
                    fen = fen[:i] + c + fen[i:]
                elif op < 0.9:
                    fen = fen[:i] + fen[i + 1:]
                else:
                    fen = " ".join(rng.sample(fen.split(" "), len(fen.split(" "))))
            for chess960 in (False, True):
                try:
                    b = Board(fen, chess960=chess960)
                except InvalidFenError:
                    continue
                built += 1
                moves = list(b.legal_moves)
                for m in moves[:5]:
                    b.san(m)
                    b.push(m)
                    b.outcome(claim_draw=True)
                    b.pop()
                b.perft(2)
        print("ok", built)
        """
    ) % (BASE_FENS, MUTATION_CHARS.replace("\x00", ""))
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-3000:])
    assert proc.stdout.startswith("ok ")
    assert int(proc.stdout.split()[1]) > 500  # many mutations are still valid FENs


# ---- each rule, with its message ----------------------------------------------------------------

E = "4k3/8/8/8/8/8/8/4K3"  # bare kings

RULES: list[tuple[str, str]] = [
    ("", "empty"),
    (f"{E} w - - 0 1 extra", "more than 6"),
    ("4k3/8/8/8/8/8/4K3 w - - 0 1", "7 ranks, expected 8"),
    ("4k3/8/8/8/8/8/8/8/4K3 w - - 0 1", "more than 8 ranks"),
    ("4k3/8/8/8/8/8/8/4K3/ w - - 0 1", "more than 8 ranks"),
    ("4k3/7/8/8/8/8/8/4K3 w - - 0 1", "rank 7 describes 7 squares, expected 8"),
    ("4k3/8/8/8/8/8/8/4K4 w - - 0 1", "rank 1 describes more than 8 squares"),
    ("4k3/ppppppppp/8/8/8/8/8/4K3 w - - 0 1", "rank 7 describes more than 8 squares"),
    ("4k3/8/8/8/8/8/8/4K2 w - - 0 1", "rank 1 describes 7 squares, expected 8"),
    ("4k3/8/8/8/8/8/8/4K2X w - - 0 1", "invalid character 'X'"),
    ("4k3/8/8/9/8/8/8/4K3 w - - 0 1", "invalid character '9'"),
    ("4k3/8/8/0p7/8/8/8/4K3 w - - 0 1", "invalid character '0'"),
    ("4k3/8/8/8/8/8/8/4K12 w - - 0 1", "two adjacent empty-square counts in rank 1"),
    ("4k3/8/8/44/8/8/8/4K3 w - - 0 1", "two adjacent empty-square counts in rank 5"),
    ("8/8/8/8/8/8/8/4K3 w - - 0 1", "black has 0 kings"),
    ("4k3/8/8/8/8/8/8/8 w - - 0 1", "white has 0 kings"),
    ("4k3/8/8/8/8/8/8/3KK3 w - - 0 1", "white has 2 kings"),
    ("3kk3/8/8/8/8/8/8/4K3 w - - 0 1", "black has 2 kings"),
    ("4k2P/8/8/8/8/8/8/4K3 w - - 0 1", "pawn on the first or last rank"),
    ("4k3/8/8/8/8/8/8/p3K3 w - - 0 1", "pawn on the first or last rank"),
    (f"{E} x - - 0 1", "side to move must be 'w' or 'b', got 'x'"),
    (f"{E} W - - 0 1", "side to move must be 'w' or 'b', got 'W'"),
    (f"{E} white - - 0 1", "side to move"),
    ("4k3/8/8/8/8/8/8/4K2R w KX - 0 1", "invalid castling character 'X'"),
    ("4k3/8/8/8/8/8/8/4K2R w K1 - 0 1", "invalid castling character '1'"),
    ("4k3/8/8/8/8/8/8/4K3 w K - 0 1", "castling right 'K' but no white rook"),
    ("r3k3/8/8/8/8/8/8/4K3 w k - 0 1", "castling right 'k' but no black rook"),
    ("4k3/8/8/8/8/8/8/R3K3 w Q - 0 1", "castling right 'Q'"),  # rook on a1 but Q? fine: valid
    ("4k3/8/8/8/8/8/4K3/7R w K - 0 1", "king is not on its back rank"),
    ("4k3/8/8/8/8/8/8/3K3R w K - 0 1", "needs the king on the e-file"),
    ("4k3/8/8/8/8/8/8/4KR2 w K - 0 1", "rook in the corner"),
    ("4k3/8/8/8/8/8/8/4K2R w KK - 0 1", "castling right 'K' given twice"),
    ("4k3/8/8/8/8/8/8/4K2R w KH - 0 1", "given twice"),
    (f"{E} w - e9 0 1", "en passant square 'e9' is not a square"),
    (f"{E} w - e 0 1", "en passant square 'e' is not a square"),
    (f"{E} w - E6 0 1", "is not a square"),
    ("4k3/8/8/3pP3/8/8/8/4K3 w - d3 0 1", "en passant square 'd3' must be on rank 6"),
    ("4k3/8/8/8/3pP3/8/8/4K3 b - e6 0 1", "must be on rank 3"),
    (f"{E} w - d6 0 1", "en passant square 'd6' without a black pawn"),
    (f"{E} b - e3 0 1", "en passant square 'e3' without a white pawn"),
    ("4k3/3p4/8/3pP3/8/8/8/4K3 w - d6 0 1", "pawn's path is not empty"),
    (f"{E} w - - -1 1", "halfmove clock '-1' is not a non-negative integer"),
    (f"{E} w - - x 1", "halfmove clock 'x'"),
    (f"{E} w - - 0 -5", "fullmove number '-5' is not a non-negative integer"),
    (f"{E} w - - 0 1.5", "fullmove number '1.5'"),
    (f"{E} w - - 99999999999 1", "halfmove clock"),
    (f"{E} w - - 70000 1", "halfmove clock is too large"),
    (f"{E} w - - 0 70000", "fullmove number is too large"),
    ("4k3/8/8/8/8/8/8/4R1K1 w - - 0 1", "the side not to move (black) is in check"),
    ("4k3/4r3/8/8/8/8/8/4K3 b - - 0 1", "the side not to move (white) is in check"),
    ("4k3/8/8/8/NNNNNNNN/NNNNNNNN/8/4K3 w - - 0 1", "white has more than 16 pieces"),
    ("4k3/8/8/8/8/P7/PPPPPPPP/4K3 w - - 0 1", "white has more than 8 pawns"),
    ("4k3/pppppppp/p7/8/8/8/8/4K3 w - - 0 1", "black has more than 8 pawns"),
    ("4k3/8/8/8/8/8/8/4K3 w - - 0 1\n", "control character"),
    ("4k3/8/8/8/8/8/8/4K3\x00 w - - 0 1", "control character"),
]


@pytest.mark.parametrize(("fen", "rule"), [r for r in RULES if r[1] != "castling right 'Q'"])
def test_each_rule_is_named(fen: str, rule: str) -> None:
    with pytest.raises(InvalidFenError) as info:
        Board(fen)
    message = str(info.value)
    assert isinstance(info.value, ValueError)
    assert rule in message, message
    # the input is quoted verbatim, except that control characters are escaped as \xNN
    quoted = "".join(f"\\x{ord(c):02x}" if ord(c) < 32 or ord(c) == 127 else c for c in fen)
    assert f"'{quoted}'" in message, message


def test_castling_rule_needs_the_right_rook() -> None:
    assert Board("4k3/8/8/8/8/8/8/R3K3 w Q - 0 1").fen() == "4k3/8/8/8/8/8/8/R3K3 w Q - 0 1"
    with pytest.raises(InvalidFenError, match="castling right 'K' but no white rook"):
        Board("4k3/8/8/8/8/8/8/R3K3 w K - 0 1")


def test_chess960_rules() -> None:
    # Shredder-FEN file letters are fine in standard mode when they name the corner rooks...
    assert Board(STARTING_FEN.replace("KQkq", "HAha")).fen() == STARTING_FEN
    # ...but a non-corner rook needs chess960 mode.
    fen960 = "1r2k1r1/8/8/8/8/8/8/R2RK2R w KDg - 0 1"
    with pytest.raises(InvalidFenError, match="chess960"):
        Board(fen960)
    # the g8 rook is the outermost on its side: X-FEN writes 'k' (python-chess agrees)
    assert Board(fen960, chess960=True).fen() == fen960.replace("KDg", "KDk")
    assert chess.Board(fen960, chess960=True).fen() == fen960.replace("KDg", "KDk")
    # X-FEN and Shredder-FEN describe the same rights; output is X-FEN (python-chess's default).
    shredder = "bqnb1rkr/pp3ppp/3ppn2/2p5/5P2/P2P4/NPP1P1PP/BQ1BNRKR w HFhf - 2 9"
    xfen = shredder.replace("HFhf", "KQkq")
    assert Board(shredder, chess960=True).fen() == xfen
    assert Board(xfen, chess960=True).fen() == xfen
    assert chess.Board(shredder, chess960=True).fen() == xfen
    # a file letter without a rook there
    with pytest.raises(InvalidFenError, match="castling right 'C' but no white rook"):
        Board(shredder.replace("HFhf", "Cf"), chess960=True)
    with pytest.raises(InvalidFenError, match="given twice"):
        Board(shredder.replace("HFhf", "HKhf"), chess960=True)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("rnbqkbnr/pppppppp/8/8/8/8/PPPPPPPP/RNBQKBNR w KQkq -", STARTING_FEN),
        ("rnbqkbnr/pppppppp/8/8/8/8/PPPPPPPP/RNBQKBNR w KQkq - 7", STARTING_FEN[:-3] + "7 1"),
        ("rnbqkbnr/pppppppp/8/8/8/8/PPPPPPPP/RNBQKBNR w KQkq", STARTING_FEN),
        ("rnbqkbnr/pppppppp/8/8/8/8/PPPPPPPP/RNBQKBNR b", STARTING_FEN.replace(" w KQkq", " b -")),
        ("rnbqkbnr/pppppppp/8/8/8/8/PPPPPPPP/RNBQKBNR", STARTING_FEN.replace("KQkq", "-")),
        ("  " + STARTING_FEN.replace(" ", "  \t") + "  ", STARTING_FEN),
        (STARTING_FEN.replace(" 0 1", " 0 0"), STARTING_FEN),  # fullmove 0 reads as 1
        (STARTING_FEN.replace(" 0 1", " 007 012"), STARTING_FEN.replace(" 0 1", " 7 12")),
        (
            STARTING_FEN.replace(" 0 1", " 65535 65535"),
            STARTING_FEN.replace(" 0 1", " 65535 65535"),
        ),
    ],
)
def test_valid_variants(given: str, expected: str) -> None:
    assert Board(given).fen() == expected
    assert chess.Board(given).fen() == expected


@pytest.mark.parametrize(
    "fen",
    [
        # after 1.e4: no black pawn can capture -> '-'
        "rnbqkbnr/pppppppp/8/8/4P3/8/PPPP1PPP/RNBQKBNR b KQkq e3 0 1",
        # a black pawn on d4 can capture e3 -> kept
        "rnbqkbnr/ppp1pppp/8/8/3pP3/8/PPPP1PPP/RNBQKBNR b KQkq e3 0 3",
        # the capturing pawn is pinned (rook on the rank through both pawns) -> '-'
        "8/8/8/8/k2Pp2Q/8/8/3K4 b - d3 0 1",
        "8/8/8/8/R2Pp2k/8/8/3K4 b - d3 0 1",
        # diagonal pin of the capturer, but capturing along the pin line is fine
        "4k3/8/8/2KPp3/8/8/8/7b w - e6 0 1",
        "4k3/8/8/8/3pP3/8/8/1K3Q2 b - e3 0 1",
        # the side to move is in check by the double-pushed pawn: ep capture resolves it
        "8/8/8/3k4/3pP3/8/8/4K3 b - e3 0 1",
        # in check by another piece: ep does not help -> '-'
        "8/8/8/1k6/3pP3/8/8/1R2K3 b - e3 0 1",
    ],
)
def test_en_passant_square_shown_only_when_capturable(fen: str) -> None:
    theirs = chess.Board(fen)
    ours = Board(fen)
    assert ours.fen() == theirs.fen()
    want = theirs.ep_square if theirs.has_legal_en_passant() else None
    assert ours.ep_square == want
    assert {m.uci() for m in ours.legal_moves} == {m.uci() for m in theirs.legal_moves}


def test_fen_round_trip_through_history() -> None:
    board = Board()
    for san in ["e4", "d5", "e5", "f5", "exf6", "Nxf6", "Nf3", "Nc6", "Bb5", "Bd7", "O-O", "Qc8"]:
        board.push_san(san)
        assert Board(board.fen()).fen() == board.fen()
    assert board.fen() == "r1q1kb1r/pppbp1pp/2n2n2/1B1p4/8/5N2/PPPP1PPP/RNBQ1RK1 w kq - 6 7"


def test_non_string_fen() -> None:
    with pytest.raises(TypeError):
        Board(5)  # type: ignore[arg-type]
    assert Board(None).fen() == STARTING_FEN


def test_large_clocks_do_not_wrap_around() -> None:
    """The largest accepted clocks (65535) must survive another move: the halfmove clock must not
    fall back to 0 on a quiet move (that would end a game drawn by the 75-move rule) and the
    fullmove number must not become 0 (a FEN that does not read back)."""
    board = Board("4k3/8/8/8/8/8/8/4K2R w - - 65535 65535")
    assert board.outcome() is not None and board.outcome().termination.name == "SEVENTYFIVE_MOVES"
    board.push_san("Rh2")
    assert board.halfmove_clock >= 65535, board.fen()
    assert board.is_seventyfive_moves()
    board.push_san("Kd8")
    assert board.fullmove_number >= 65535, board.fen()
    assert Board(board.fen()).fen() == board.fen()
