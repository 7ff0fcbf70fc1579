"""`chessformer uci [--model PATH]`: the model as a UCI engine for chess GUIs.

Speaks the whole UCI protocol on stdin/stdout (only protocol lines go to stdout; logs go to
stderr): ``uci``, ``debug``, ``isready``, ``setoption``, ``ucinewgame``, ``position``, ``go`` (all
parameters), ``stop``, ``ponderhit``, ``quit``; end of input means quit. The model loads lazily
(``uci`` -> ``uciok`` is instant; the first ``isready`` or ``go`` loads it). A position that
extends the previous one reuses the KV cache, so later moves cost a few milliseconds.

The engine does not search: each ``go`` is one batched forward pass through the transformer and a
(legal-move masked) sample at the configured temperature. ``depth``/``nodes``/``movetime`` and
the clocks therefore only bound a computation that is already short; under ``infinite`` and
``ponder`` the answer waits for ``stop``/``ponderhit`` as the protocol requires. MultiPV lines rank
the legal moves by the model's own (temperature 1) probabilities, whatever the sampling temperature.

Without a usable model (a ModelPath that does not exist or does not load) the engine says why in an
``info string ERROR: ...`` line and answers ``go`` with ``bestmove 0000``, the protocol's null move,
which a GUI rejects as an engine failure: it never plays a move it did not compute.

Input may be any bytes in any locale (lines of at most 1 MiB, see chessformer.engine.textio); every
echo of it is cut and escaped. This module is the engine's state and its command dispatch; beside
it in chessformer.engine: ``protocol`` (the protocol's text: parsing, info lines, scores),
``options`` (the options declared and their values), ``lazy_model`` (the model's loading and Elo
calibration), ``search`` (a ``go``: its thread, its bestmove, the move) and ``report`` (the info
lines for the move). GUI recipes (xboard via polyglot, Cute Chess, lichess-bot) and what ``score``
means: docs/uci.md.
"""

from __future__ import annotations

import argparse
import sys
import threading
from typing import IO, Any

from chessformer.engine.lazy_model import LazyModel
from chessformer.engine.options import MAX_MULTIPV, engine_options, path_missing, set_option
from chessformer.engine.protocol import NO_MOVE, GoParams, Option, parse_go, parse_position
from chessformer.engine.search import NoModelError, Search, choose
from chessformer.engine.textio import (
    MAX_LINE,
    LongLine,
    input_lines,
    printable,
    shown,
    utf8_stdout,
)

__all__ = [
    "ENGINE_AUTHOR",
    "ENGINE_NAME",
    "MAX_INFO_CHARS",
    "MAX_MULTIPV",
    "NO_MOVE",
    "NoModelError",
    "UciEngine",
    "main",
]

ENGINE_NAME = "chessformer"
ENGINE_AUTHOR = "the chessformer authors"
MAX_INFO_CHARS = 400  # an info string longer than this is cut (it never echoes a whole input)


