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

import io
import os
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

from chessformer import _core

__all__ = ["Game", "GameError", "InputStream", "PgnInputError", "PgnInputWarning", "read_games"]

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
GAME_BOUNDARY = b'\n[Event "'  # a line the parser always starts a game at (docs/pgn.md)
FALLBACK_BOUNDARY = b"\n\n["  # for files without Event tags: a blank line, then a tag line
READ_SIZE = 1 << 20
# compressed bytes per call to the zstd decompressor: a call that meets corrupt data raises and
# loses what it decoded before, so calls this small keep every zstd block before the damage (a
# block is tens of KB compressed); 4 KB calls cost nothing measurable (docs/formats.md)
FEED_SIZE = 1 << 12


class PgnInputError(OSError):
    """An input that could not be opened, read or decompressed to its end."""


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


class _EncodedText:
    """A text stream read as UTF-8 bytes (``read_games(io.StringIO(...))``)."""

    def __init__(self, f: IO[str]) -> None:
        self._f = f
        self.name = getattr(f, "name", "<text stream>")

    def read(self, size: int = -1) -> bytes:
        return self._f.read(size).encode("utf-8")

    def seekable(self) -> bool:
        return False

    def close(self) -> None:
        pass


Source = str | os.PathLike[str] | IO[bytes] | IO[str]


def _check_source(source: object) -> None:
    """TypeError unless ``source`` is a path, ``"-"`` or a readable file object."""
    if isinstance(source, (str, os.PathLike)):
        return
    if isinstance(source, (bytes, bytearray, memoryview)):
        raise TypeError(
            "read_games needs a path, '-' or a file object, not raw bytes: wrap them in "
            "io.BytesIO(...)"
        )
    if not callable(getattr(source, "read", None)):
        raise TypeError(
            "read_games needs a path, '-' or a file object opened for reading (binary, or text "
            f"read as UTF-8), got {type(source).__name__}"
        )


