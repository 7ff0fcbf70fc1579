"""Token shards of a dataset folder (docs/formats.md): games of one split cut into shards by
token count, written whole or not at all, and the names of the files ``prep`` owns in ``--out``
(it deletes nothing else)."""

from __future__ import annotations

import contextlib
import io
import os
import re
import threading
import uuid
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from chessformer._io import fsync_path, replacing

SPLITS = ("train", "val")
# token bytes between the background fdatasyncs of a token file being written: the fsync when its
# shard completes then waits for the last few MB, not the whole file
SYNC_EVERY = 32 << 20

# Per-game metadata columns of games-NNNNN.npz (name -> dtype); documented in docs/formats.md.
META_COLUMNS: dict[str, str] = {
    "white_elo": "int32",
    "black_elo": "int32",
    "result": "int8",
    "tc_base": "int32",
    "tc_inc": "int32",
    "time_class": "int8",
    "termination": "int8",
    "plies": "int32",
    "source": "int32",
    "byte_offset": "int64",
    "game_hash": "uint64",
}

Columns = dict[str, npt.NDArray[Any]]


class OutputError(OSError):
    """A file of the dataset could not be written (disk full, I/O error): exit status 4."""


def atomic_write(path: Path, write: Callable[[io.BufferedWriter], object]) -> None:
    """``write(file)`` into ``path`` whole or not at all (`chessformer._io.replacing`); an
    `OutputError` naming ``path`` when that fails (disk full, I/O error)."""
    try:
        with replacing(path) as tmp, open(tmp, "wb") as f:
            write(f)
    except OSError as e:
        raise OutputError(e.errno, e.strerror or str(e), str(path)) from e


