"""The reading thread of `chessformer.data.pgn_input` (``_core.BlockReader``): the same bytes and
the same errors as the Python reader, on plain and zstd files, whole, damaged, truncated, in
several frames, resumed from an offset, and stopped early."""

from __future__ import annotations

import gc
import threading
from pathlib import Path

import pytest
import zstandard
from conftest import damaged_zst

from chessformer import _core
from chessformer.data.pgn_input import READER_ENV, InputStream, iter_chunk_parts

DATA = Path(__file__).parent / "data"
SAMPLE = DATA / "lichess_sample.pgn"

needs_zstd = pytest.mark.skipif(
    not _core.BlockReader.zstd_available(), reason="libzstd cannot be loaded here"
)


def read(path: Path, reader: str, size: int, skip: int = 0) -> tuple[bytes, str | None, bool]:
    """(the bytes, the error, whether the reading thread read them) of one InputStream."""
    mp = pytest.MonkeyPatch()
    if reader == "python":
        mp.setenv(READER_ENV, "python")
    else:
        mp.delenv(READER_ENV, raising=False)
    try:
        with InputStream(str(path), skip=skip) as stream:
            threaded = stream._threaded()
            data = b"".join(stream.blocks(size))
        return data, stream.error, threaded
    finally:
        mp.undo()


def same_as_python(path: Path, sizes: tuple[int, ...] = (1 << 16, 1 << 20), skip: int = 0) -> bytes:
    out = b""
    for size in sizes:
        ref, ref_error, threaded = read(path, "python", size, skip)
        assert not threaded
        got, error, threaded = read(path, "thread", size, skip)
        assert threaded
        assert got == ref, (path.name, size, len(got), len(ref))
        assert error == ref_error
        out = got
    return out


def write_zst(path: Path, *frames: bytes, level: int = 3) -> None:
    path.write_bytes(b"".join(zstandard.ZstdCompressor(level=level).compress(f) for f in frames))


def test_plain_and_zstd_files_read_the_same(tmp_path: Path) -> None:
    raw = SAMPLE.read_bytes() * 8
    plain = tmp_path / "a.pgn"
    plain.write_bytes(raw)
    assert same_as_python(plain) == raw
    assert same_as_python(plain, skip=12345) == raw[12345:]
    if _core.BlockReader.zstd_available():
        packed = tmp_path / "a.pgn.zst"
        write_zst(packed, raw[:100_000], b"", raw[100_000:])  # three frames, one empty
        assert same_as_python(packed) == raw
        assert same_as_python(packed, skip=200_001) == raw[200_001:]


def test_an_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.pgn"
    path.write_bytes(b"")
    assert same_as_python(path) == b""


@needs_zstd
def test_a_damaged_zstd_file_loses_the_same_bytes(tmp_path: Path) -> None:
    bad, intact = damaged_zst(SAMPLE.read_bytes())
    path = tmp_path / "damaged.pgn.zst"
    path.write_bytes(bad)
    assert same_as_python(path, sizes=(1 << 16, 1 << 18, 1 << 22)) == intact
    _, error, _ = read(path, "thread", 1 << 16)
    assert error is not None and "damaged.pgn.zst: zstd error" in error
    # a broken second frame, after a whole first one
    raw = SAMPLE.read_bytes()
    second = bytearray(zstandard.ZstdCompressor().compress(raw))
    second[:4] = b"\x00\x01\x02\x03"
    path.write_bytes(zstandard.ZstdCompressor().compress(raw) + bytes(second))
    assert same_as_python(path) == raw


@needs_zstd
def test_a_truncated_zstd_file(tmp_path: Path) -> None:
    comp = zstandard.ZstdCompressor(level=1).compress(SAMPLE.read_bytes() * 4)
    path = tmp_path / "cut.pgn.zst"
    path.write_bytes(comp[: len(comp) * 2 // 3])
    same_as_python(path)
    _, error, _ = read(path, "thread", 1 << 16)
    assert error is not None and "truncated zstd data" in error


@needs_zstd
def test_data_that_expands_a_lot(tmp_path: Path) -> None:
    """A piece's output spans several blocks (and a block ends exactly at a piece's end)."""
    path = tmp_path / "zeros.pgn.zst"
    write_zst(path, b"\0" * (9 << 20) + SAMPLE.read_bytes(), b"x" * (1 << 16))
    data = same_as_python(path, sizes=(1 << 12, 1 << 16, 3 << 16))
    assert len(data) == (9 << 20) + SAMPLE.stat().st_size + (1 << 16)


def threads() -> int:
    """This process's threads, C++ ones included where /proc lists them."""
    task = Path("/proc/self/task")
    return len(list(task.iterdir())) if task.is_dir() else threading.active_count()


def test_stopping_early_stops_the_thread(tmp_path: Path) -> None:
    path = tmp_path / "a.pgn"
    path.write_bytes(SAMPLE.read_bytes() * 50)
    before = threads()
    for _ in range(3):
        with InputStream(str(path)) as stream:
            items = iter_chunk_parts(stream.blocks(1 << 16), 1 << 16)
            first = next(items)
            assert first.parts
        del items, first
        gc.collect()
        assert threads() == before


def test_find_bytes() -> None:
    data = b'x\n[Event "a"]\n\n[Event "b"]\n\n1. e4'
    view = memoryview(data)
    for pat in (b'\n[Event "', b"\n\n[", b"\n", b"zz", b"4", b"x"):
        assert _core.find_bytes(view, pat) == data.find(pat)
        assert _core.find_bytes(view, pat, True) == data.rfind(pat)
        assert _core.find_bytes(view[3:9], pat, True) == data[3:9].rfind(pat)