class InputStream:
    """The decompressed bytes of one input, read in blocks.

    ``source`` is a path (``.pgn`` or zstd, recognised by its magic bytes), ``"-"`` for stdin, or a
    file object: binary, or text (read as UTF-8; offsets are then into the UTF-8 bytes).
    Decompression errors and truncated zstd frames end the stream early and are kept in ``error``
    (a message naming the input) instead of being raised.
    """

    def __init__(self, source: Source, skip: int = 0) -> None:
        _check_source(source)
        self.error: str | None = None
        self._own = False
        if isinstance(source, (str, os.PathLike)):
            self.name = str(source)
            if self.name == "-":
                self._f: IO[bytes] = sys.stdin.buffer
            else:
                try:
                    self._f = open(source, "rb")  # noqa: SIM115 (closed in close())
                except OSError as e:
                    raise PgnInputError(f"cannot open {self.name!r}: {e.strerror}") from e
                self._own = True
        else:
            self.name = str(getattr(source, "name", "<file object>"))
            if isinstance(source, io.TextIOBase):
                self._f = _EncodedText(source)  # type: ignore[assignment]
            else:
                self._f = source  # type: ignore[assignment]
        head = self._peek(4)
        self.compressed = head == ZSTD_MAGIC
        self._skip = skip
        if skip and not self.compressed and self._f.seekable():
            self._f.seek(skip, io.SEEK_CUR)
            self._skip = 0

    def _peek(self, n: int) -> bytes:
        peek = getattr(self._f, "peek", None)
        if peek is not None:
            return bytes(peek(n)[:n])
        if self._f.seekable():
            pos = self._f.tell()
            head = self._f.read(n)
            self._f.seek(pos)
            return head
        head = self._f.read(n)  # unseekable and unbuffered: keep the bytes for blocks()
        self._pending = head
        return head

    def close(self) -> None:
        if self._own:
            self._f.close()

    def __enter__(self) -> InputStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _raw_blocks(self, size: int) -> Iterator[bytes]:
        pending = getattr(self, "_pending", b"")
        if pending:
            yield pending
        while True:
            try:
                b = self._f.read(size)
            except OSError as e:
                self.error = f"{self.name}: read error: {e}"
                return
            if not b:
                return
            if isinstance(b, str):  # a text stream not derived from io.TextIOBase
                b = b.encode("utf-8")
            yield b

    def _decompressed(self, size: int) -> Iterator[bytes]:
        import zstandard

        dctx = zstandard.ZstdDecompressor()
        d = dctx.decompressobj()
        in_frame = False
        try:
            for raw in self._raw_blocks(max(size // 4, 1 << 16)):
                # fed FEED_SIZE bytes per call (a whole raw block per call would lose everything
                # it decoded before the damage with the exception)
                view = memoryview(raw)
                for start in range(0, len(view), FEED_SIZE):
                    piece: bytes | memoryview = view[start : start + FEED_SIZE]
                    while piece:
                        out = d.decompress(piece)
                        in_frame = True
                        if out:
                            yield out
                        if d.eof:  # frame complete; concatenated frames go on
                            piece, d, in_frame = d.unused_data, dctx.decompressobj(), False
                        else:
                            piece = b""
        except zstandard.ZstdError as e:
            self.error = f"{self.name}: zstd error: {e}"
            return
        if in_frame and self.error is None:
            self.error = f"{self.name}: truncated zstd data (the last frame is incomplete)"

    def blocks(self, size: int = READ_SIZE) -> Iterator[bytes]:
        """Blocks of decompressed bytes (after skipping ``skip`` bytes), until the end or an
        error (then ``error`` is set)."""
        gen = self._decompressed(size) if self.compressed else self._raw_blocks(size)
        skip = self._skip
        for b in gen:
            if skip:
                if len(b) <= skip:
                    skip -= len(b)
                    continue
                b, skip = b[skip:], 0
            yield b


def iter_chunks(
    blocks: Iterator[bytes], chunk_size: int, base: int = 0
) -> Iterator[tuple[bytes, int, bool]]:
    """``(chunk, base_offset, more_follows)``: the stream cut before lines starting ``[Event "``.

    Chunks hold whole games, are at least ``chunk_size`` bytes where the stream allows, and their
    concatenation is the stream. Without any Event line in sight (after 8 chunk sizes), a blank
    line followed by ``[`` is used; a stream without either grows one chunk until it ends."""
    carry = b""
    for block in blocks:
        buf = carry + block if carry else block
        if len(buf) < chunk_size:
            carry = buf
            continue
        cut = buf.rfind(GAME_BOUNDARY)
        if cut <= 0 and len(buf) >= 8 * chunk_size:
            cut = buf.rfind(FALLBACK_BOUNDARY) + 1
        if cut <= 0:
            carry = buf
            continue
        cut += 1  # keep the newline with the earlier chunk
        yield buf[:cut], base, True
        base += cut
        carry = buf[cut:]
    yield carry, base, False


Chunk = list[memoryview]  # pieces of one chunk, in order (the C++ side reads them back to back)


def iter_chunk_parts(
    blocks: Iterator[bytes], chunk_size: int, base: int = 0
) -> Iterator[tuple[Chunk, int, int, bool]]:
    """``(pieces, base_offset, length, more_follows)``: `iter_chunks` without copying.

    The same cut rule (before a line starting ``[Event "``, chunks of at least ``chunk_size``
    bytes where the stream allows), but a chunk is handed on as views of the blocks it spans, which
    ``_core.prep_chunk`` and ``_core.read_chunk`` read in place: no block is joined or sliced into
    a new buffer (the cut is searched in the newest block; only a stream whose newest block holds no
    game boundary falls back to joining its pending blocks)."""
    parts: Chunk = []
    size = 0
    for block in blocks:
        if not block:
            continue
        parts.append(memoryview(block))
        size += len(block)
        if size < chunk_size:
            continue
        cut = block.rfind(GAME_BOUNDARY)  # in the newest block: the last boundary, no copying
        if cut < 0 or (cut == 0 and len(parts) == 1):
            buf = b"".join(parts)  # a boundary across blocks, or none in sight: the old way
            parts = [memoryview(buf)]
            cut = buf.rfind(GAME_BOUNDARY)
            if cut <= 0 and len(buf) >= 8 * chunk_size:
                cut = buf.rfind(FALLBACK_BOUNDARY) + 1
            if cut <= 0:
                continue
        cut += 1  # keep the newline with the earlier chunk
        last = parts[-1]
        chunk = [*parts[:-1], last[:cut]]
        length = size - (len(last) - cut)
        yield chunk, base, length, True
        base += length
        parts = [last[cut:]] if cut < len(last) else []
        size -= length
    yield parts, base, size, False


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
) -> Iterator[Game]:
    """Yield the games of a PGN input (path, ``.pgn.zst``, ``"-"`` for stdin, or a file object:
    binary, or text, which is read as UTF-8).

    ``annotations`` collects ``[%eval]``/``[%clk]`` per ply; ``chess960`` replays
    ``[Variant "Chess960"]`` games with Chess960 castling; ``san`` also gives each move's canonical
    SAN (``Game.san``, for games from the standard start). When the input ends early (corrupt or
    truncated compressed data), the games before are yielded (the last one flagged) and then, per
    ``on_error``, a `PgnInputWarning` is issued or a `PgnInputError` raised.

    Bad arguments raise at once (``ValueError`` for ``on_error``/``chunk_size``, ``TypeError`` for
    a ``source`` that is not a path or readable file object); an input that cannot be opened raises
    `PgnInputError` when iteration starts."""
    if on_error not in ON_ERROR:
        raise ValueError(
            f"on_error must be one of {', '.join(map(repr, ON_ERROR))}, got {on_error!r}"
        )
    if not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    _check_source(source)
    return _read_games(source, annotations, chess960, on_error, san, chunk_size)


def _read_games(
    source: Source, annotations: bool, chess960: bool, on_error: str, san: bool, chunk_size: int
) -> Iterator[Game]:
    with InputStream(source) as stream:
        for chunk, base, length, more in iter_chunk_parts(stream.blocks(chunk_size), chunk_size):
            if not length:
                continue
            for rec in _core.read_chunk(chunk, more, base, annotations, chess960, san):
                yield _game(rec)
        if stream.error is not None and on_error != "ignore":
            if on_error == "raise":
                raise PgnInputError(stream.error)
            warnings.warn(stream.error, PgnInputWarning, stacklevel=2)


def input_paths(patterns: list[str]) -> list[str]:
    """Expand globs (``data/*.pgn.zst``) in order; ``-`` and existing paths pass through."""
    import glob

    out: list[str] = []
    for p in patterns:
        if p == "-" or Path(p).exists():
            out.append(p)
            continue
        matches = sorted(glob.glob(p))
        if not matches:
            raise PgnInputError(f"no input matches {p!r}")
        out.extend(matches)
    return out
