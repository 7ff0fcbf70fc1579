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

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from chessformer import _core
from chessformer.board import STARTING_FEN, Board

if TYPE_CHECKING:
    import torch

__all__ = [
    "CHAR_ID",
    "CHAR_VOCAB",
    "IGNORE_INDEX",
    "MOVE_BOS",
    "MOVE_PAD",
    "NUM_MOVES",
    "TOKENIZERS",
    "DecodedGame",
    "TokenizeError",
    "Tokenizer",
    "char_ids",
    "decode_char",
    "encode_char",
    "get_tokenizer",
]


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
    """One tokenizer, described from the C++ core's constants (the single source of these facts:
    dataset manifests, checkpoints, training and inference all read this description)."""

    name: str  # "char" | "move" | "fen"
    version: int  # format version; readers refuse others
    vocab_size: int  # sets the model's embedding and output size
    dtype: str  # numpy dtype of the stored tokens: "uint8" | "uint16"
    pad_id: int  # input id at padded positions (char and fen have no PAD token: 0)
    game_start: int | None  # the token that starts every game (';' for char, BOS for move)
    symbols: str = ""  # char: the symbol of each id; fen: of the ids below FEN_MOVE_OFFSET
    specials: dict[str, int] = field(default_factory=dict)  # move: PAD, BOS and the results

    def info(self) -> dict[str, Any]:
        """The record a dataset manifest or a checkpoint keeps of its tokenizer."""
        return {
            "name": self.name,
            "version": self.version,
            "vocab_size": self.vocab_size,
            "dtype": self.dtype,
            "pad_id": self.pad_id,
        }

    @property
    def packed(self) -> bool:
        """Whether training rows are packed ``;game;game`` (the paper's char scheme) or hold one
        game each."""
        return self.name == "char"

    def scored(self, targets: torch.Tensor) -> torch.Tensor:
        """Mask of the targets that count for accuracy: for ``move``, moves only (top-1 move
        accuracy, not results or padding); otherwise every non-ignored target."""
        if self.name == "move":
            return (targets >= 0) & (targets < NUM_MOVES)
        return targets != IGNORE_INDEX

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
                self.name,
                start_fen,
                list(game),
                result,
                False,
                True if with_result is None else with_result,
            )
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
            return decode_char(arr)
        from chessformer.moves import MOVE_VOCAB

        if self.name == "fen":
            off = FEN_MOVE_OFFSET
            return "".join(
                self.symbols[int(t)] if t < off else f" {MOVE_VOCAB[int(t) - off]} " for t in arr
            )
        names = {v: k for k, v in self.specials.items()}
        return " ".join(
            names.get(int(t), MOVE_VOCAB[int(t)] if t < NUM_MOVES else "?") for t in arr
        )


IGNORE_INDEX = -1  # target value the loss skips (F.cross_entropy ignore_index)
NUM_MOVES: int = _core.NUM_MOVES  # the move vocabulary (chessformer.moves): ids 0..NUM_MOVES-1
CHAR_VOCAB: str = _core.CHAR_VOCAB  # the paper's 32 characters in id order (' ' = 0, ';' = 15)
MOVE_PAD: int = _core.MOVE_PAD
MOVE_BOS: int = _core.MOVE_BOS
MOVE_RESULT_TOKENS: dict[str, int] = dict(_core.MOVE_RESULT_TOKENS)  # "1-0" -> its token, ...
FEN_MOVE_OFFSET: int = _core.FEN_MOVE_OFFSET  # fen: a move's token is this + its move id
CHAR_ID: dict[str, int] = {c: i for i, c in enumerate(CHAR_VOCAB)}
_CHAR_IDS = bytes.maketrans(CHAR_VOCAB.encode(), bytes(range(len(CHAR_VOCAB))))

TOKENIZERS: dict[str, Tokenizer] = {
    "char": Tokenizer(
        "char",
        _core.TOKENIZER_VERSION,
        len(CHAR_VOCAB),
        "uint8",
        pad_id=0,
        game_start=_core.CHAR_GAME_START,
        symbols=CHAR_VOCAB,
    ),
    "move": Tokenizer(
        "move",
        _core.TOKENIZER_VERSION,
        _core.MOVE_VOCAB_SIZE,
        "uint16",
        pad_id=MOVE_PAD,
        game_start=MOVE_BOS,
        specials={"PAD": MOVE_PAD, "BOS": MOVE_BOS, **MOVE_RESULT_TOKENS},
    ),
    "fen": Tokenizer(
        "fen",
        _core.TOKENIZER_VERSION,
        _core.FEN_VOCAB_SIZE,
        "uint16",
        pad_id=0,
        game_start=None,
        symbols=_core.FEN_VOCAB,
    ),
}


def char_ids(text: str) -> list[int]:
    """Char ids of vocabulary text (``[CHAR_ID[c] for c in text]`` at C speed, unchecked: for
    text built from the vocabulary, such as the inference engine's SAN moves)."""
    return list(text.encode("ascii").translate(_CHAR_IDS))


def encode_char(transcript: str) -> npt.NDArray[np.uint8]:
    """The char ids of a transcript such as ``;1.e4 e5 2.Nf3`` (no replay: any vocabulary text)."""
    bad = next((c for c in transcript if c not in CHAR_ID), None)
    if bad is not None:
        raise ValueError(f"character {bad!r} of {transcript!r} is not in the char vocabulary")
    return np.array(char_ids(transcript), dtype=np.uint8)


def decode_char(ids: Iterable[int] | npt.ArrayLike) -> str:
    """The text of char ids (``?`` for an id outside the vocabulary)."""
    n = len(CHAR_VOCAB)
    return "".join(CHAR_VOCAB[i] if 0 <= i < n else "?" for i in np.asarray(ids).tolist())


def get_tokenizer(name: str | dict[str, Any]) -> Tokenizer:
    """A tokenizer by name, or from a manifest's or checkpoint's tokenizer record (`Tokenizer.info`;
    its version, token dtype and padding id must be this chessformer's)."""
    record = name if isinstance(name, dict) else {"name": name}
    tok = TOKENIZERS.get(str(record.get("name")))
    if tok is None:
        raise ValueError(f"unknown tokenizer {record.get('name')!r}; known: {sorted(TOKENIZERS)}")
    version = record.get("version", tok.version)
    if version != tok.version:
        raise ValueError(
            f"tokenizer {tok.name!r} version {version!r} is not supported "
            f"(this chessformer reads version {tok.version})"
        )
    for key, want in (("dtype", tok.dtype), ("pad_id", tok.pad_id)):
        if key in record and record[key] != want:
            raise ValueError(f"tokenizer {tok.name!r} {key} {record[key]!r} is not {want!r}")
    return tok