class UciEngine:
    """The protocol state machine. ``handle(line)`` processes one command; output goes through
    ``write`` (thread-safe), so tests can drive it without a subprocess."""

    def __init__(self, model: str | None = None, out: IO[str] | None = None) -> None:
        self._out = out or sys.stdout
        self._write_lock = threading.Lock()
        self.debug = False
        self.options: dict[str, Option] = engine_options(model)
        self.values: dict[str, Any] = {k: o.default for k, o in self.options.items()}
        self.board: Any = None  # chessformer.Board, created lazily (imports the C++ core)
        self._model = LazyModel()
        self._search = Search(self)

    @property
    def engine(self) -> Any:
        """The chessformer.inference.InferenceEngine once loaded (lazily), else None."""
        return self._model.engine

    @engine.setter
    def engine(self, value: Any) -> None:
        self._model.engine = value

    # ---- output ---------------------------------------------------------------------------------
    def write(self, line: str) -> None:
        line = printable(line)
        with self._write_lock:
            self._out.write(line + "\n")
            self._out.flush()

    def info_string(self, text: str) -> None:
        """One ``info string`` line: whitespace collapsed, cut to MAX_INFO_CHARS characters."""
        text = printable(" ".join(text.split()))
        if len(text) > MAX_INFO_CHARS:
            text = f"{text[: MAX_INFO_CHARS - 30]}... (cut, {len(text)} characters)"
        self.write("info string " + text)

    def log(self, text: str) -> None:
        text = printable(text)
        if len(text) > 4 * MAX_INFO_CHARS:
            text = f"{text[: 4 * MAX_INFO_CHARS]}... (cut, {len(text)} characters)"
        print(f"chessformer uci: {text}", file=sys.stderr, flush=True)

    # ---- command dispatch -----------------------------------------------------------------------
    def handle(self, line: str) -> bool:
        """Process one input line; False means quit. Any text is accepted: a line that is not
        a command (bytes that were not UTF-8 included, see chessformer.engine.textio) is reported
        in an ``info string``, never fatal."""
        if len(line) > MAX_LINE:
            self.info_string(f"ignored an input line of {len(line)} characters (limit {MAX_LINE})")
            return True
        tokens = line.strip().split()
        if not tokens:
            return True
        cmd, args = tokens[0], tokens[1:]
        try:
            if cmd == "uci":
                self._uci()
            elif cmd == "debug":
                self.debug = bool(args) and args[0] == "on"
            elif cmd == "isready":
                if not self._search.running:
                    self._ensure_model(report=True)
                self.write("readyok")
            elif cmd == "setoption":
                self._setoption(line)
            elif cmd == "ucinewgame":
                self._wait_search()
                if self.engine is not None:
                    self.engine.reset()
                self.board = None
            elif cmd == "position":
                self._wait_search()
                board = parse_position(args, bool(self.values["uci_chess960"]), self.info_string)
                if board is not None:
                    self.board = board
            elif cmd == "go":
                self._wait_search()
                self._go(parse_go(args, self.info_string))
            elif cmd in ("stop", "ponderhit"):
                self._wait_search()
            elif cmd == "quit":
                self._wait_search()
                return False
            elif cmd in ("register", "uci_newgame"):
                pass
            else:
                self.info_string(f"unknown command {shown(cmd)}")
        except Exception as exc:  # never crash on one command; say what went wrong
            self.info_string(f"error in {shown(cmd)}: {exc}")
            if self.debug:
                import traceback

                traceback.print_exc(file=sys.stderr)
        return True

    def _uci(self) -> None:
        from chessformer import __version__

        self.write(f"id name {ENGINE_NAME} {__version__}")
        self.write(f"id author {ENGINE_AUTHOR}")
        for o in self.options.values():
            self.write(o.declaration())
        self.write("uciok")

    def _setoption(self, line: str) -> None:
        try:
            key = set_option(self.options, self.values, line)
        except ValueError as e:
            self.info_string(str(e))
            return
        if key == "seed" and self.engine is not None:
            self.engine.seed(self.values["seed"])
        if key == "threads":
            import torch

            torch.set_num_threads(int(self.values["threads"]))
        if key == "uci_chess960" and self.board is not None:
            self.board = None  # the next position command rebuilds it in the right mode
        if key in ("modelpath", "device") and self.engine is not None:
            self.engine = None  # reload lazily with the new settings
        # the load itself waits for isready/go; a path that is not there is reported now
        if key == "modelpath" and self.values[key] and path_missing(str(self.values[key])):
            self.info_string(
                f"ERROR: ModelPath {shown(str(self.values[key]))} does not exist; "
                f"go will answer bestmove {NO_MOVE} until a model loads"
            )

    def _ensure_model(self, report: bool = False) -> bool:
        """Load the configured model if it is not loaded yet; on failure return False (with
        ``report`` saying why in an ``info string ERROR:`` line naming the model)."""
        if self._model.ensure(self.values, self.log):
            return True
        if report:
            self.info_string(f"ERROR: {self._model.error}")
        return False

    # ---- go -------------------------------------------------------------------------------------
    def _go(self, params: GoParams) -> None:
        from chessformer.board import Board

        board = self.board.copy() if self.board is not None else Board()
        self._search.start(self._choose, board, params)

    def _wait_search(self) -> None:
        """Let a running search finish (see Search.wait)."""
        self._search.wait()

    def _choose(self, board: Any, params: GoParams) -> tuple[str, str | None]:
        """The move (and ponder move) for ``go``, on the search thread: see search.choose."""
        return choose(self, self._model, self.values, board, params)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="chessformer uci", description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="run folder or nanoGPT .pt (default: the bundled model)")
    args = parser.parse_args(argv)
    utf8_stdout()
    engine = UciEngine(model=args.model)
    try:
        for line in input_lines(sys.stdin.buffer):
            if isinstance(line, LongLine):
                engine.info_string(f"ignored an input line of {line.size} bytes (limit {MAX_LINE})")
            elif not engine.handle(line):
                break
        else:
            engine.handle("quit")  # end of input means quit
    except KeyboardInterrupt:
        engine.handle("quit")
    return 0
