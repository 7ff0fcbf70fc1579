"""Game tokenizers: ``char`` (the paper's transcripts), ``move`` (1968-move vocabulary), ``fen``.

    >>> from chessformer.data.tokenizers import get_tokenizer
    >>> tok = get_tokenizer("char")
    >>> ids = tok.encode(["e2e4", "e7e5", "g1f3"])
    >>> tok.to_text(ids)
    ';1.e4 e5 2.Nf3'
    >>> tok.decode(ids).moves
    ['e2e4', 'e7e5', 'g1f3']

Encoding and decoding run in C++ (games are replayed there, so only legal games encode); every
format is versioned and documented in docs/formats.md. ``decode(encode(game))`` gives the game back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from chessformer import _core
from chessformer.board import STARTING_FEN, Board

__all__ = ["TOKENIZERS", "DecodedGame", "TokenizeError", "Tokenizer", "get_tokenizer"]


class TokenizeError(ValueError):
    """Tokens that do not decode to a legal game (the message says where and why)."""


@dataclass(frozen=True)
class DecodedGame:
    moves: list[str]  # UCI
    start_fen: str = STARTING_FEN
    result: str = ""  # move tokenizer only
    extra: dict[str, Any] = field(default_factory=dict)

    def board(self) -> Board:
        board = Board(self.start_fen)
        for uci in self.moves:
            board.push_uci(uci)
        return board


@dataclass(frozen=True)
class Tokenizer:
    name: str
    version: int
    vocab_size: int
    dtype: str  # numpy dtype of the stored tokens
    game_start: int  # the token that starts every game (';' for char, BOS for move)
    pad: int | None  # padding token, if the vocabulary has one
    specials: dict[str, int] = field(default_factory=dict)

    def info(self) -> dict[str, Any]:
        """What a dataset manifest records about its tokenizer."""
        return {"name": self.name, "version": self.version, "vocab_size": self.vocab_size,
                "dtype": self.dtype}  # fmt: skip

    def encode(
        self,
        game: Board | Sequence[str],
        *,
        start_fen: str = STARTING_FEN,
        result: str = "*",
        with_result: bool | None = None,
    ) -> npt.NDArray[Any]:
        """Tokens of a game: a Board (its start position and moves) or a list of UCI moves.

        ``with_result`` (move tokenizer) appends the result token; by default it does so for move
        lists and not for Boards (a game in progress has no result yet)."""
        if isinstance(game, Board):
            arr = _core.encode_board(self.name, game._board, bool(with_result), result)
        else:
            arr = _core.encode_game(
                self.name, start_fen, list(game), result, False,
                True if with_result is None else with_result,
            )  # fmt: skip
        return np.asarray(arr, dtype=self.dtype)

    def decode(self, tokens: npt.ArrayLike) -> DecodedGame:
        """The game in ``tokens``; raises TokenizeError naming the first bad token."""
        start_fen, moves, result, error = _core.decode_game(self.name, np.asarray(tokens))
        if error:
            raise TokenizeError(f"{self.name} tokens do not decode: {error}")
        return DecodedGame(list(moves), start_fen or STARTING_FEN, result)

    def to_text(self, tokens: npt.ArrayLike) -> str:
        """Human-readable tokens: the transcript for char, symbols for fen, ids for move."""
        arr = np.asarray(tokens)
        if self.name == "char":
            return "".join(_core.CHAR_VOCAB[int(t)] for t in arr)
        if self.name == "fen":
            from chessformer.moves import MOVE_VOCAB

            return "".join(
                _core.FEN_VOCAB[int(t)] if t < 32 else f" {MOVE_VOCAB[int(t) - 32]} " for t in arr
            )
        from chessformer.moves import MOVE_VOCAB

        names = {v: k for k, v in self.specials.items()}
        return " ".join(names.get(int(t), MOVE_VOCAB[int(t)] if t < 1968 else "?") for t in arr)


_MOVE_SPECIALS = {"PAD": 1968, "BOS": 1969, "1-0": 1970, "0-1": 1971, "1/2-1/2": 1972, "*": 1973}

TOKENIZERS: dict[str, Tokenizer] = {
    "char": Tokenizer("char", 1, 32, "uint8", game_start=15, pad=None),
    "move": Tokenizer(
        "move", 1, 1974, "uint16", game_start=1969, pad=1968, specials=_MOVE_SPECIALS
    ),
    "fen": Tokenizer("fen", 1, 2000, "uint16", game_start=-1, pad=None),
}


def get_tokenizer(name: str | dict[str, Any]) -> Tokenizer:
    """A tokenizer by name, or from a manifest's tokenizer record (version checked)."""
    record = name if isinstance(name, dict) else {"name": name}
    tok = TOKENIZERS.get(str(record.get("name")))
    if tok is None:
        raise ValueError(f"unknown tokenizer {record.get('name')!r}; known: {sorted(TOKENIZERS)}")
    version = record.get("version", tok.version)
    if version != tok.version:
        raise ValueError(f"tokenizer {tok.name!r} version {version!r} is not supported "
                         f"(this chessformer reads version {tok.version})")  # fmt: skip
    return tok
