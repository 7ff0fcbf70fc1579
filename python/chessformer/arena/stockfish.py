"""A small UCI client for Stockfish (or any UCI engine), made for long unattended matches.

    from chessformer.arena.stockfish import UciClient, Limit, find_stockfish
    engine = UciClient(find_stockfish(None), {"Threads": 1, "Hash": 16})
    engine.new_game({"Skill Level": 1})
    result = engine.search(None, ["e2e4"], Limit(movetime=0.1), timeout=5.0)
    result.move, result.score_cp, result.elapsed
    engine.close()

Why not ``chess.engine``: python-chess is a test-only dependency (GPL-3), and its asyncio client
would make the match runner's main loop async; the runner needs only ``uci``, ``setoption``,
``ucinewgame``, ``position`` and ``go`` with a hard per-search timeout, which is ~150 lines here.

Each engine has a reader thread that timestamps every output line as it arrives, so a search's
``elapsed`` is the engine's own thinking time even when the caller is busy elsewhere. A process
that exits or stays silent past the timeout raises :class:`EngineError`; the caller kills it and
starts a new one (see :class:`chessformer.arena.players.StockfishPlayer`).

:class:`UciClient` drives an engine we play against; ``chessformer.engine.uci.UciEngine`` is our
own engine speaking UCI to a GUI.
"""

from __future__ import annotations

import contextlib
import os
import queue
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import IO

__all__ = [
    "EngineError",
    "EngineNotFoundError",
    "EngineTimeout",
    "Limit",
    "SearchResult",
    "UciClient",
    "find_stockfish",
]

STOCKFISH_FALLBACK = "/usr/games/stockfish"  # where Debian/Ubuntu's package puts it (not on PATH)
INSTALL_HINT = (
    "install it (Debian/Ubuntu: `sudo apt-get install stockfish`; macOS: `brew install "
    "stockfish`; or a binary from https://stockfishchess.org/download/) or pass --stockfish PATH"
)


class EngineError(RuntimeError):
    """The engine process died, stopped answering, or broke the UCI protocol."""


class EngineTimeout(EngineError):
    """The engine did not answer within the timeout (a hang)."""


class EngineNotFoundError(FileNotFoundError):
    """No engine executable at the given path, on PATH, or at the fallback location."""


def find_stockfish(path: str | None) -> str:
    """The Stockfish executable: ``path`` if given, else ``stockfish`` on PATH, else
    /usr/games/stockfish; raises EngineNotFoundError saying how to install it."""
    if path:
        found = shutil.which(path) or (path if os.access(path, os.X_OK) else None)
        if found is None or os.path.isdir(found):
            raise EngineNotFoundError(
                f"Stockfish {path!r} is not an executable file; {INSTALL_HINT}"
            )
        return found
    found = shutil.which("stockfish")
    if found:
        return found
    if os.access(STOCKFISH_FALLBACK, os.X_OK):
        return STOCKFISH_FALLBACK
    raise EngineNotFoundError(
        f"Stockfish not found on PATH or at {STOCKFISH_FALLBACK}; {INSTALL_HINT}"
    )


@dataclass(frozen=True)
class Limit:
    """How long Stockfish may think per move; several limits combine (first one reached)."""

    movetime: float | None = None  # seconds
    nodes: int | None = None
    depth: int | None = None

    def go(self) -> str:
        parts = ["go"]
        if self.movetime is not None:
            parts += ["movetime", str(max(1, round(self.movetime * 1000)))]
        if self.nodes is not None:
            parts += ["nodes", str(self.nodes)]
        if self.depth is not None:
            parts += ["depth", str(self.depth)]
        if len(parts) == 1:
            raise ValueError("a Limit needs movetime, nodes or depth")
        return " ".join(parts)

    def describe(self) -> str:
        return self.go().removeprefix("go ")


@dataclass(frozen=True)
class SearchResult:
    move: str  # UCI
    score_cp: int | None  # last reported score, centipawns from the engine's side
    mate: int | None  # mate in N (negative: getting mated), if reported instead of cp
    elapsed: float  # seconds from sending `go` to reading `bestmove`


_Line = tuple[float, "str | None"]  # (monotonic arrival time, line or None at end of output)


