"""The input layer shared by ``read_games`` and ``prep``: bytes in, chunks of whole games out.

`InputStream` reads one input (a path, ``.zst`` recognised by its magic bytes, ``"-"`` for stdin,
or a file object) once, front to back, in blocks; `iter_chunk_parts` cuts the blocks into chunks
of whole games without copying them. Memory stays bounded whatever the input (docs/formats.md,
"Limits"):

- a chunk is cut before a line starting ``[Event "`` once ``chunk_size`` bytes are pending; without
  one in ``8 * chunk_size`` bytes, after a blank line followed by ``[``;
- a game (the bytes from one such boundary to the next) longer than ``max_game`` bytes is not kept
  in memory: it is skipped up to the next boundary and reported as an oversized `ChunkItem` (its
  offset and length), so a stream with no separator at all (a zstd bomb of zeros, one 400 MB line)
  is read in linear time in bounded memory;
- the zstd decompressor is fed less compressed input per call when the data expands a lot, so one
  call returns about ``DECODE_TARGET`` bytes, not gigabytes.

A regular file is read (and zstd-decompressed, by libzstd) ahead on a thread of its own
(``_core.BlockReader``): its blocks wait in a queue of about ``READ_AHEAD`` bytes while the parsers
work, and come here as read-only views whose memory is reused once the last view of a block is gone.
The bytes are those the Python reader (python-zstandard, used for pipes, stdin, file objects and
where libzstd cannot be loaded, or with ``CHESSFORMER_READER=python``) yields, errors included.
"""

from __future__ import annotations

import io
import os
import stat
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, NamedTuple

from chessformer import _core

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
GAME_BOUNDARY = b'\n[Event "'  # a line the parser always starts a game at (docs/pgn.md)
FALLBACK_BOUNDARY = b"\n\n["  # for files without Event tags: a blank line, then a tag line
READ_SIZE = 1 << 20
# compressed bytes per call to the zstd decompressor: a call that meets corrupt data raises and
# loses what it decoded before, so calls this small keep every zstd block before the damage (a
# block is tens of KB compressed); 4 KB calls cost nothing measurable (docs/formats.md)
FEED_SIZE = 1 << 12
MIN_FEED = 16  # a few zstd blocks at most (an RLE block is 4 bytes for 128 KB)
DECODE_TARGET = 1 << 20  # decompressed bytes wanted per decompressor call
MAX_GAME_BYTES = 64 << 20  # default limit on one game's bytes (read_games, prep --max-game-mb)
READ_AHEAD = 12 << 20  # decompressed bytes the reading thread may hold ready (at least 2 blocks)
READER_ENV = "CHESSFORMER_READER"  # "python": no reading thread (the Python reader throughout)


class PgnInputError(OSError):
    """An input that could not be opened, read or decompressed to its end."""


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


