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

The input layer (reading once, chunking, the game size limit) is `chessformer.data.pgn_input`, the
shard files `chessformer.data.shards`, the command line and exit statuses
`chessformer.data.prep_cli`.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from chessformer import _core
from chessformer._io import read_versioned_json
from chessformer._progress import Progress
from chessformer.data.pgn_input import (
    MAX_GAME_BYTES,
    Chunk,
    InputStream,
    PgnInputError,
    head,
    iter_chunk_parts,
)
from chessformer.data.shards import (
    META_COLUMNS,
    SPLITS,
    ShardWriter,
    atomic_write,
    own_files,
    slice_columns,
)
from chessformer.data.tokenizers import get_tokenizer

# the dataset folder format prep writes (docs/formats.md, "Dataset folder"; read by data/dataset.py)
DATASET_FORMAT = "chessformer-dataset"
DATASET_VERSION = 1
PROGRESS_FORMAT = "chessformer-prep-progress"
PROGRESS_VERSION = 1
TIME_CLASSES: list[str] = list(_core.PREP_TIME_CLASSES)
SPLIT_HASH_VERSION = 2  # the game hash of _core.prep_chunk (cpp/pgn/replay.cpp)
MAX_REPORTED = 10  # oversized games reported one by one (then only counted)
CRASH_ENV = "CHESSFORMER_PREP_CRASH_AFTER_SHARDS"  # test hook: exit hard after N shard renames
# set (to anything but 0): where the run's time went, on stderr at the end (bench/bench_prep.py)
TIMING_ENV = "CHESSFORMER_PREP_TIMING"
PARSER_NICE = 3  # how much lower the parser threads' priority is (nice steps; 0: the same)
PARSER_NICE_ENV = "CHESSFORMER_PREP_PARSER_NICE"


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
    max_game_mb: float = MAX_GAME_BYTES / (1 << 20)  # a longer game is skipped (docs/formats.md)
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


def _input_record(path: str) -> dict[str, Any]:
    """What identifies an input for ``--resume``. Only a regular file is opened here: a pipe,
    FIFO or stdin is read once, by the run itself (reading its head here would lose those bytes),
    and is recorded without size or checksum (``"stream": true``)."""
    st = None if path == "-" else os.stat(path)
    if st is None or not stat.S_ISREG(st.st_mode):
        return {"path": path, "size": None, "mtime_ns": None, "sha256_1mib": None, "stream": True}
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


def _parser_priority() -> None:
    """A parser thread runs a little below the threads of the rest of the process (Linux, where
    the nice value is per thread): the reading thread, which decompresses on its own and feeds
    all the parsers, and the main thread, which hands them their chunks, get a core first when
    the process has more runnable threads than cores. Parsers are only as fast as those two let
    them be, so this costs them nothing; where the kernel groups a session's threads (autogroup),
    it does not change the process's share against other processes either."""
    step = int(os.environ.get(PARSER_NICE_ENV, PARSER_NICE))
    if step <= 0 or not sys.platform.startswith("linux"):
        return
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + step)
    except (OSError, AttributeError):
        pass


