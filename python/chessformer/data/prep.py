"""``chessformer prep``: PGN dumps to a dataset folder of token shards (docs/formats.md).

    chessformer prep lichess_db_standard_rated_2024-*.pgn.zst --out data/lichess-1500 \\
        --tokenizer char --max-elo 1500 --time-control blitz,rapid,classical --workers 8

Inputs are read (and zstd-decompressed) here, cut into chunks at ``[Event "`` lines and handed to
``_core.prep_chunk`` on a thread pool: parsing, SAN replay, filtering and tokenizing run in C++ with
the GIL released, so every worker is a busy core and this module only orders results and writes
files. Games go to ``train`` or ``val`` by a hash of their tags and moves, and shards are cut by
token count in input order, so the output is the same for any worker count and chunking.

Resume: shards are written under temporary names and renamed; ``progress.json`` (also replaced
atomically) lists the finished shards, the not-yet-sharded games of each split (``pending-*.npz``),
the counters and the input position (file, byte offset) reached. ``--resume`` restarts from there
and produces the same bytes as an uninterrupted run. ``manifest.json`` is written last.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import sys
import time
import zipfile
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from chessformer import _core
from chessformer._argtypes import csv_strings, fraction, int_at_least, positive_number
from chessformer._io import TEMP_GLOB, replacing, write_atomic
from chessformer._progress import Progress
from chessformer.data.pgn import InputStream, PgnInputError, input_paths, iter_chunk_parts
from chessformer.data.tokenizers import get_tokenizer

PROGRESS_FORMAT = "chessformer-prep-progress"
PROGRESS_VERSION = 1
SPLITS = ("train", "val")
TIME_CLASSES: list[str] = list(_core.PREP_TIME_CLASSES)
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
SPLIT_HASH_VERSION = 2  # the game hash of _core.prep_chunk (cpp/pgn/replay.cpp)
CRASH_ENV = "CHESSFORMER_PREP_CRASH_AFTER_SHARDS"  # test hook: exit hard after N shard renames

Columns = dict[str, npt.NDArray[Any]]


@dataclass(frozen=True)
class PrepConfig:
    """Everything that decides the output bytes (resume refuses a different one)."""

    tokenizer: str = "move"
    max_elo: int = -1
    min_elo: int = -1
    keep_unknown_elo: bool = False
    time_classes: tuple[str, ...] = tuple(TIME_CLASSES)
    drop_terminations: tuple[str, ...] = ("Abandoned", "Unterminated")
    min_plies: int = 0
    variants: tuple[str, ...] = ("standard",)
    keep_unfinished: bool = False
    keep_partial: bool = False
    max_games: int = -1
    val_fraction: float = 0.05
    shard_tokens: int = 100_000_000
    # the game hash that assigns the train/val split (docs/formats.md); not an option, recorded so
    # that --resume refuses a dataset begun by a chessformer that hashed games differently
    split_hash: int = SPLIT_HASH_VERSION

    def __post_init__(self) -> None:
        if self.split_hash != SPLIT_HASH_VERSION:
            raise ValueError(
                f"split_hash {self.split_hash}: this chessformer hashes games with version "
                f"{SPLIT_HASH_VERSION} only"
            )

    def to_json(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self.__dict__.items()}

    def core_kwargs(self) -> dict[str, Any]:
        mask = 0
        for name in self.time_classes:
            mask |= 1 << TIME_CLASSES.index(name)
        return {
            "tokenizer": self.tokenizer,
            "max_elo": self.max_elo,
            "min_elo": self.min_elo,
            "keep_unknown_elo": self.keep_unknown_elo,
            "time_classes": mask,
            "drop_terminations": list(self.drop_terminations),
            "min_plies": self.min_plies,
            "allow_chess960": "chess960" in self.variants,
            "keep_unfinished": self.keep_unfinished,
            "keep_partial": self.keep_partial,
            "val_fraction": self.val_fraction,
        }


# ---- files ---------------------------------------------------------------------------------


def _atomic_write(path: Path, write: Callable[[io.BufferedWriter], object]) -> None:
    """``write(file)`` into ``path`` whole or not at all (`chessformer._io.replacing`)."""
    with replacing(path) as tmp, open(tmp, "wb") as f:
        write(f)


def _write_npz(f: io.BufferedWriter, arrays: dict[str, npt.NDArray[Any]]) -> None:
    """An uncompressed .npz (np.load reads it) with fixed timestamps, so equal arrays give equal
    bytes (np.savez stamps the current time into the zip)."""
    with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
        for name, arr in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            with zf.open(info, "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.ascontiguousarray(arr), allow_pickle=False)


def _slice(cols: Columns, a: int, b: int) -> Columns:
    off = cols["offsets"]
    out = {k: v[a:b] for k, v in cols.items() if k not in ("tokens", "offsets")}
    out["tokens"] = cols["tokens"][int(off[a]) : int(off[b])]
    out["offsets"] = off[a : b + 1] - off[a]
    return out


def _concat(parts: list[Columns], dtype: str) -> Columns:
    if not parts:
        empty: Columns = {k: np.zeros(0, dtype=t) for k, t in META_COLUMNS.items()}
        empty["tokens"] = np.zeros(0, dtype=dtype)
        empty["offsets"] = np.zeros(1, dtype=np.int64)
        return empty
    out = {k: np.concatenate([p[k] for p in parts]) for k in META_COLUMNS}
    out["tokens"] = np.concatenate([p["tokens"] for p in parts]).astype(dtype, copy=False)
    lengths = np.concatenate([np.diff(p["offsets"]) for p in parts])
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    out["offsets"] = offsets
    return out


class ShardWriter:
    """Games of one split, cut into shards of at least ``shard_tokens`` tokens in arrival order
    (a shard ends with the game that reaches the size)."""

    def __init__(self, root: Path, split: str, dtype: str, shard_tokens: int) -> None:
        self.root, self.split, self.dtype, self.shard_tokens = root, split, dtype, shard_tokens
        self.pending: list[Columns] = []
        self.pending_tokens = 0
        self.shards: list[dict[str, Any]] = []
        self.on_shard: Callable[[], None] = lambda: None

    def add(self, cols: Columns) -> int:
        """Append games; returns how many shards were completed."""
        off = cols["offsets"]
        n, start, done = len(off) - 1, 0, 0
        while start < n:
            need = self.shard_tokens - self.pending_tokens
            cum = off[start + 1 :] - off[start]
            k = int(np.searchsorted(cum, need, side="left"))
            if k >= n - start:
                self.pending.append(_slice(cols, start, n))
                self.pending_tokens += int(cum[-1])
                break
            self.pending.append(_slice(cols, start, start + k + 1))
            self.flush()
            done += 1
            start += k + 1
        return done

    def flush(self) -> None:
        """Write the pending games as the next shard (nothing when there are none)."""
        data = _concat(self.pending, self.dtype)
        n_games = len(data["offsets"]) - 1
        if n_games == 0:
            return
        i = len(self.shards)
        names = {
            "tokens": f"{self.split}/tokens-{i:05d}.bin",
            "offsets": f"{self.split}/offsets-{i:05d}.npy",
            "games": f"{self.split}/games-{i:05d}.npz",
        }
        (self.root / self.split).mkdir(parents=True, exist_ok=True)
        _atomic_write(self.root / names["games"], lambda f: _write_npz(f, _meta(data)))
        _atomic_write(self.root / names["offsets"], lambda f: np.save(f, data["offsets"]))
        _atomic_write(self.root / names["tokens"], lambda f: f.write(data["tokens"].tobytes()))
        self.shards.append({**names, "n_games": n_games, "n_tokens": len(data["tokens"])})
        self.pending, self.pending_tokens = [], 0
        self.on_shard()

    def save_pending(self, path: Path) -> None:
        data = _concat(self.pending, self.dtype)
        _atomic_write(path, lambda f: _write_npz(f, data))
        self.pending = [data] if len(data["offsets"]) > 1 else []

    def load_pending(self, path: Path) -> None:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
        self.pending = [data] if len(data["offsets"]) > 1 else []
        self.pending_tokens = int(data["offsets"][-1])


def _meta(data: Columns) -> dict[str, npt.NDArray[Any]]:
    return {k: data[k].astype(t, copy=False) for k, t in META_COLUMNS.items()}


def _input_record(path: str) -> dict[str, Any]:
    if path == "-":
        return {"path": "-", "size": None, "mtime_ns": None, "sha256_1mib": None}
    st = os.stat(path)
    with open(path, "rb") as f:
        head = f.read(1 << 20)
    return {
        "path": path,
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "sha256_1mib": hashlib.sha256(head).hexdigest()[:16],
        "compressed": head[:4] == b"\x28\xb5\x2f\xfd",
    }


# PrepConfig field -> the prep option that sets it (the others are the field name, dashed)
OPTION_NAMES = {
    "time_classes": "--time-control",
    "drop_terminations": "--drop-termination",
    "split_hash": "the split hash version",
}


def _show(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(map(str, value)) or "''"
    return repr(value)


class ResumeRefused(Exception):
    """``--resume`` into a dataset written with other options or inputs (exit status 2)."""


def _read_record(path: Path, what: str) -> Any:
    """A JSON record of a run (progress.json, manifest.json); `ResumeRefused` if unreadable."""
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ResumeRefused(f"{path}: unreadable {what} ({e})") from None


def _differences(
    old_config: Any, new_config: dict[str, Any], old_inputs: Any, new_inputs: list[dict[str, Any]]
) -> list[str]:
    """What differs between a recorded run and this one, one phrase per option or input."""
    diffs: list[str] = []
    if not isinstance(old_config, dict):
        diffs.append("no options recorded")
    else:
        for key in [*new_config, *(k for k in old_config if k not in new_config)]:
            old, new = old_config.get(key, "<absent>"), new_config.get(key, "<absent>")
            if old != new:
                option = OPTION_NAMES.get(key, "--" + key.replace("_", "-"))
                diffs.append(f"{option} {_show(old)} recorded, {_show(new)} now")
    if not isinstance(old_inputs, list):
        diffs.append("no inputs recorded")
        return diffs
    old_paths = [r.get("path") if isinstance(r, dict) else None for r in old_inputs]
    new_paths = [r["path"] for r in new_inputs]
    if old_paths != new_paths:
        diffs.append(f"inputs: {old_paths} recorded, {new_paths} now")
        return diffs
    for old, new in zip(old_inputs, new_inputs, strict=True):
        changed = [k for k in ("size", "mtime_ns", "sha256_1mib") if old.get(k) != new.get(k)]
        if changed:
            diffs.append(f"input {new['path']!r} changed since ({', '.join(changed)})")
    return diffs


# ---- the run -------------------------------------------------------------------------------


@dataclass
class Counters:
    bytes: int = 0
    games: int = 0
    kept: int = 0
    plies_replayed: int = 0
    plies_kept: int = 0
    tokens_kept: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    parse_errors: dict[str, int] = field(default_factory=dict)
    replay_errors: dict[str, int] = field(default_factory=dict)
    input_errors: list[str] = field(default_factory=list)

    def add(self, s: dict[str, Any]) -> None:
        for k in ("bytes", "games", "kept", "plies_replayed", "plies_kept", "tokens_kept"):
            setattr(self, k, getattr(self, k) + int(s[k]))
        for k in ("dropped", "parse_errors", "replay_errors"):
            d = getattr(self, k)
            for name, n in s[k].items():
                d[name] = d.get(name, 0) + int(n)

    def to_json(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        for k in ("dropped", "parse_errors", "replay_errors"):
            d[k] = dict(sorted(d[k].items()))
        return d


def _progress_text(c: Counters, shards: int) -> str:
    """What prep's progress display shows after bytes read and MB/s."""
    return f"{c.games:,} games, kept {c.kept:,}, dropped {c.games - c.kept:,} | {shards} shards"


