"""The 1968-move vocabulary and the batch legal-move API used by the inference engine.

Ids 0…1791 are the (from, to) pairs a queen or knight could travel (ordered by from, then to),
ids 1792…1967 the 176 promotions (from, to, then n/b/r/q) — see docs/formats.md. Castling is the
king's move (``e1g1``), or king-takes-rook on Chess960 boards.

    >>> from chessformer import Board
    >>> from chessformer.moves import legal_move_mask, MOVE_VOCAB
    >>> mask = legal_move_mask([Board()])        # (1, 1968) bool, 20 entries set
    >>> [MOVE_VOCAB[i] for i in mask[0].nonzero()[0]][:3]
    ['b1a3', 'b1c3', 'g1f3']

The batch functions release the GIL and, for large batches, use several threads; boards must not
be mutated by another thread during a call.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from chessformer import _core
from chessformer.board import Board, IllegalMoveError, Move

__all__ = [
    "MOVE_VOCAB",
    "NUM_MOVES",
    "id_to_move",
    "legal_move_ids",
    "legal_move_mask",
    "legal_move_mask_games",
    "move_to_id",
]

NUM_MOVES: int = int(_core.NUM_MOVES)
MOVE_VOCAB: tuple[str, ...] = tuple(_core.move_vocab())
_ID_OF_UCI: dict[str, int] = {uci: i for i, uci in enumerate(MOVE_VOCAB)}


def move_to_id(move: Move | str | Any) -> int:
    """Vocabulary id of a move (our Move, a chess.Move or a UCI string)."""
    uci = move if isinstance(move, str) else move.uci()
    try:
        return _ID_OF_UCI[uci]
    except KeyError:
        raise IllegalMoveError(f"move {uci!r} is not in the 1968-move vocabulary") from None


def id_to_move(move_id: int) -> Move:
    if not 0 <= move_id < NUM_MOVES:
        raise ValueError(f"move id {move_id!r} outside 0..{NUM_MOVES - 1}")
    return Move.from_uci(MOVE_VOCAB[move_id])


def _boards(boards: Sequence[Board | str]) -> list[Any]:
    return [Board(b)._board if isinstance(b, str) else b._board for b in boards]


def legal_move_ids(
    boards: Sequence[Board | str],
) -> tuple[npt.NDArray[np.int16], npt.NDArray[np.int64]]:
    """Legal move ids of N boards (or FENs): ``(ids, offsets)``; board i's sorted ids are
    ``ids[offsets[i]:offsets[i + 1]]``."""
    ids, offsets = _core.legal_move_ids(_boards(boards))
    return ids, offsets


def legal_move_mask(boards: Sequence[Board | str], *, packed: bool = False) -> npt.NDArray[Any]:
    """``(N, 1968)`` bool mask of legal moves, or ``(N, 246)`` uint8 bits (little bit order) when
    ``packed`` — unpack with ``np.unpackbits(m, axis=1, bitorder='little')[:, :1968]``."""
    result: npt.NDArray[Any] = _core.legal_move_mask(_boards(boards), packed)
    return result


def legal_move_mask_games(
    games: Sequence[Sequence[str]],
    fens: Sequence[str] | None = None,
    *,
    chess960: bool = False,
    packed: bool = False,
) -> npt.NDArray[Any]:
    """Masks of the final positions of N games given as UCI move lists (replayed in C++);
    IllegalMoveError names the game and ply of a bad move."""
    result: npt.NDArray[Any] = _core.legal_move_mask_games(
        [list(g) for g in games], list(fens or []), chess960, packed
    )
    return result
