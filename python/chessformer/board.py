"""Board and Move: a python-chess-flavoured facade over the C++ chess core.

    >>> from chessformer import Board
    >>> board = Board()
    >>> board.push_san("e4")
    Move.from_uci('e2e4')
    >>> board.san("e7e5")
    'e5'

Names follow python-chess (``Board``, ``Move.from_uci``, ``legal_moves``, ``push_san``, ``outcome``)
so users feel at home; ``Board.from_chess`` / ``Board.to_chess`` convert when python-chess is
installed (it is not a dependency). Squares are ints, a1 = 0 … h8 = 63; piece types are 1…6
(pawn … king); colours are ``True`` for White, as in python-chess.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chessformer import _core

if TYPE_CHECKING:
    import chess

__all__ = [
    "STARTING_FEN",
    "AmbiguousMoveError",
    "Board",
    "IllegalMoveError",
    "InvalidFenError",
    "LegalMoves",
    "Move",
    "Outcome",
    "Termination",
]

STARTING_FEN = "rnbqkbnr/pppppppp/8/8/8/8/PPPPPPPP/RNBQKBNR w KQkq - 0 1"

InvalidFenError = _core.InvalidFenError
"""A FEN string broke a rule; the message quotes the FEN and names the rule (a ValueError)."""
IllegalMoveError = _core.IllegalMoveError
"""A move is malformed or not legal in the position (a ValueError)."""
AmbiguousMoveError = _core.AmbiguousMoveError
"""A SAN move matches more than one legal move (a ValueError)."""

WHITE = True
BLACK = False
PIECE_SYMBOLS = [None, "p", "n", "b", "r", "q", "k"]
SQUARE_NAMES = [f + r for r in "12345678" for f in "abcdefgh"]


@dataclass(frozen=True, slots=True)
class Move:
    """A move as (from_square, to_square, promotion); castling is the king's move (e1g1) except
    on Chess960 boards, where it is king-takes-rook (e1h1), as in python-chess."""

    from_square: int
    to_square: int
    promotion: int | None = None

    @classmethod
    def from_uci(cls, uci: str) -> Move:
        """Parse ``e2e4``/``e7e8q``/``0000``; raises IllegalMoveError for malformed strings."""
        if uci == "0000":
            return cls.null()
        if not isinstance(uci, str) or len(uci) not in (4, 5):
            raise IllegalMoveError(f"invalid UCI move {uci!r}")
        try:
            frm = SQUARE_NAMES.index(uci[0:2])
            to = SQUARE_NAMES.index(uci[2:4])
        except ValueError:
            raise IllegalMoveError(f"invalid UCI move {uci!r}") from None
        if frm == to:  # e2e2 would otherwise read as the null move (use 0000), as in python-chess
            raise IllegalMoveError(f"invalid UCI move {uci!r} (use 0000 for a null move)")
        promotion = None
        if len(uci) == 5:
            if uci[4] not in "nbrq":
                raise IllegalMoveError(f"invalid promotion piece in UCI move {uci!r}")
            promotion = PIECE_SYMBOLS.index(uci[4])
        return cls(frm, to, promotion)

    @classmethod
    def null(cls) -> Move:
        return cls(0, 0, None)

    def uci(self) -> str:
        if not self:
            return "0000"
        promo = PIECE_SYMBOLS[self.promotion] if self.promotion else ""
        return SQUARE_NAMES[self.from_square] + SQUARE_NAMES[self.to_square] + (promo or "")

    def __bool__(self) -> bool:
        return self.from_square != self.to_square or self.promotion is not None

    def __str__(self) -> str:
        return self.uci()

    def __repr__(self) -> str:
        return f"Move.from_uci({self.uci()!r})"


def _move(t: tuple[int, int, int]) -> Move:
    return Move(t[0], t[1], t[2] or None)


class Termination(enum.Enum):
    """Why a game ended (same names as python-chess)."""

    CHECKMATE = enum.auto()
    STALEMATE = enum.auto()
    INSUFFICIENT_MATERIAL = enum.auto()
    SEVENTYFIVE_MOVES = enum.auto()
    FIVEFOLD_REPETITION = enum.auto()
    FIFTY_MOVES = enum.auto()
    THREEFOLD_REPETITION = enum.auto()


@dataclass(frozen=True, slots=True)
class Outcome:
    termination: Termination
    winner: bool | None  # True: White won, False: Black won, None: draw

    def result(self) -> str:
        return "1/2-1/2" if self.winner is None else ("1-0" if self.winner else "0-1")


class LegalMoves:
    """The legal moves of a board at the time of the call: iterable, sized, supports ``in``."""

    __slots__ = ("_moves",)

    def __init__(self, moves: list[Move]) -> None:
        self._moves = moves

    def __iter__(self) -> Iterator[Move]:
        return iter(self._moves)

    def __len__(self) -> int:
        return len(self._moves)

    def __bool__(self) -> bool:
        return bool(self._moves)

    def __contains__(self, move: object) -> bool:
        return _as_move(move) in self._moves if move is not None else False

    def count(self) -> int:
        return len(self._moves)

    def __repr__(self) -> str:
        return f"<LegalMoves ({', '.join(m.uci() for m in self._moves)})>"


def _as_move(move: Any) -> Move:
    """Accept our Move, a python-chess Move, or a UCI string."""
    if isinstance(move, Move):
        return move
    if isinstance(move, str):
        return Move.from_uci(move)
    uci = getattr(move, "uci", None)
    if callable(uci):
        return Move.from_uci(uci())
    raise TypeError(f"expected a Move, a chess.Move or a UCI string, got {move!r}")


def _is_utf8(text: str) -> bool:
    """False for strings with unpaired surrogates, which the C++ core cannot receive."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _san_text(san: str) -> str:
    if not isinstance(san, str):
        raise TypeError(f"SAN must be a str, got {san!r}")
    if not _is_utf8(san):
        raise IllegalMoveError(f"invalid SAN {san!r}")
    return san