class UciClient:
    """One engine process, driven synchronously (one caller thread at a time)."""

    def __init__(
        self,
        path: str,
        options: Mapping[str, str | int] | None = None,
        *,
        timeout: float = 30.0,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.path = path
        # Own session: a Ctrl-C in the terminal reaches only the runner, which then closes the
        # engines itself; an engine whose parent is SIGKILLed sees EOF on stdin and quits.
        self._proc = subprocess.Popen(
            [path],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            bufsize=1,
            start_new_session=True,
            env=None if env is None else dict(env),
        )
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._stdin: IO[str] = self._proc.stdin
        self._lines: queue.Queue[_Line] = queue.Queue()
        self._reader = threading.Thread(
            target=self._read, args=(self._proc.stdout,), daemon=True, name=f"uci-read-{path}"
        )
        self._reader.start()
        self.name = os.path.basename(path)
        self.option_names: set[str] = set()
        self.option_ranges: dict[str, tuple[int, int]] = {}  # spin options: (min, max)
        self._values: dict[str, str] = {}
        try:
            self._send("uci")
            for line in self._expect(lambda s: s == "uciok", timeout):
                if line.startswith("id name "):
                    self.name = line[len("id name ") :].strip()
                elif line.startswith("option name "):
                    rest = line[len("option name ") :]
                    name = rest.split(" type ")[0].strip()
                    self.option_names.add(name)
                    words = rest.split()
                    if "min" in words[:-1] and "max" in words[:-1]:
                        with contextlib.suppress(ValueError):
                            low = int(words[words.index("min") + 1])
                            high = int(words[words.index("max") + 1])
                            self.option_ranges[name] = (low, high)
            self.configure(options or {})
            self.ping(timeout)
        except BaseException:
            self.kill()
            raise

    # ---- I/O ------------------------------------------------------------------------------------
    def _read(self, stdout: IO[str]) -> None:
        try:
            for line in stdout:
                self._lines.put((time.monotonic(), line.rstrip("\r\n")))
        except (OSError, ValueError):
            pass
        self._lines.put((time.monotonic(), None))

    def _send(self, command: str) -> float:
        try:
            self._stdin.write(command + "\n")
            self._stdin.flush()
        except (OSError, ValueError) as e:  # ValueError: write to a closed pipe object
            raise EngineError(f"{self.name}: cannot write to the engine ({e})") from None
        return time.monotonic()

    def _expect(self, done: Callable[[str], bool], timeout: float) -> list[str]:
        """Lines up to and including the first for which ``done`` holds."""
        deadline = time.monotonic() + timeout
        lines = []
        while True:
            try:
                _, line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise EngineTimeout(
                    f"{self.name}: no answer within {timeout:g} s (hung?)"
                ) from None
            if line is None:
                code = self._proc.poll()
                raise EngineError(f"{self.name}: the engine exited (exit code {code})")
            lines.append(line)
            if done(line):
                return lines

    # ---- commands -------------------------------------------------------------------------------
    def configure(self, options: Mapping[str, str | int]) -> None:
        """``setoption`` for each option whose value changed; unknown names raise ValueError."""
        for name, value in options.items():
            if name not in self.option_names:
                raise ValueError(f"{self.name} has no UCI option {name!r}")
            text = str(value).lower() if isinstance(value, bool) else str(value)
            if self._values.get(name) != text:
                self._send(f"setoption name {name} value {text}")
                self._values[name] = text

    def ping(self, timeout: float = 30.0) -> None:
        self._send("isready")
        self._expect(lambda s: s == "readyok", timeout)

    def new_game(
        self, options: Mapping[str, str | int] | None = None, timeout: float = 30.0
    ) -> None:
        self.configure(options or {})
        self._send("ucinewgame")
        self.ping(timeout)

    def search(
        self, start_fen: str | None, moves: Sequence[str], limit: Limit, timeout: float
    ) -> SearchResult:
        """The engine's move after ``moves`` from ``start_fen`` (None: the start position)."""
        position = "position startpos" if start_fen is None else f"position fen {start_fen}"
        if moves:
            position += " moves " + " ".join(moves)
        self._send(position)
        sent = self._send(limit.go())
        deadline = sent + timeout
        score_cp: int | None = None
        mate: int | None = None
        while True:
            try:
                at, line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise EngineTimeout(
                    f"{self.name}: no bestmove within {timeout:g} s (hung?)"
                ) from None
            if line is None:
                code = self._proc.poll()
                raise EngineError(f"{self.name}: the engine exited mid-search (exit code {code})")
            if line.startswith("info ") and " score " in line:
                words = line.split()
                k = words.index("score")
                if k + 2 < len(words) and words[k + 1] in ("cp", "mate"):
                    try:
                        value = int(words[k + 2])
                    except ValueError:
                        continue
                    score_cp, mate = (value, None) if words[k + 1] == "cp" else (None, value)
            elif line.startswith("bestmove"):
                words = line.split()
                if len(words) < 2 or words[1] in ("(none)", "0000"):
                    raise EngineError(f"{self.name}: no move in {line!r} (position {position!r})")
                return SearchResult(words[1], score_cp, mate, at - sent)

    def kill(self) -> None:
        """Stop the process now (safe to call twice, and from another thread)."""
        if self._proc.poll() is None:
            self._proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):  # a process immune to SIGKILL
            self._proc.wait(timeout=5)
        for f in (self._proc.stdin, self._proc.stdout):
            try:
                if f is not None:
                    f.close()
            except OSError:
                pass

    def close(self) -> None:
        """Ask the engine to quit; kill it if it does not within a second."""
        try:
            if self._proc.poll() is None:
                self._send("quit")
                self._proc.wait(timeout=1.0)
        except (EngineError, subprocess.TimeoutExpired):
            pass
        self.kill()
