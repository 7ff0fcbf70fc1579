"""Games streamed to a ``.pgn.zst`` file that survives ``kill -9``: no game lost, none twice.

The file grows by whole zstd frames, each holding the next games in index order (a multi-frame
zstd file is one ordinary stream to ``zstd -d``, python's ``zstandard`` and ``chessformer prep``).
After a frame is written and fsynced, ``FILE.progress.json`` is replaced atomically with the
number of games and bytes it holds. On start, the file is cut back to the recorded bytes (a frame
written after the last record is dropped, and its games are played again), so the file and the
record always agree. Games that end out of order wait in memory until the games before them end.

The record also keeps the run's configuration; resuming with another configuration is refused.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import zstandard

from chessformer._io import read_versioned_json, write_json
from chessformer.lab.games import GameResult

__all__ = ["GameStore", "StoreError", "pgn_text", "read_pgn_zst"]

PROGRESS_FORMAT = "chessformer-lab-games"
PROGRESS_VERSION = 1
FLUSH_GAMES = 64  # a frame at least every this many games ...
FLUSH_SECONDS = 5.0  # ... or this often


class StoreError(ValueError):
    """A game file's progress record is unreadable or belongs to another configuration."""


def _tag(value: object) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"')


def pgn_text(
    game: GameResult, ratings: dict[str, float] | None = None, event: str = "chessformer lab"
) -> str:
    """One game as Lichess-style PGN (tags, SAN movetext, result)."""
    ratings = ratings or {}
    t = game.task
    tags = [
        ("Event", event),
        ("Site", "chessformer lab"),
        ("Date", time.strftime("%Y.%m.%d", time.gmtime())),
        ("Round", t.index + 1),
        ("White", t.white),
        ("Black", t.black),
        ("Result", game.result),
        ("WhiteElo", round(ratings[t.white]) if t.white in ratings else "?"),
        ("BlackElo", round(ratings[t.black]) if t.black in ratings else "?"),
        ("TimeControl", "-"),
        ("Termination", "Unterminated" if game.reason == "move cap" else "Normal"),
        ("LabSeed", t.seed),
        ("LabOpeningPlies", t.opening_plies),
        ("LabEnd", game.reason),
    ]
    lines = [f'[{k} "{_tag(v)}"]' for k, v in tags]
    words = []
    for i, san in enumerate(game.sans):
        words.append(f"{i // 2 + 1}. {san}" if i % 2 == 0 else san)
    words.append(game.result)
    return "\n".join(lines) + "\n\n" + " ".join(words) + "\n\n"


@dataclass
class _Progress:
    games: int
    bytes: int
    config: dict[str, Any]


class GameStore:
    """Append games (any order) to ``path``; :attr:`done` games are safely on disk."""

    def __init__(self, path: Path, config: dict[str, Any], *, force: bool = False) -> None:
        self.path = Path(path)
        self.progress_path = self.path.with_name(self.path.name + ".progress.json")
        self.config = config
        self.path.parent.mkdir(parents=True, exist_ok=True)
        prog = self._load()
        if prog is not None and prog.config != config and not force:
            diff = sorted(
                k for k in set(config) | set(prog.config) if config.get(k) != prog.config.get(k)
            )
            raise StoreError(
                f"{self.path} was made with another configuration (differs in {', '.join(diff)}); "
                "use another output file or --force to start it again"
            )
        if prog is None or force:
            prog = _Progress(0, 0, config)
        self.done = prog.games
        self._bytes = prog.bytes
        if self.path.exists() and self.path.stat().st_size < self._bytes:
            raise StoreError(
                f"{self.path} is shorter ({self.path.stat().st_size} bytes) than its progress "
                f"record says ({self._bytes}); it was changed by hand: --force starts it again"
            )
        with open(self.path, "ab") as f:
            f.truncate(self._bytes)
        self._write_progress()
        self._waiting: dict[int, str] = {}
        self._batch: list[str] = []
        self._last_flush = time.monotonic()
        self._cctx = zstandard.ZstdCompressor(level=6)

    def _load(self) -> _Progress | None:
        if not self.progress_path.exists():
            if self.path.exists() and self.path.stat().st_size:
                raise StoreError(
                    f"{self.path} exists without {self.progress_path.name}: not a lab game file "
                    "(or made by another program); --force overwrites it"
                )
            return None
        d = read_versioned_json(self.progress_path, PROGRESS_FORMAT, PROGRESS_VERSION, StoreError)
        try:
            return _Progress(int(d["games"]), int(d["bytes"]), dict(d["config"]))
        except (ValueError, KeyError, TypeError) as e:
            raise StoreError(f"{self.progress_path}: unreadable progress record ({e})") from None

    def _write_progress(self) -> None:
        write_json(
            self.progress_path,
            {
                "format": PROGRESS_FORMAT,
                "format_version": PROGRESS_VERSION,
                "games": self.done,
                "bytes": self._bytes,
                "config": self.config,
            },
        )

    def add(self, index: int, text: str) -> None:
        """Game ``index``'s PGN; written once every game before it has been added."""
        if index < self.done + len(self._batch) or index in self._waiting:
            raise ValueError(f"game {index} was already added")
        self._waiting[index] = text
        nxt = self.done + len(self._batch)
        while nxt in self._waiting:
            self._batch.append(self._waiting.pop(nxt))
            nxt += 1
        now = time.monotonic()
        if len(self._batch) >= FLUSH_GAMES or now - self._last_flush > FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        self._last_flush = time.monotonic()
        if not self._batch:
            return
        frame = self._cctx.compress("".join(self._batch).encode())
        with open(self.path, "ab") as f:
            f.write(frame)
            f.flush()
            os.fsync(f.fileno())
        self._bytes += len(frame)
        self.done += len(self._batch)
        self._batch = []
        self._write_progress()

    def close(self) -> None:
        self.flush()


def read_pgn_zst(path: Path) -> str:
    """The whole text of a (multi-frame) .pgn.zst file, or of a plain .pgn."""
    data = Path(path).read_bytes()
    if data[:4] != b"\x28\xb5\x2f\xfd":
        return data.decode()
    reader = zstandard.ZstdDecompressor().stream_reader(data, read_across_frames=True)
    return reader.read().decode()