def write_npz(f: io.BufferedWriter, arrays: dict[str, npt.NDArray[Any]]) -> None:
    """An uncompressed .npz (np.load reads it) with fixed timestamps, so equal arrays give equal
    bytes (np.savez stamps the current time into the zip)."""
    with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
        for name, arr in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            with zf.open(info, "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.ascontiguousarray(arr), allow_pickle=False)


def _sync_quietly(fd: int) -> None:
    """fdatasync ``fd`` (a head start for the fsync that follows: its errors are that one's)."""
    with contextlib.suppress(OSError):
        getattr(os, "fdatasync", os.fsync)(fd)


def slice_columns(cols: Columns, a: int, b: int) -> Columns:
    off = cols["offsets"]
    out = {k: v[a:b] for k, v in cols.items() if k not in ("tokens", "offsets")}
    out["tokens"] = cols["tokens"][int(off[a]) : int(off[b])]
    out["offsets"] = off[a : b + 1] - off[a]
    return out


def concat_columns(parts: list[Columns], dtype: str, tokens: bool = True) -> Columns:
    """The parts' games as one set of columns (``tokens`` False: without the token column)."""
    if not parts:
        empty: Columns = {k: np.zeros(0, dtype=t) for k, t in META_COLUMNS.items()}
        empty["tokens"] = np.zeros(0, dtype=dtype)
        empty["offsets"] = np.zeros(1, dtype=np.int64)
        return empty
    out = {k: np.concatenate([p[k] for p in parts]) for k in META_COLUMNS}
    if tokens:
        out["tokens"] = np.concatenate([p["tokens"] for p in parts]).astype(dtype, copy=False)
    lengths = np.concatenate([np.diff(p["offsets"]) for p in parts])
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    out["offsets"] = offsets
    return out


class ShardWriter:
    """Games of one split, cut into shards of at least ``shard_tokens`` tokens in arrival order
    (a shard ends with the game that reaches the size).

    The next shard's tokens are written as its games arrive, to a temporary file (named as
    `chessformer._io.replacing` names them, so a killed run's is cleaned up like any other) that
    `flush` fsyncs and renames: the token file, most of a shard's bytes, is not written all at once
    when the shard completes (at the end of a run, after the last chunk is parsed). The pending
    games stay in memory too, for the checkpoints (`save_pending`)."""

    def __init__(self, root: Path, split: str, dtype: str, shard_tokens: int) -> None:
        self.root, self.split, self.dtype, self.shard_tokens = root, split, dtype, shard_tokens
        self.pending: list[Columns] = []
        self.pending_tokens = 0
        self.shards: list[dict[str, Any]] = []
        self.on_shard: Callable[[], None] = lambda: None
        self._tokens: io.BufferedWriter | None = None  # the next shard's token file, being written
        self._tokens_tmp: Path | None = None
        self._synced = 0  # its bytes when the last background sync began
        self._sync: threading.Thread | None = None

    def _names(self, i: int) -> dict[str, str]:
        return {
            "tokens": f"{self.split}/tokens-{i:05d}.bin",
            "offsets": f"{self.split}/offsets-{i:05d}.npy",
            "games": f"{self.split}/games-{i:05d}.npz",
        }

    def _mkdir(self) -> None:
        try:
            (self.root / self.split).mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise OutputError(e.errno, e.strerror or str(e), str(self.root / self.split)) from e

    def _append(self, part: Columns) -> None:
        """``part`` joins the pending games; its tokens go to the next shard's token file."""
        self.pending.append(part)
        path = self.root / self._names(len(self.shards))["tokens"]
        try:
            if self._tokens is None:
                self._mkdir()
                tmp = path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")
                self._tokens = open(tmp, "wb")  # noqa: SIM115 (closed in flush or close)
                self._tokens_tmp = tmp
            tokens = np.ascontiguousarray(part["tokens"], dtype=self.dtype)
            self._tokens.write(tokens.data.cast("B"))
            written = self._tokens.tell()
            if written - self._synced >= SYNC_EVERY and not (self._sync and self._sync.is_alive()):
                self._tokens.flush()
                self._synced = written
                fd = self._tokens.fileno()
                self._sync = threading.Thread(target=_sync_quietly, args=(fd,), daemon=True)
                self._sync.start()
        except OSError as e:
            raise OutputError(e.errno, e.strerror or str(e), str(path)) from e

    def _wait_sync(self) -> None:
        if self._sync is not None:
            self._sync.join()
            self._sync = None

    @property
    def temporary(self) -> Path | None:
        """The next shard's token file while it is being written (a temporary name)."""
        return self._tokens_tmp

    def close(self) -> None:
        """Drop the unfinished token file (its games are among the pending ones, or lost)."""
        self._wait_sync()
        if self._tokens is not None:
            self._tokens.close()
            self._tokens = None
        if self._tokens_tmp is not None:
            self._tokens_tmp.unlink(missing_ok=True)
            self._tokens_tmp = None

    def add(self, cols: Columns) -> int:
        """Append games; returns how many shards were completed."""
        off = cols["offsets"]
        n, start, done = len(off) - 1, 0, 0
        while start < n:
            need = self.shard_tokens - self.pending_tokens
            cum = off[start + 1 :] - off[start]
            k = int(np.searchsorted(cum, need, side="left"))
            if k >= n - start:
                self._append(slice_columns(cols, start, n))
                self.pending_tokens += int(cum[-1])
                break
            self._append(slice_columns(cols, start, start + k + 1))
            self.flush()
            done += 1
            start += k + 1
        return done

    def flush(self) -> None:
        """Write the pending games as the next shard (nothing when there are none)."""
        data = concat_columns(self.pending, self.dtype, tokens=False)
        n_games = len(data["offsets"]) - 1
        if n_games == 0:
            return
        names = self._names(len(self.shards))
        self._mkdir()
        atomic_write(self.root / names["games"], lambda f: write_npz(f, meta_columns(data)))
        atomic_write(self.root / names["offsets"], lambda f: np.save(f, data["offsets"]))
        # the token file, written as the games came: fsynced and renamed as atomic_write does
        path, f, tmp = self.root / names["tokens"], self._tokens, self._tokens_tmp
        assert f is not None and tmp is not None
        try:
            n_bytes = f.tell()
            f.flush()
            self._wait_sync()
            os.fsync(f.fileno())
            f.close()
            self._tokens, self._synced = None, 0
            os.replace(tmp, path)
            self._tokens_tmp = None
            fsync_path(path.parent)
        except OSError as e:
            self.close()
            raise OutputError(e.errno, e.strerror or str(e), str(path)) from e
        n_tokens = int(data["offsets"][-1])
        assert n_bytes == n_tokens * np.dtype(self.dtype).itemsize, (n_bytes, n_tokens)
        self.shards.append({**names, "n_games": n_games, "n_tokens": n_tokens})
        self.pending, self.pending_tokens = [], 0
        self.on_shard()

    def save_pending(self, path: Path) -> None:
        data = concat_columns(self.pending, self.dtype)
        atomic_write(path, lambda f: write_npz(f, data))
        self.pending = [data] if len(data["offsets"]) > 1 else []

    def load_pending(self, path: Path) -> None:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
        self.close()
        self.pending = []
        if len(data["offsets"]) > 1:
            self._append(data)
        self.pending_tokens = int(data["offsets"][-1])


# the names of the files prep writes: nothing else in --out is ever deleted
_TOP_NAMES = r"manifest\.json|progress\.json|pending-(?:train|val)-\d{6}\.npz"
_SHARD_NAMES = r"tokens-\d{5}\.bin|offsets-\d{5}\.npy|games-\d{5}\.npz"


def _name_rule(names: str) -> re.Pattern[str]:
    # the name itself, or its temporary form: `_io.replacing`'s, or ".tmp-NAME" of older versions
    return re.compile(
        rf"(?P<name>{names})|\.(?P<tmp>{names})\.\d+-[0-9a-f]{{8}}\.tmp|\.tmp-(?P<old>{names})"
    )


_TOP_FILES, _SHARD_FILES = _name_rule(_TOP_NAMES), _name_rule(_SHARD_NAMES)


def own_files(out: Path, temporary_only: bool = False, pending_only: bool = False) -> list[Path]:
    """The files in ``out`` (and its ``train``/``val``) named as prep names its own; a user's
    file, a folder or a link there is never among them. ``temporary_only``: the temporary files
    a killed run left; ``pending_only``: the pending-*.npz of checkpoints."""
    found: list[Path] = []
    for folder, rule in ((out, _TOP_FILES), *((out / s, _SHARD_FILES) for s in SPLITS)):
        if not folder.is_dir() or folder.is_symlink():
            continue
        for p in folder.iterdir():
            m = rule.fullmatch(p.name)
            if m is None or p.is_symlink() or not p.is_file():
                continue
            if temporary_only and m.group("name"):
                continue
            if pending_only and not (m.group("name") or "").startswith("pending-"):
                continue
            found.append(p)
    return sorted(found)


def meta_columns(data: Columns) -> dict[str, npt.NDArray[Any]]:
    return {k: data[k].astype(t, copy=False) for k, t in META_COLUMNS.items()}