class Board:
    """A chess position with its move history. ``Board()`` is the start position."""

    __slots__ = ("_board",)

    def __init__(self, fen: str | None = STARTING_FEN, *, chess960: bool = False) -> None:
        if fen is None:
            fen = STARTING_FEN
        if not isinstance(fen, str):
            raise TypeError(f"FEN must be a str, got {fen!r}")
        if not _is_utf8(fen):
            raise InvalidFenError(f"invalid FEN {fen!r}: not valid Unicode text")
        self._board = _core.Board(fen, chess960)

    # ---- state --------------------------------------------------------------------------------
    def fen(self) -> str:
        """FEN with the en passant square shown only when a legal en passant capture exists."""
        return str(self._board.fen())

    def board_fen(self) -> str:
        return str(self._board.board_fen())

    @property
    def turn(self) -> bool:
        return self._board.turn == 0

    @property
    def chess960(self) -> bool:
        return bool(self._board.chess960)

    @property
    def halfmove_clock(self) -> int:
        return int(self._board.halfmove_clock)

    @property
    def fullmove_number(self) -> int:
        return int(self._board.fullmove_number)

    @property
    def ep_square(self) -> int | None:
        ep = self._board.ep_square
        return None if ep is None else int(ep)

    @property
    def ply(self) -> int:
        """Moves pushed since this board was created (python-chess: ``len(move_stack)``)."""
        return int(self._board.ply)

    def zobrist_hash(self) -> int:
        return int(self._board.zobrist)

    def piece_at(self, square: int) -> str | None:
        """The piece on a square as its FEN letter (``'P'``, ``'k'``, …), or None."""
        pc = self._board.piece_at(square)
        if pc is None:
            return None
        symbol = PIECE_SYMBOLS[pc[0]] or ""
        return symbol.upper() if pc[1] == 0 else symbol

    @property
    def move_stack(self) -> list[Move]:
        return [Move.from_uci(u) for u in self._board.move_stack()]

    def peek(self) -> Move:
        stack = self._board.move_stack()
        if not stack:
            raise IndexError("peek at an empty move stack")
        return Move.from_uci(stack[-1])

    def copy(self) -> Board:
        new = Board.__new__(Board)
        new._board = self._board.copy()
        return new

    __copy__ = copy

    # ---- moves --------------------------------------------------------------------------------
    @property
    def legal_moves(self) -> LegalMoves:
        return LegalMoves([_move(t) for t in self._board.legal_moves()])

    def is_legal(self, move: Move | str | Any) -> bool:
        return bool(self._board.is_legal_uci(_as_move(move).uci()))

    def parse_uci(self, uci: str) -> Move:
        """The legal move written ``uci``; raises IllegalMoveError otherwise."""
        move = Move.from_uci(uci)
        if not move:
            return move
        if not self._board.is_legal_uci(move.uci()):
            raise IllegalMoveError(f"illegal UCI move {uci!r} in {self.fen()!r}")
        # The move as legal_moves spells it (e1h1 -> e1g1 outside Chess960), as python-chess does.
        return _move(self._board.parse_san(move.uci()))

    def parse_san(self, san: str) -> Move:
        """The legal move written ``san`` (lenient: 0-0, e8Q, Ng1f3, UCI, …)."""
        return _move(self._board.parse_san(_san_text(san)))

    def push(self, move: Move | str | Any) -> None:
        """Play a legal move (our Move, a chess.Move or a UCI string)."""
        self._board.push_uci(_as_move(move).uci())

    def push_uci(self, uci: str) -> Move:
        move = self.parse_uci(uci)
        self._board.push_uci(move.uci())
        return move

    def push_san(self, san: str) -> Move:
        return _move(self._board.push_san(_san_text(san)))

    def pop(self) -> Move:
        """Undo the last move and return it; IndexError when there is nothing to undo."""
        return _move(self._board.pop())

    def san(self, move: Move | str | Any) -> str:
        """SAN of a legal move, with exact disambiguation and ``+``/``#``."""
        return str(self._board.san_of_uci(_as_move(move).uci()))

    def variation_san(self, moves: Iterable[Move | str]) -> str:
        """``1. e4 e5 2. Nf3`` for a sequence of legal moves from this position."""
        board = self.copy()
        parts: list[str] = []
        for i, mv in enumerate(moves):
            if board.turn:
                parts.append(f"{board.fullmove_number}. {board.san(mv)}")
            elif i == 0:
                parts.append(f"{board.fullmove_number}...{board.san(mv)}")
            else:
                parts.append(board.san(mv))
            board.push(mv)
        return " ".join(parts)

    # ---- game end -----------------------------------------------------------------------------
    def is_check(self) -> bool:
        return bool(self._board.is_check())

    def is_checkmate(self) -> bool:
        return bool(self._board.is_checkmate())

    def is_stalemate(self) -> bool:
        return bool(self._board.is_stalemate())

    def is_insufficient_material(self) -> bool:
        return bool(self._board.is_insufficient_material())

    def has_insufficient_material(self, color: bool) -> bool:
        return bool(self._board.has_insufficient_material(0 if color else 1))

    def is_fifty_moves(self) -> bool:
        """The halfmove clock reached 100 (a draw can be claimed) and the game is not over."""
        return self._board.is_fifty_moves() and self._board.count_legal() > 0

    def is_seventyfive_moves(self) -> bool:
        return self._board.is_seventyfive_moves() and self._board.count_legal() > 0

    def is_repetition(self, count: int = 3) -> bool:
        """The current position occurred at least ``count`` times (this occurrence included)."""
        return int(self._board.repetition_count()) >= count

    def is_fivefold_repetition(self) -> bool:
        return self.is_repetition(5)

    def can_claim_fifty_moves(self) -> bool:
        """100 half-moves without capture or pawn move, or a legal move reaching them."""
        return bool(self._board.can_claim_fifty_moves())

    def can_claim_threefold_repetition(self) -> bool:
        """The position occurred three times, or a legal move repeats one a third time."""
        return bool(self._board.can_claim_threefold_repetition())

    def can_claim_draw(self) -> bool:
        return self.can_claim_fifty_moves() or self.can_claim_threefold_repetition()

    def outcome(self, *, claim_draw: bool = False) -> Outcome | None:
        """How the game ended, or None; ``claim_draw`` adds the claimable fifty-move and
        threefold-repetition draws (including claims a legal move would make possible)."""
        res = self._board.outcome(claim_draw)
        if res is None:
            return None
        name, winner = res
        return Outcome(Termination[name], None if winner < 0 else winner == 0)

    def is_game_over(self, *, claim_draw: bool = False) -> bool:
        return self.outcome(claim_draw=claim_draw) is not None

    def result(self, *, claim_draw: bool = False) -> str:
        outcome = self.outcome(claim_draw=claim_draw)
        return outcome.result() if outcome else "*"

    # ---- perft --------------------------------------------------------------------------------
    def perft(self, depth: int) -> int:
        """Leaf nodes of the legal move tree to ``depth`` (bulk-counted in C++, GIL released)."""
        return int(self._board.perft(depth))

    def perft_divide(self, depth: int) -> dict[str, int]:
        return {uci: int(n) for uci, n in self._board.perft_divide(depth)}

    # ---- python-chess interoperability --------------------------------------------------------
    @classmethod
    def from_chess(cls, board: chess.Board) -> Board:
        """Copy a ``chess.Board``, its move history included."""
        root = board.root()
        new = cls(root.fen(), chess960=board.chess960)
        for mv in board.move_stack:
            new.push(mv.uci())
        return new

    def to_chess(self) -> chess.Board:
        """A ``chess.Board`` with the same start position and moves (needs python-chess)."""
        try:
            import chess
        except ImportError as exc:  # pragma: no cover - exercised only without python-chess
            raise ImportError("Board.to_chess needs python-chess: pip install chess") from exc
        out = chess.Board(self._board.start_fen(), chess960=self.chess960)
        for uci in self._board.move_stack():
            out.push(chess.Move.from_uci(uci))
        return out

    # ---- dunder -------------------------------------------------------------------------------
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Board):
            return NotImplemented
        return self.fen() == other.fen()

    __hash__ = None  # type: ignore[assignment]  # mutable, like python-chess

    def __repr__(self) -> str:
        return f"Board({self.fen()!r})"

    def __str__(self) -> str:
        rows = []
        for rank in range(7, -1, -1):
            row = [self.piece_at(rank * 8 + f) or "." for f in range(8)]
            rows.append(" ".join(row))
        return "\n".join(rows)
