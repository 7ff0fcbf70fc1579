"""Many Stockfish processes driven from one thread, with several searches in flight on each.

The lab's hot loop asks for thousands of shallow searches a second. A blocking client pays a
round trip per search (write, wait, wake up, read); here every request is written at once and up
to ``depth`` requests wait in each engine's input pipe, so an engine starts its next search the
moment it prints ``bestmove``. Answers are read from non-blocking pipes with one ``select`` over
all engines. Stockfish keeps a request's own ``setoption``/``position``/``go`` in order, and
``setoption`` waits for the running search to finish, so engines can be shared by experts with
different options.

    pool = EnginePool(find_stockfish(None), engines=2)
    pool.submit(Search(token=7, fen=fen, go="go depth 1"))
    for reply in pool.poll(1.0):
        reply.token, reply.move
    pool.close()

An engine that exits or stays silent past ``timeout`` seconds is killed and restarted, and its
unanswered searches are sent again, so a crash loses no request.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import subprocess
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from chessformer.arena.stockfish import EngineError

__all__ = ["EnginePipe", "EnginePool", "Reply", "Search"]

# Options every engine starts with: one thread (the lab runs many engines), a small hash.
BASE_OPTIONS: Mapping[str, str] = {"Threads": "1", "Hash": "8"}
MAX_RESTARTS = 20  # per pool; more means something is wrong with the engine or the requests


@dataclass(frozen=True)
class Search:
    """Search ``fen`` with ``go`` after setting ``options``; ``token`` comes back with the
    answer. ``info=True`` keeps the engine's ``info`` lines (scores, WDL, MultiPV)."""

    token: Any
    fen: str
    go: str = "go depth 1"
    options: tuple[tuple[str, str], ...] = ()
    info: bool = False


@dataclass
class Reply:
    token: Any
    move: str  # UCI, or "(none)" in a position without legal moves
    info: list[str] = field(default_factory=list)


class EnginePipe:
    """One engine process; requests are written at once, answers parsed as bytes arrive."""

    def __init__(self, path: str, options: Mapping[str, str] | None = None) -> None:
        self.path = path
        self.proc = subprocess.Popen(
            [path],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            bufsize=0,
            start_new_session=True,  # a Ctrl-C reaches only us; we close the engines
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.fd = self.proc.stdout.fileno()
        os.set_blocking(self.fd, False)
        self.pending: deque[Search] = deque()
        self.last_activity = time.monotonic()
        self._buf = b""
        self._info: list[str] = []
        self._ready = False  # lines before the handshake's readyok are not answers
        self._values: dict[str, str] = {}
        lines = ["uci"]
        for name, value in {**BASE_OPTIONS, **(options or {})}.items():
            lines.append(f"setoption name {name} value {value}")
            self._values[name] = str(value)
        lines.append("isready")
        self._write(lines)

    def _write(self, lines: list[str]) -> None:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(("\n".join(lines) + "\n").encode())
        except (OSError, ValueError) as e:
            raise EngineError(f"{self.path}: cannot write to the engine ({e})") from None

    def submit(self, search: Search) -> None:
        lines = []
        for name, value in search.options:
            if self._values.get(name) != value:
                lines.append(f"setoption name {name} value {value}")
                self._values[name] = value
        lines += [f"position fen {search.fen}", search.go]
        if not self.pending:
            self.last_activity = time.monotonic()
        self._write(lines)
        self.pending.append(search)

    def read(self) -> list[Reply]:
        """Answers completed by the bytes available now; EngineError if the engine exited."""
        try:
            data = os.read(self.fd, 1 << 16)
        except BlockingIOError:
            return []
        if not data:
            raise EngineError(f"{self.path}: the engine exited (code {self.proc.poll()})")
        self.last_activity = time.monotonic()
        lines = (self._buf + data).split(b"\n")
        self._buf = lines.pop()
        replies = []
        for line in lines:
            if not self._ready:
                self._ready = line.rstrip() == b"readyok"
            elif line.startswith(b"bestmove"):
                search = self.pending.popleft()
                words = line.split()
                move = words[1].decode() if len(words) > 1 else "(none)"
                replies.append(Reply(search.token, move, self._info))
                self._info = []
            elif line.startswith(b"info") and self.pending and self.pending[0].info:
                self._info.append(line.decode().rstrip())
        return replies

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        for f in (self.proc.stdin, self.proc.stdout):
            with contextlib.suppress(OSError):
                if f is not None:
                    f.close()

    def close(self) -> None:
        with contextlib.suppress(EngineError):
            self._write(["quit"])
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=1.0)
        self.kill()


class EnginePool:
    """``engines`` processes of one executable; each search goes to the least busy one."""

    def __init__(
        self,
        path: str,
        engines: int,
        *,
        depth: int = 3,
        options: Mapping[str, str] | None = None,
        timeout: float = 60.0,
    ) -> None:
        if engines < 1:
            raise ValueError(f"engines must be >= 1, got {engines!r}")
        self.path = path
        self.depth = depth  # searches queued per engine: hides the round trip to Python
        self.options = dict(options or {})
        self.timeout = timeout
        self.restarts = 0
        self.searches = 0
        self._backlog: deque[Search] = deque()
        self._sel = selectors.DefaultSelector()
        self.engines: list[EnginePipe] = []
        for _ in range(engines):
            self._add(EnginePipe(path, self.options))

    def _add(self, engine: EnginePipe) -> None:
        self.engines.append(engine)
        self._sel.register(engine.fd, selectors.EVENT_READ, engine)

    @property
    def in_flight(self) -> int:
        return len(self._backlog) + sum(len(e.pending) for e in self.engines)

    def submit(self, search: Search) -> None:
        self.searches += 1
        engine = min(self.engines, key=lambda e: len(e.pending))
        if len(engine.pending) < self.depth:
            self._send(engine, search)
        else:
            self._backlog.append(search)

    def _send(self, engine: EnginePipe, search: Search) -> bool:
        """Give ``search`` to ``engine``; an engine that died before its exit was read (a broken
        pipe) is restarted and the search goes back to the front of the backlog."""
        try:
            engine.submit(search)
        except EngineError:
            self._backlog.appendleft(search)
            self._restart(engine)
            return False
        return True

    def poll(self, timeout: float | None) -> list[Reply]:
        """Answers that arrive within ``timeout`` seconds (None: wait for at least one)."""
        replies: list[Reply] = []
        if not self.in_flight:
            return replies
        for key, _ in self._sel.select(timeout):
            engine: EnginePipe = key.data
            try:
                replies += engine.read()
            except EngineError:
                self._restart(engine)
        now = time.monotonic()
        for engine in list(self.engines):
            if engine.pending and now - engine.last_activity > self.timeout:
                self._restart(engine)
        for engine in list(self.engines):
            while self._backlog and len(engine.pending) < self.depth:
                if not self._send(engine, self._backlog.popleft()):
                    break
        return replies

    def _restart(self, engine: EnginePipe) -> None:
        self.restarts += 1
        if self.restarts > MAX_RESTARTS:
            raise EngineError(f"{self.path}: more than {MAX_RESTARTS} engine failures")
        self._sel.unregister(engine.fd)
        self.engines.remove(engine)
        engine.kill()
        fresh = EnginePipe(self.path, self.options)
        self._add(fresh)
        for search in engine.pending:
            fresh.submit(search)

    def close(self) -> None:
        for engine in self.engines:
            engine.close()
        self._sel.close()
        self.engines = []