class Prep:
    def __init__(
        self,
        inputs: list[str],
        out: Path,
        config: PrepConfig,
        workers: int,
        chunk_size: int,
        progress: bool,
    ) -> None:
        self.inputs, self.out, self.config = inputs, out, config
        self.workers, self.chunk_size = max(1, workers), chunk_size
        self.tok = get_tokenizer(config.tokenizer)
        self.counters = Counters()
        self.writers = {s: ShardWriter(out, s, self.tok.dtype, config.shard_tokens) for s in SPLITS}
        self.shards_written = 0
        crash = os.environ.get(CRASH_ENV)
        self.crash_after = int(crash) if crash else -1
        for w in self.writers.values():
            w.on_shard = self._on_shard
        self.position = (0, 0)  # (input index, byte offset) of the first game not yet handled
        self.pending_seq = 0
        self.stopped = False
        self.progress = Progress(None, desc="prep", unit="B", unit_scale=True, enabled=progress)
        self.input_records = [_input_record(p) for p in inputs]

    def _on_shard(self) -> None:
        self.shards_written += 1
        if self.crash_after >= 0 and self.shards_written >= self.crash_after:
            os._exit(75)  # simulated crash: a shard file is on disk, not yet in progress.json

    # ---- checkpoints ----
    def _fingerprint(self) -> dict[str, Any]:
        return {"config": self.config.to_json(), "inputs": self.input_records}

    def checkpoint(self) -> None:
        self.pending_seq += 1
        splits = {}
        old = sorted(self.out.glob("pending-*.npz"))
        for s, w in self.writers.items():
            name = f"pending-{s}-{self.pending_seq:06d}.npz"
            w.save_pending(self.out / name)
            splits[s] = {"shards": w.shards, "pending": name}
        record = {
            "format": PROGRESS_FORMAT,
            "format_version": PROGRESS_VERSION,
            **self._fingerprint(),
            "next": {"input": self.position[0], "offset": self.position[1]},
            "stopped": self.stopped,
            "pending_seq": self.pending_seq,
            "counters": self.counters.to_json(),
            "splits": splits,
        }
        write_atomic(self.out / "progress.json", json.dumps(record, indent=1))
        for p in old:
            if p.name not in {v["pending"] for v in splits.values()}:
                p.unlink(missing_ok=True)

    def check_unchanged(self, path: Path, config: Any, inputs: Any) -> None:
        """`ResumeRefused` (naming what differs) unless ``config`` and ``inputs``, as recorded in
        ``path`` (progress.json or manifest.json), are this run's options and inputs."""
        fp = self._fingerprint()
        diffs = _differences(config, fp["config"], inputs, fp["inputs"])
        if diffs:
            raise ResumeRefused(
                f"{path} was written with other options or inputs ("
                + "; ".join(diffs)
                + "): rerun with the same arguments, use --force to overwrite, or choose a "
                "fresh --out"
            )

    def restore(self) -> bool:
        path = self.out / "progress.json"
        if not path.is_file():
            return False
        record = _read_record(path, "progress file")
        if (
            not isinstance(record, dict)
            or record.get("format") != PROGRESS_FORMAT
            or record.get("format_version") != PROGRESS_VERSION
        ):
            raise ResumeRefused(
                f"{path}: not a progress file this version understands (format "
                f"{PROGRESS_FORMAT!r}, version {PROGRESS_VERSION})"
            )
        self.check_unchanged(path, record.get("config"), record.get("inputs"))
        self.position = (int(record["next"]["input"]), int(record["next"]["offset"]))
        if self.position[1] and self.inputs[self.position[0]] == "-":
            raise ResumeRefused(
                f"{path}: the run stopped inside stdin, which cannot be resumed mid-stream; "
                "rerun without --resume (--force)"
            )
        self.stopped = bool(record.get("stopped", False))
        self.pending_seq = int(record["pending_seq"])
        c = record["counters"]
        self.counters = Counters(**c)
        for s, w in self.writers.items():
            w.shards = list(record["splits"][s]["shards"])
            w.load_pending(self.out / record["splits"][s]["pending"])
        self.shards_written = sum(len(w.shards) for w in self.writers.values())
        return True

    # ---- processing ----
    def _handle(self, result: dict[str, Any], file_index: int) -> int:
        self.counters.add(result["stats"])
        cfg = self.config
        done = 0
        if cfg.max_games >= 0:
            remaining = cfg.max_games - (self.counters.kept - int(result["stats"]["kept"]))
            remaining = max(remaining, 0)
            extra = 0
            for s in SPLITS:
                cols = result[s]
                k = int(np.searchsorted(cols["ordinal"], remaining))
                n = len(cols["ordinal"])
                if k < n:
                    # the games past the limit come off every "kept" counter, not only the count
                    extra += n - k
                    self.counters.plies_kept -= int(cols["plies"][k:].sum())
                    self.counters.tokens_kept -= int(cols["offsets"][n] - cols["offsets"][k])
                    result[s] = _slice(cols, 0, k)
            if extra:
                self.counters.kept -= extra
                self.counters.dropped["max_games"] = (
                    self.counters.dropped.get("max_games", 0) + extra
                )
            if self.counters.kept >= cfg.max_games:
                self.stopped = True
        for s in SPLITS:
            cols = result[s]
            n = len(cols["offsets"]) - 1
            cols["source"] = np.full(n, file_index, dtype=np.int32)
            done += self.writers[s].add(cols)
        return done

    def run(self) -> Counters:
        self.out.mkdir(parents=True, exist_ok=True)
        for folder in [self.out, *(self.out / split for split in SPLITS)]:
            # a killed run's temporary files (".tmp-*": written by older versions)
            for stale in [*folder.glob(TEMP_GLOB), *folder.glob(".tmp-*")]:
                stale.unlink()
        kwargs = self.config.core_kwargs()
        last_checkpoint = time.monotonic()
        with ThreadPoolExecutor(self.workers, thread_name_prefix="prep") as pool:
            start_index, start_offset = self.position
            for index in range(start_index, len(self.inputs)):
                if self.stopped:
                    break
                path = self.inputs[index]
                offset = start_offset if index == start_index else 0
                if offset and path == "-":
                    raise SystemExit("prep: cannot resume inside stdin; rerun without --resume")
                try:
                    stream = InputStream(path, skip=offset)
                except PgnInputError as e:
                    self.counters.input_errors.append(str(e))
                    self.progress.message(f"prep: {e}")
                    self.position = (index + 1, 0)
                    continue
                if path != "-" and path.lower().endswith(".zst") and not stream.compressed:
                    # reading it as plain PGN would pass garbage (or a damaged frame header) as an
                    # empty or odd input without a word; a plain .pgn with zstd magic still works
                    stream.close()
                    error = (
                        f"{path}: not zstd data (the name ends in .zst, but the file does not "
                        "start with the zstd magic bytes 28 b5 2f fd)"
                    )
                    self.counters.input_errors.append(error)
                    self.progress.message(f"prep: {error}; continuing with the next input")
                    self.position = (index + 1, 0)
                    continue
                inflight: deque[tuple[Future[dict[str, Any]], int, bool]] = deque()

                def drain(limit: int, index: int = index, inflight: Any = inflight) -> None:
                    nonlocal last_checkpoint
                    while len(inflight) > limit or (inflight and inflight[0][0].done()):
                        fut, end, more = inflight.popleft()
                        if self.stopped:
                            fut.cancel()
                            continue
                        shards = self._handle(fut.result(), index)
                        self.position = (index, end) if more else (index + 1, 0)
                        now = time.monotonic()
                        if shards or self.stopped or now - last_checkpoint > 60:
                            self.checkpoint()
                            last_checkpoint = now
                        self.progress.set(
                            self.counters.bytes, _progress_text(self.counters, self.shards_written)
                        )

                with stream:
                    for chunk, base, length, more in iter_chunk_parts(
                        stream.blocks(self.chunk_size), self.chunk_size, base=offset
                    ):
                        if self.stopped:
                            break
                        # the chunk is views of the decompressed blocks, parsed in place
                        fut = pool.submit(_core.prep_chunk, chunk, more, base, **kwargs)
                        inflight.append((fut, base + length, more))
                        drain(2 * self.workers)
                    drain(0)
                if stream.error is not None:
                    self.counters.input_errors.append(stream.error)
                    self.progress.message(f"prep: {stream.error}; continuing with the next input")
                if not self.stopped:
                    self.position = (index + 1, 0)
                if index + 1 < len(self.inputs) and not self.stopped:
                    # (after the last input the shards are written right away: a crash there
                    # resumes from the previous checkpoint, which redoes more but ends the same)
                    self.checkpoint()
                    last_checkpoint = time.monotonic()
        for w in self.writers.values():
            w.flush()
        self.write_manifest()
        self.progress.set(
            self.counters.bytes, _progress_text(self.counters, self.shards_written), force=True
        )
        self.progress.close()
        (self.out / "progress.json").unlink(missing_ok=True)
        for p in self.out.glob("pending-*.npz"):
            p.unlink()
        return self.counters

    def write_manifest(self) -> None:
        tok = self.tok
        c = self.counters
        manifest = {
            "format": "chessformer-dataset",
            "format_version": 1,
            "tokenizer": tok.info(),
            "splits": {s: {"shards": w.shards} for s, w in self.writers.items()},
            "split": {
                "method": "game_hash",
                "hash_version": self.config.split_hash,
                "val_fraction": self.config.val_fraction,
                "hash": "tag names/values folded 16 bytes per 64x64->128-bit multiply, move codes "
                "by FNV-1a 64, splitmix64 finish; val when (hash >> 11) / 2**53 < val_fraction",
            },
            "filters": self.config.to_json(),
            "counts": {
                **c.to_json(),
                "train_games": sum(s["n_games"] for s in self.writers["train"].shards),
                "val_games": sum(s["n_games"] for s in self.writers["val"].shards),
                "stopped_at_max_games": self.stopped,
            },
            "inputs": self.input_records,
            "metadata": {
                "file": "games-NNNNN.npz next to each token shard, row i = game i",
                "columns": META_COLUMNS,
                "result": ["1-0", "0-1", "1/2-1/2", "*"],
                "time_class": TIME_CLASSES,
                "termination": [
                    "",
                    "Normal",
                    "Time forfeit",
                    "Abandoned",
                    "Unterminated",
                    "Rules infraction",
                    "other",
                ],
            },
            "created_by": "chessformer prep",
        }
        write_atomic(self.out / "manifest.json", json.dumps(manifest, indent=2) + "\n")