def check_source(source: object) -> None:
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
    """The decompressed bytes of one input, read in blocks, once.

    ``source`` is a path (``.pgn`` or zstd, recognised by its magic bytes), ``"-"`` for stdin, or a
    file object: binary, or text (read as UTF-8; offsets are then into the UTF-8 bytes). A pipe or
    FIFO is read exactly once (its first bytes are peeked through the buffer, never re-read).
    Decompression errors, truncated zstd frames, read errors and a regular file that changes size
    while it is read end the stream early and are kept in ``error`` (a message naming the input)
    instead of being raised. ``size`` is a regular file's size when opened (else None).
    """

    def __init__(self, source: Source, skip: int = 0) -> None:
        check_source(source)
        self.error: str | None = None
        self.size: int | None = None
        self._own = False
        self._pending = b""
        self._reader: _core.BlockReader | None = None
        # seconds the reading thread waited for room in its queue, and the consumer for a block
        self.reader_waits = (0.0, 0.0)
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
                st = os.fstat(self._f.fileno())
                if stat.S_ISREG(st.st_mode):
                    self.size = st.st_size
        else:
            self.name = str(getattr(source, "name", "<file object>"))
            if isinstance(source, io.TextIOBase):
                self._f = _EncodedText(source)  # type: ignore[assignment]
            else:
                self._f = source  # type: ignore[assignment]
        head = self._peek(4)
        self.compressed = head == ZSTD_MAGIC
        self._skip = skip
        if skip and not self.compressed and self.size is not None:
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
        if self._reader is not None:  # (its thread reads the file: stopped before it is closed)
            self._reader.close()
            self.reader_waits = (self._reader.producer_wait_s, self._reader.consumer_wait_s)
        if self._own:
            self._f.close()

    def __enter__(self) -> InputStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check_size(self, end: int | None = None) -> None:
        """At the end of a regular file (read to ``end``, by default the file's position): an
        error if it was not read to the size it had when opened (truncated or appended to while
        being read)."""
        if self.size is None or self.error is not None:
            return
        try:
            if end is None:
                end = self._f.tell()
            now = os.fstat(self._f.fileno()).st_size
        except OSError:
            return
        if end != self.size or now != self.size:
            self.error = (
                f"{self.name}: changed while being read ({self.size:,} bytes when opened, "
                f"{now:,} now; read to byte {end:,})"
            )

    def _raw_blocks(self, size: int) -> Iterator[bytes]:
        if self._pending:
            yield self._pending
        while True:
            try:
                b = self._f.read(size)
            except OSError as e:
                self.error = f"{self.name}: read error: {e}"
                return
            if not b:
                self._check_size()
                return
            if isinstance(b, str):  # a text stream not derived from io.TextIOBase
                b = b.encode("utf-8")
            yield b

    def _decompressed(self, size: int) -> Iterator[bytes]:
        import zstandard

        dctx = zstandard.ZstdDecompressor()
        d = dctx.decompressobj()
        in_frame = False
        feed = MIN_FEED  # grows to FEED_SIZE while the data expands by less than DECODE_TARGET
        try:
            for raw in self._raw_blocks(max(size // 4, 1 << 16)):
                # small calls: a whole raw block per call would lose everything it decoded before
                # the damage with the exception, and could return gigabytes at once (a zstd bomb)
                view = memoryview(raw)
                start = 0
                while start < len(view):
                    piece: bytes | memoryview = view[start : start + feed]
                    start += len(piece)
                    n_in, n_out = len(piece), 0
                    while piece:
                        out = d.decompress(piece)
                        in_frame = True
                        if out:
                            n_out += len(out)
                            yield out
                        if d.eof:  # frame complete; concatenated frames go on
                            piece, d, in_frame = d.unused_data, dctx.decompressobj(), False
                        else:
                            piece = b""
                    # (grows at most twofold a call: a call without output says nothing of
                    # how much the next bytes expand)
                    want = DECODE_TARGET * n_in // n_out if n_out else FEED_SIZE
                    feed = max(MIN_FEED, min(FEED_SIZE, want, 2 * feed))
        except zstandard.ZstdError as e:
            self.error = f"{self.name}: zstd error: {e}"
            return
        if in_frame and self.error is None:
            self.error = f"{self.name}: truncated zstd data (the last frame is incomplete)"

    def _threaded(self) -> bool:
        """Whether `blocks` reads on a thread of its own (a regular file opened here, and libzstd
        for zstd data)."""
        if not self._own or self.size is None or self._pending:
            return False
        if os.environ.get(READER_ENV, "").lower() == "python":
            return False
        return not self.compressed or _core.BlockReader.zstd_available()

    def _thread_blocks(self, size: int) -> Iterator[memoryview]:
        """`blocks` from ``_core.BlockReader``: the same bytes and errors, read ahead."""
        raw_size = max(size // 4, 1 << 16)  # as _decompressed reads: the same damaged pieces
        depth = max(2, READ_AHEAD // size)
        reader = _core.BlockReader(
            self._f.fileno(), self._f.tell(), self.compressed, size, raw_size, depth
        )
        self._reader = reader
        try:
            while (block := reader.next()) is not None:
                yield memoryview(block)
        finally:
            reader.close()
            self.reader_waits = (reader.producer_wait_s, reader.consumer_wait_s)
        kind = reader.error_kind
        if kind == "read":
            self.error = f"{self.name}: read error: {reader.error}"
        elif kind == "zstd":
            self.error = f"{self.name}: zstd error: {reader.error}"
        elif kind:
            if kind == "truncated":
                self._check_size(reader.raw_end)  # (a file cut while read: that error first)
            if self.error is None:
                what = "truncated zstd data" if kind == "truncated" else "read error"
                self.error = f"{self.name}: {what} ({reader.error})"
        else:
            self._check_size(reader.raw_end)

    def blocks(self, size: int = READ_SIZE) -> Iterator[Buffer]:
        """Blocks of decompressed bytes (after skipping ``skip`` bytes), until the end or an
        error (then ``error`` is set): bytes, or read-only views of the reading thread's blocks."""
        gen: Iterator[Buffer]
        if self._threaded():
            gen = self._thread_blocks(size)
        else:
            gen = self._decompressed(size) if self.compressed else self._raw_blocks(size)
        skip = self._skip
        for b in gen:
            if skip:
                if len(b) <= skip:
                    skip -= len(b)
                    continue
                b, skip = b[skip:], 0
            yield b


Buffer = bytes | memoryview  # a block of the stream: bytes, or a view of the reading thread's block
Chunk = list[memoryview]  # pieces of one chunk, in order (the C++ side reads them back to back)


def head(parts: Chunk, n: int) -> Chunk:
    """The first ``n`` bytes of a chunk, as views."""
    out: Chunk = []
    for part in parts:
        if n <= 0:
            break
        out.append(part[:n])
        n -= len(part)
    return out


class ChunkItem(NamedTuple):
    """One piece of the stream: a chunk of whole games, or (``oversized``) a game longer than the
    limit that was skipped (``parts`` empty)."""

    parts: Chunk
    base: int  # stream offset of its first byte
    length: int
    more: bool  # the stream goes on after it
    oversized: bool = False


_BRACKET = {GAME_BOUNDARY: 1, FALLBACK_BOUNDARY: 2}  # where its `[` is
_TAIL = len(GAME_BOUNDARY) - 1  # bytes kept from the previous block to see boundaries across


class _Cutter:
    """The state of `iter_chunk_parts` (stream offsets throughout; a boundary's position is that of
    its ``[``, where the next chunk starts)."""

    def __init__(self, chunk_size: int, base: int, max_game: int) -> None:
        self.chunk_size, self.max_game = chunk_size, max_game
        self.parts: Chunk = []
        self.starts: list[int] = []  # stream offset of each part
        self.base = self.pos = base  # pending bytes are [base, pos)
        self.tail = b""  # the last _TAIL bytes before pos
        self.last = dict.fromkeys(_BRACKET, -1)  # the last boundary of each kind in pending
        self.skip_from = -1  # >= 0: inside an oversized game that began there

    def _found(self, pat: bytes, block: Buffer, first: bool) -> int:
        """The first or last position of boundary ``pat`` that ends in ``block``, or -1."""
        span = self.tail[-(len(pat) - 1) :] + bytes(block[: len(pat) - 1]) if len(pat) > 1 else b""
        head = self.pos - (len(span) - min(len(block), len(pat) - 1))
        i = span.find(pat) if first else -1
        if i < 0:
            j = _core.find_bytes(block, pat, not first)
            if j >= 0:
                return self.pos + j + _BRACKET[pat]
            i = -1 if first else span.rfind(pat)
        return head + i + _BRACKET[pat] if i >= 0 else -1

    def _advance(self, block: Buffer) -> None:
        self.pos += len(block)
        self.tail = (self.tail + bytes(block[-_TAIL:]))[-_TAIL:]

    def _take(self, cut: int) -> ChunkItem:
        """The pending bytes before ``cut`` as a chunk."""
        i = 0
        while i < len(self.parts) and self.starts[i] + len(self.parts[i]) <= cut:
            i += 1
        chunk, self.parts, self.starts = self.parts[:i], self.parts[i:], self.starts[i:]
        if self.parts and self.starts[0] < cut:
            k = cut - self.starts[0]
            chunk.append(self.parts[0][:k])
            self.parts[0], self.starts[0] = self.parts[0][k:], cut
        item = ChunkItem(chunk, self.base, cut - self.base, True)
        self.base = cut
        self.last = {p: v if v > cut else -1 for p, v in self.last.items()}
        return item

    def _first(self, block: Buffer, after: int) -> int:
        """The first game boundary of any kind past ``after`` that ends in ``block``, or -1."""
        found = [self._found(p, block, first=True) for p in _BRACKET]
        return min((f for f in found if f > after), default=-1)

    def _drop(self) -> None:
        self.parts, self.starts = [], []
        self.last = dict.fromkeys(_BRACKET, -1)

    def feed(self, block: Buffer) -> list[ChunkItem]:
        """The items that ``block`` (at most ``max_game`` bytes) completes. A game is the bytes
        between two boundaries, so whether it is oversized depends on the stream alone, never on
        how it comes in blocks (resumed runs skip the same games)."""
        if self.skip_from >= 0:
            return self._skip(block)
        out: list[ChunkItem] = []
        game_start = max(self.base, *self.last.values())
        first = self._first(block, self.base)
        if first - game_start > self.max_game or (
            first < 0 and self.pos + len(block) - game_start > self.max_game
        ):
            if game_start > self.base:
                out.append(self._take(game_start))
            self._drop()
            self.skip_from = game_start
            return out + self._skip(block)
        for pat in _BRACKET:
            at = self._found(pat, block, first=False)
            if at > self.base:
                self.last[pat] = at
        self.parts.append(memoryview(block))
        self.starts.append(self.pos)
        self._advance(block)
        size = self.pos - self.base
        if size >= self.chunk_size:
            cut = self.last[GAME_BOUNDARY]
            if cut < 0 and size >= 8 * self.chunk_size:
                cut = self.last[FALLBACK_BOUNDARY]
            if cut > self.base:
                out.append(self._take(cut))
        return out

    def _skip(self, block: Buffer) -> list[ChunkItem]:
        at = self._first(block, self.skip_from)
        if at < 0:
            self._advance(block)
            return []
        item = ChunkItem([], self.skip_from, at - self.skip_from, True, oversized=True)
        k = at - self.pos
        self._advance(block[:k])
        self.skip_from, self.base = -1, at
        return [item, *self.feed(block[k:])] if k < len(block) else [item]

    def end(self) -> list[ChunkItem]:
        if self.skip_from >= 0:
            item = ChunkItem([], self.skip_from, self.pos - self.skip_from, True, oversized=True)
            return [item, ChunkItem([], self.pos, 0, False)]
        return [ChunkItem(self.parts, self.base, self.pos - self.base, False)]


def iter_chunk_parts(
    blocks: Iterator[Buffer], chunk_size: int, base: int = 0, max_game: int = MAX_GAME_BYTES
) -> Iterator[ChunkItem]:
    """The stream cut into chunks of whole games, handed on as views of the blocks they span
    (``_core.prep_chunk`` and ``_core.read_chunk`` read them in place: nothing is joined).

    A chunk ends before the last line starting ``[Event "`` in sight once ``chunk_size`` bytes are
    pending; without one after ``8 * chunk_size`` bytes, before the last blank line followed by
    ``[``. A game (the bytes from one such boundary to the next) longer than ``max_game`` bytes is
    skipped to the next boundary (``[Event "`` line or blank line + ``[``) and yielded as an
    ``oversized`` item. Each block is searched once: time is linear in the input, and memory about
    ``max(8 * chunk_size, max_game)`` plus a block. The last item has ``more`` False."""
    cutter = _Cutter(chunk_size, base, max_game)
    for block in blocks:
        if len(block) <= max_game:
            yield from cutter.feed(block)
        else:  # (a zstd call that expanded hugely) in pieces, so no game hides inside one
            for i in range(0, len(block), max_game):
                yield from cutter.feed(block[i : i + max_game])
    yield from cutter.end()


def iter_chunks(
    blocks: Iterator[Buffer], chunk_size: int, base: int = 0, max_game: int = MAX_GAME_BYTES
) -> Iterator[tuple[bytes, int, bool]]:
    """``(chunk, base_offset, more_follows)``: `iter_chunk_parts` joined (oversized games
    skipped)."""
    for item in iter_chunk_parts(blocks, chunk_size, base, max_game):
        if not item.oversized:
            yield b"".join(item.parts), item.base, item.more


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