def _prep_chunk(parts: Chunk, more: bool, base: int, kwargs: dict[str, Any]) -> dict[str, Any]:
    """`_core.prep_chunk` on a worker thread, with the thread's CPU time for it (``cpu_s``)."""
    t0 = time.thread_time()
    result = _core.prep_chunk(parts, more, base, **kwargs)
    result["cpu_s"] = time.thread_time() - t0
    return result


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
        self.inflight_budget = 2 * self.workers * chunk_size  # chunk bytes parsed at once, or one
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
        # seconds, by where the main thread spent them (and the parsers' CPU time, all threads)
        self.timing = dict.fromkeys(
            [
                "input",
                "wait_parsers",
                "shards",
                "final_shards",
                "parse_cpu",
                "reader_waited",
                "waited_for_reader",
                "run",
                "main_cpu",
            ],
            0.0,
        )

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
        old = own_files(self.out, pending_only=True)
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
        text = json.dumps(record, indent=1).encode()
        atomic_write(self.out / "progress.json", lambda f: f.write(text))
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
        record = read_versioned_json(path, PROGRESS_FORMAT, PROGRESS_VERSION, ResumeRefused)
        self.check_unchanged(path, record.get("config"), record.get("inputs"))
        self.position = (int(record["next"]["input"]), int(record["next"]["offset"]))
        at = self.position[0]
        if self.position[1] and at < len(self.inputs) and self.input_records[at].get("stream"):
            name = "stdin" if self.inputs[at] == "-" else repr(self.inputs[at])
            raise ResumeRefused(
                f"{path}: the run stopped inside {name}, a pipe or other stream, which cannot be "
                "read again from the middle; rerun without --resume (--force), or save the stream "
                "to a file first"
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
    def _oversized(self, path: str, base: int, length: int, limit: int) -> None:
        """A game over the size limit, skipped: counted as read and dropped (``too_large``)."""
        c = self.counters
        c.bytes += length
        c.games += 1
        c.dropped["too_large"] = c.dropped.get("too_large", 0) + 1
        n = c.dropped["too_large"]
        if n <= MAX_REPORTED:
            more = " (further ones are only counted)" if n == MAX_REPORTED else ""
            self.progress.message(
                f"prep: {path}: skipped a game of {length:,} bytes at byte {base:,}: over the "
                f"{limit:,}-byte limit on one game (--max-game-mb){more}"
            )

    def _handle(
        self, result: dict[str, Any], file_index: int, reparse: Callable[[int], dict[str, Any]]
    ) -> int:
        """Counts and shards a chunk's result. When ``--max-games`` is reached inside the chunk,
        the chunk is parsed again up to the first game past the limit (``reparse(offset)``), so
        the counters hold the games read before the stop, not the whole chunk's."""
        cfg = self.config
        if cfg.max_games >= 0:
            remaining = max(cfg.max_games - self.counters.kept, 0)
            if int(result["stats"]["kept"]) > remaining:
                past = [
                    int(cols["byte_offset"][k])
                    for cols in (result[s] for s in SPLITS)
                    for k in [int(np.searchsorted(cols["ordinal"], remaining))]
                    if k < len(cols["ordinal"])
                ]
                result = reparse(min(past))
                for s in SPLITS:  # (the same games; kept past the limit only if the cut moved)
                    k = int(np.searchsorted(result[s]["ordinal"], remaining))
                    result[s] = slice_columns(result[s], 0, k)
            self.stopped = self.counters.kept + int(result["stats"]["kept"]) >= cfg.max_games
        self.counters.add(result["stats"])
        done = 0
        for s in SPLITS:
            cols = result[s]
            n = len(cols["offsets"]) - 1
            cols["source"] = np.full(n, file_index, dtype=np.int32)
            done += self.writers[s].add(cols)
        return done

    def run(self) -> Counters:
        started, main_cpu = time.perf_counter(), time.thread_time()
        self.out.mkdir(parents=True, exist_ok=True)
        ours = {w.temporary for w in self.writers.values()}  # (a resumed run's pending tokens)
        for stale in own_files(self.out, temporary_only=True):
            if stale not in ours:
                stale.unlink()
        kwargs = self.config.core_kwargs()
        last_checkpoint = time.monotonic()
        with ThreadPoolExecutor(
            self.workers, thread_name_prefix="prep", initializer=_parser_priority
        ) as pool:
            start_index, start_offset = self.position
            for index in range(start_index, len(self.inputs)):
                if self.stopped:
                    break
                path = self.inputs[index]
                offset = start_offset if index == start_index else 0
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
                inflight: deque[tuple[Future[dict[str, Any]], int, int, bool, Chunk]] = deque()

                def drain(
                    limit: int, extra: int = 0, index: int = index, inflight: Any = inflight
                ) -> None:
                    nonlocal last_checkpoint
                    while inflight and (
                        len(inflight) > limit
                        or inflight[0][0].done()
                        or sum(i[2] for i in inflight) + extra > self.inflight_budget
                    ):
                        fut, end, length, more, parts = inflight.popleft()
                        if self.stopped:
                            fut.cancel()
                            continue
                        base = end - length

                        def reparse(stop: int, parts: Chunk = parts, base: int = base) -> Any:
                            return _core.prep_chunk(head(parts, stop - base), True, base, **kwargs)

                        t0 = time.perf_counter()
                        result = fut.result()
                        t1 = time.perf_counter()
                        self.timing["wait_parsers"] += t1 - t0
                        self.timing["parse_cpu"] += result.pop("cpu_s", 0.0)
                        shards = self._handle(result, index, reparse)
                        self.position = (index, end) if more else (index + 1, 0)
                        now = time.monotonic()
                        if shards or self.stopped or now - last_checkpoint > 60:
                            self.checkpoint()
                            last_checkpoint = now
                        self.progress.set(
                            self.counters.bytes, _progress_text(self.counters, self.shards_written)
                        )
                        self.timing["shards"] += time.perf_counter() - t1

                with stream:
                    blocks = stream.blocks(self.chunk_size)
                    max_game = int(self.config.max_game_mb * (1 << 20))
                    items = iter_chunk_parts(blocks, self.chunk_size, offset, max_game)
                    while True:
                        t0 = time.perf_counter()
                        item = next(items, None)
                        self.timing["input"] += time.perf_counter() - t0
                        if item is None or self.stopped:
                            break
                        if item.oversized:
                            drain(0)  # (in input order: the counters and position follow it)
                            if not self.stopped:
                                self._oversized(path, item.base, item.length, max_game)
                                self.position = (index, item.base + item.length)
                            continue
                        drain(2 * self.workers - 1, item.length)
                        # the chunk is views of the decompressed blocks, parsed in place
                        fut = pool.submit(_prep_chunk, item.parts, item.more, item.base, kwargs)
                        end = item.base + item.length
                        inflight.append((fut, end, item.length, item.more, item.parts))
                    drain(0)
                waits = stream.reader_waits
                self.timing["reader_waited"] += waits[0]
                self.timing["waited_for_reader"] += waits[1]
                recorded = self.input_records[index].get("size")
                if stream.error is None and stream.size is not None and stream.size != recorded:
                    stream.error = (
                        f"{path}: changed since the run began ({recorded:,} bytes then, "
                        f"{stream.size:,} when opened)"
                    )
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
        t0 = time.perf_counter()
        for w in self.writers.values():
            w.flush()
        self.write_manifest()
        self.timing["final_shards"] = time.perf_counter() - t0
        self.progress.set(
            self.counters.bytes, _progress_text(self.counters, self.shards_written), force=True
        )
        self.progress.close()
        (self.out / "progress.json").unlink(missing_ok=True)
        for p in own_files(self.out, pending_only=True):
            p.unlink()
        self.timing["run"] = time.perf_counter() - started
        self.timing["main_cpu"] = time.thread_time() - main_cpu
        if os.environ.get(TIMING_ENV, "0") not in ("", "0"):
            print("prep: timing " + json.dumps(self.timing), file=sys.stderr)
        return self.counters

    def write_manifest(self) -> None:
        tok = self.tok
        c = self.counters
        manifest = {
            "format": DATASET_FORMAT,
            "format_version": DATASET_VERSION,
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
        text = (json.dumps(manifest, indent=2) + "\n").encode()
        atomic_write(self.out / "manifest.json", lambda f: f.write(text))


def main(argv: list[str] | None = None) -> int:
    """``chessformer prep`` (`chessformer.data.prep_cli`)."""
    from chessformer.data.prep_cli import main as run_main

    return run_main(argv)


if __name__ == "__main__":
    sys.exit(main())