def summary(c: Counters, seconds: float | None = None) -> str:
    lines = [
        f"games read {c.games:,}, kept {c.kept:,} ({c.plies_kept:,} plies, "
        f"{c.tokens_kept:,} tokens), dropped {c.games - c.kept:,}"
    ]
    if seconds is not None and seconds > 0:
        lines.append(
            f"{c.bytes / 1e6:.1f} MB in {seconds:.2f} s: {c.bytes / 1e6 / seconds:.1f} MB/s, "
            f"{c.games / seconds:,.0f} games/s, {c.plies_replayed / seconds / 1e6:.2f}M plies/s"
        )
    for title, d in (
        ("dropped", c.dropped),
        ("replay errors", c.replay_errors),
        ("parse errors", c.parse_errors),
    ):
        if d:
            items = sorted(d.items(), key=lambda kv: -kv[1])
            lines.append(f"{title}: " + ", ".join(f"{k} {v:,}" for k, v in items))
    for e in c.input_errors:
        lines.append(f"input error: {e}")
    return "\n".join(lines)


def _check_paths(inputs: list[str], out: Path) -> str | None:
    """The first problem with an input or the output folder, as a message naming the path (None
    when all is well), found before any work starts: an input must be a readable file, ``--out``
    a folder that exists or can be created."""
    for path in inputs:
        if path == "-":
            continue
        if os.path.isdir(path):
            return f"input {path!r} is a directory (give its files, e.g. '{path}/*.pgn.zst')"
        if os.path.isfile(path):  # (a pipe is not opened here: that could lose its data)
            try:
                with open(path, "rb"):
                    pass
            except OSError as e:
                return f"cannot read input {path!r}: {e.strerror or e}"
        elif not os.path.exists(path):
            return f"input {path!r} does not exist"
    if out.exists() and not out.is_dir():
        return f"--out {str(out)!r} exists and is not a directory"
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        return f"cannot create --out {str(out)!r}: {e.strerror or e}"
    if not os.access(out, os.W_OK | os.X_OK):
        return f"--out {str(out)!r} is not writable"
    return None


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="chessformer prep",
        description="PGN(.zst) files to token shards filtered by rating (docs/formats.md).",
        epilog="Exit status: 0 done; 1 no game kept; 2 bad arguments, an existing dataset, or "
        "--resume with other options or inputs; "
        "3 done, but an input could not be read to the end (truncated or corrupted .zst, I/O "
        "error) -- its games up to the damage are kept, and the manifest lists the errors.",
    )
    p.add_argument("inputs", nargs="+", help="PGN or PGN.zst files, globs, or - for stdin")
    p.add_argument("--out", required=True, type=Path, help="dataset folder to write")
    p.add_argument("--tokenizer", choices=("char", "move", "fen"), default="char")
    elo = int_at_least(0)
    p.add_argument("--max-elo", type=elo, default=-1, help="keep max(WhiteElo, BlackElo) <= N")
    p.add_argument("--min-elo", type=elo, default=-1, help="keep min(WhiteElo, BlackElo) >= N")
    p.add_argument(
        "--keep-unknown-elo", action="store_true", help="with an Elo filter, keep games lacking Elo"
    )
    p.add_argument(
        "--time-control",
        type=csv_strings,
        default=tuple(TIME_CLASSES),
        help=f"time classes to keep, comma-separated, from {','.join(TIME_CLASSES)} (Lichess rule "
        "on base + 40 x increment; ultrabullet is its own class). Default: all",
    )
    p.add_argument(
        "--drop-termination",
        type=csv_strings,
        default=("Abandoned", "Unterminated"),
        help="Termination tag values to drop (default: Abandoned,Unterminated; '' keeps all)",
    )
    p.add_argument("--min-plies", type=int_at_least(0), default=0, help="keep games of >= N plies")
    p.add_argument(
        "--variants",
        type=csv_strings,
        default=("standard",),
        help="standard[,chess960] (default standard)",
    )
    p.add_argument("--keep-unfinished", action="store_true", help="keep games with result *")
    p.add_argument(
        "--keep-partial",
        action="store_true",
        help="keep the moves before a null/illegal move or a parse error (result *)",
    )
    p.add_argument(
        "--max-games",
        type=int_at_least(1),
        default=-1,
        help="stop after keeping N >= 1 games (default: no limit)",
    )
    p.add_argument(
        "--val-fraction", type=fraction, default=0.05, help="share of games in val, in [0, 1]"
    )
    p.add_argument(
        "--shard-tokens",
        type=int_at_least(1),
        default=100_000_000,
        help="tokens per shard (about)",
    )
    p.add_argument("--workers", type=int_at_least(1), default=os.cpu_count() or 1)
    p.add_argument(
        "--chunk-mb",
        type=positive_number,
        default=2.0,
        help="MB of PGN per work item (about; default 2)",
    )
    p.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")
    p.add_argument("--force", action="store_true", help="overwrite an existing dataset in --out")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def _finished(prep: Prep, out: Path) -> bool:
    """Whether ``out`` holds a finished dataset (manifest.json) of this run's options and inputs;
    `ResumeRefused` when its manifest records others (or cannot be read)."""
    path = out / "manifest.json"
    if not path.exists():
        return False
    manifest = _read_record(path, "manifest")
    if not isinstance(manifest, dict) or manifest.get("format") != "chessformer-dataset":
        raise ResumeRefused(f"{path}: not a chessformer dataset manifest")
    prep.check_unchanged(path, manifest.get("filters"), manifest.get("inputs"))
    return True


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    bad = [t for t in args.time_control if t not in TIME_CLASSES]
    if bad:
        print(f"prep: unknown time class(es) {bad}; known: {TIME_CLASSES}", file=sys.stderr)
        return 2
    bad = [v for v in args.variants if v not in ("standard", "chess960")]
    if bad:
        print(f"prep: unknown variant(s) {bad}; known: standard, chess960", file=sys.stderr)
        return 2
    try:
        inputs = input_paths(args.inputs)
    except PgnInputError as e:
        print(f"prep: {e}", file=sys.stderr)
        return 2
    config = PrepConfig(
        tokenizer=args.tokenizer,
        max_elo=args.max_elo,
        min_elo=args.min_elo,
        keep_unknown_elo=args.keep_unknown_elo,
        time_classes=tuple(args.time_control),
        drop_terminations=tuple(args.drop_termination),
        min_plies=args.min_plies,
        variants=tuple(args.variants),
        keep_unfinished=args.keep_unfinished,
        keep_partial=args.keep_partial,
        max_games=args.max_games,
        val_fraction=args.val_fraction,
        shard_tokens=args.shard_tokens,
    )
    out: Path = args.out
    problem = _check_paths(inputs, out)
    if problem is not None:
        print(f"prep: {problem}", file=sys.stderr)
        return 2
    existing = (out / "manifest.json").exists() or (out / "progress.json").exists()
    if existing and not (args.resume or args.force):
        print(f"prep: {out} already holds a dataset; use --resume or --force", file=sys.stderr)
        return 2
    if args.force and not args.resume:
        for p in [out / "manifest.json", out / "progress.json", *out.glob("pending-*.npz")]:
            p.unlink(missing_ok=True)
        for s in SPLITS:
            for p in (out / s).glob("*") if (out / s).is_dir() else []:
                p.unlink()
    chunk = max(1 << 16, int(args.chunk_mb * (1 << 20)))
    try:
        prep = Prep(inputs, out, config, args.workers, chunk, progress=not args.quiet)
    except OSError as e:  # an input that vanished or became unreadable since the check above
        print(f"prep: cannot read input {e.filename!r}: {e.strerror or e}", file=sys.stderr)
        return 2
    t0 = time.monotonic()
    try:
        if args.resume and not (out / "progress.json").exists() and _finished(prep, out):
            print(f"prep: {out} is already complete (same options and inputs)", file=sys.stderr)
            return 0
        if args.resume and prep.restore():
            print(
                f"prep: resuming at input {prep.position[0]} byte {prep.position[1]:,}",
                file=sys.stderr,
            )
    except ResumeRefused as e:
        print(f"prep: --resume refused: {e}", file=sys.stderr)
        return 2
    counters = prep.run()
    print(summary(counters, time.monotonic() - t0), file=sys.stderr)
    if counters.kept == 0:
        return 1
    if counters.input_errors:
        # the dataset is complete for what could be read; scripts still learn that an input was
        # damaged (its games up to the damage are kept, the rest of that input is lost)
        print(
            f"prep: {len(counters.input_errors)} input(s) could not be read to the end "
            "(exit status 3); the dataset holds everything before the damage",
            file=sys.stderr,
        )
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
