"""Games from PGN files as Python objects, and the chunked input layer shared with ``prep``.

    >>> from chessformer.data.pgn import read_games
    >>> for game in read_games("lichess_db_standard_rated_2024-05.pgn.zst"):
    ...     game.headers["WhiteElo"], game.moves[:2], game.error

Parsing, SAN replay and UCI conversion run in C++ (``cpp/pgn``) on chunks of the input with the GIL
released; this module reads the bytes (plain, zstd-compressed, stdin or a file object), cuts them
into chunks at lines that start with ``[Event "`` (where the parser always starts a new game, so
results never depend on the cut) and turns the C++ records into `Game` objects.

A game cut by the replay (null move, illegal/ambiguous/unreadable SAN) keeps the moves before the
cut and has ``.error`` set; so does a game the parser flagged (truncated input, NUL byte, unclosed
variation, ...). ``.error`` is the first fatal problem by ply (the replay cut on a tie), except that
in a game the input ends inside (``eof_in_*``, docs/pgn.md row 12) a replay error on the last token
(a move cut in half, ``2. Nf``) is put down to the truncation: ``.error`` is the ``eof_in_*`` error.
``.errors`` lists every fatal problem, both kinds, by ply. An input that fails to decompress yields
every game before the failure, the last one flagged, then warns (`PgnInputWarning`) or raises
(``on_error="raise"``).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from chessformer import _core
from chessformer.data.pgn_input import (
    MAX_GAME_BYTES,
    InputStream,
    PgnInputError,
    Source,
    check_source,
    input_paths,
    iter_chunk_parts,
    iter_chunks,
)

__all__ = [
    "Game",
    "GameError",
    "InputStream",
    "PgnInputError",
    "PgnInputWarning",
    "input_paths",
    "iter_chunk_parts",
    "iter_chunks",
    "read_games",
]


class PgnInputWarning(UserWarning):
    """An input ended early (corrupt or truncated compressed data); earlier games were read."""


@dataclass(frozen=True)
class GameError:
    """One problem of a game: its code, the ply (moves before it), the offending token, the byte
    offset (of the game for replay errors, of the token for parser errors) and whether it cut the
    main line (fatal) or is only a warning."""

    code: str  # e.g. "illegal_san", "null_move", "eof_in_movetext", "missing_result"
    ply: int
    token: str
    offset: int
    fatal: bool = True


@dataclass
class Game:
    # tag name -> value, file order; bytes decoded UTF-8, else Latin-1. A game without a Result
    # tag gets one from its game-termination marker (`1-0`, `0-1`, `1/2-1/2`, `*`) when it has one.
    headers: dict[str, str]
    moves: list[str]  # UCI, main line, up to the first error
    error: GameError | None = None  # the first fatal problem (replay cut or parser error)*
    evals: list[float] | None = None  # per ply, pawns from White's view (mate: +/-(1000 - n)), NaN
    clocks: list[float] | None = None  # per ply, seconds left, NaN when absent
    result: str = ""  # the result used: the movetext token if consistent, else the Result tag
    offset: int = 0  # byte offset of the game's first `[` in the (decompressed) input
    start_fen: str | None = None  # None for the standard start position
    chess960: bool = False
    warnings: list[GameError] = field(default_factory=list)  # non-fatal parser findings
    san: list[str] | None = None  # canonical SAN per move (read_games(san=True))
    errors: list[GameError] = field(default_factory=list)  # every fatal problem, by ply
    # * but the eof_in_* error of a truncated game when the replay failed on its last token

    @property
    def ok(self) -> bool:
        return self.error is None


def _text(b: bytes) -> str:
    try:
        return b.decode("utf-8")
    except UnicodeDecodeError:
        return b.decode("latin-1")


def _error(t: tuple[Any, ...]) -> GameError:
    return GameError(str(t[0]), int(t[1]), _text(t[2]), int(t[3]), bool(t[4]))


def _game(rec: tuple[Any, ...]) -> Game:
    offset, tags, moves, replay_error, perrs, evals, clocks, result, ok, chess960, fen, san = rec
    errors = [_error(e) for e in perrs]
    fatal = [e for e in errors if e.fatal]
    error = fatal[0] if fatal else None
    replay = _error(replay_error) if replay_error is not None else None
    if replay is not None:
        eof = next((e for e in fatal if e.code.startswith("eof_in_")), None)
        if eof is not None and replay.ply + 1 >= eof.ply:
            error = eof  # the replay failed on the token the input ended in (docs/pgn.md row 12)
        elif error is None or replay.ply <= error.ply:
            error = replay
        fatal = sorted([replay, *fatal], key=lambda e: e.ply)  # stable: the replay cut first
    if error is None and not ok:  # truncated without a recorded error (cannot happen; be safe)
        error = GameError("truncated", len(moves), "", int(offset))
        fatal = [error]
    headers = {_text(k): _text(v) for k, v in tags}
    if "Result" not in headers and result:
        # No Result tag: the game-termination marker gives it (as python-chess reads such a game).
        headers["Result"] = str(result)
    return Game(
        headers=headers,
        moves=list(moves),
        error=error,
        evals=evals,
        clocks=clocks,
        result=str(result),
        offset=int(offset),
        start_fen=fen or None,
        chess960=bool(chess960),
        warnings=[e for e in errors if not e.fatal],
        san=san,
        errors=fatal,
    )


ON_ERROR = ("warn", "raise", "ignore")


def read_games(
    source: Source,
    *,
    annotations: bool = True,
    chess960: bool = True,
    on_error: Literal["warn", "raise", "ignore"] = "warn",
    san: bool = False,
    chunk_size: int = 1 << 20,
    max_game_bytes: int = MAX_GAME_BYTES,
) -> Iterator[Game]:
    """Yield the games of a PGN input (path, ``.pgn.zst``, ``"-"`` for stdin, or a file object:
    binary, or text, which is read as UTF-8).

    ``annotations`` collects ``[%eval]``/``[%clk]`` per ply; ``chess960`` replays
    ``[Variant "Chess960"]`` games with Chess960 castling; ``san`` also gives each move's canonical
    SAN (``Game.san``, for games from the standard start). When the input ends early (corrupt or
    truncated compressed data), the games before are yielded (the last one flagged) and then, per
    ``on_error``, a `PgnInputWarning` is issued or a `PgnInputError` raised. A game longer than
    ``max_game_bytes`` (64 MiB by default) is not read: it is yielded with no headers or moves and
    the error ``game_too_large`` (its ``token`` gives its size), and reading goes on at the next
    game, so memory stays bounded whatever the input (docs/formats.md, "Limits").

    Bad arguments raise at once (``ValueError`` for ``on_error``/``chunk_size``, ``TypeError`` for
    a ``source`` that is not a path or readable file object); an input that cannot be opened raises
    `PgnInputError` when iteration starts."""
    if on_error not in ON_ERROR:
        raise ValueError(
            f"on_error must be one of {', '.join(map(repr, ON_ERROR))}, got {on_error!r}"
        )
    if not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    if not isinstance(max_game_bytes, int) or max_game_bytes < 1:
        raise ValueError(f"max_game_bytes must be a positive integer, got {max_game_bytes!r}")
    check_source(source)
    return _read_games(source, annotations, chess960, on_error, san, chunk_size, max_game_bytes)


def too_large(offset: int, length: int) -> GameError:
    """The error of a game skipped for its size."""
    return GameError("game_too_large", 0, f"{length} bytes", offset)


def _read_games(
    source: Source,
    annotations: bool,
    chess960: bool,
    on_error: str,
    san: bool,
    chunk_size: int,
    max_game: int,
) -> Iterator[Game]:
    with InputStream(source) as stream:
        blocks = stream.blocks(chunk_size)
        for item in iter_chunk_parts(blocks, chunk_size, max_game=max_game):
            if item.oversized:
                error = too_large(item.base, item.length)
                yield Game({}, [], error, result="*", offset=item.base, errors=[error])
            elif item.length:
                records = _core.read_chunk(
                    item.parts, item.more, item.base, annotations, chess960, san
                )
                for rec in records:
                    yield _game(rec)
        if stream.error is not None and on_error != "ignore":
            if on_error == "raise":
                raise PgnInputError(stream.error)
            warnings.warn(stream.error, PgnInputWarning, stacklevel=2)
