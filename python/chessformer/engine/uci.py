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
echo of it is cut and escaped. The protocol's text (options, parsing, info lines, scores) lives in
chessformer.engine.protocol. GUI recipes (xboard via polyglot, Cute Chess, lichess-bot) and what
``score`` means: docs/uci.md.
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

from chessformer.engine.protocol import (
    GoParams,
    Option,
    info_line,
    mate_score,
    parse_go,
    parse_setoption,
    rank_lines,
    wdl_score,
)
from chessformer.engine.textio import (
    MAX_LINE,
    LongLine,
    input_lines,
    printable,
    shown,
    utf8_stdout,
)

ENGINE_NAME = "chessformer"
ENGINE_AUTHOR = "the chessformer authors"
MAX_MULTIPV = 20
MAX_INFO_CHARS = 400  # an info string longer than this is cut (it never echoes a whole input)
NO_MOVE = "0000"  # the UCI null move: the answer to go when the engine cannot compute a move


class NoModelError(RuntimeError):
    """The configured model cannot be loaded (the message says which and why)."""


class UciEngine:
    """The protocol state machine. ``handle(line)`` processes one command; output goes through
    ``write`` (thread-safe), so tests can drive it without a subprocess."""

    def __init__(self, model: str | None = None, out: IO[str] | None = None) -> None:
        self._out = out or sys.stdout
        self._write_lock = threading.Lock()
        self.debug = False
        ncpu = os.cpu_count() or 1
        self.options: dict[str, Option] = {
            o.name.lower(): o
            for o in [
                Option(
                    "ModelPath",
                    "string",
                    model or "",
                    help="run folder or nanoGPT .pt; empty: the bundled default model",
                    path=True,
                ),
                Option(
                    "Temperature",
                    "string",
                    "0.001",
                    help="sampling temperature, 0 = argmax",
                    number=(0, 100),
                ),
                Option("Seed", "spin", 0, 0, 2**31 - 1),
                Option("Device", "combo", "auto", choices=("auto", "cpu", "cuda")),
                Option("Threads", "spin", 1, 1, max(1, ncpu)),
                Option("MultiPV", "spin", 1, 1, MAX_MULTIPV),
                Option("Decoding", "combo", "masked", choices=("masked", "paper")),
                Option("UCI_LimitStrength", "check", False),
                Option("UCI_Elo", "spin", 1500, 100, 3000),
                Option("UCI_Chess960", "check", False),
                Option("Ponder", "check", False),
                Option("UCI_ShowWDL", "check", False),
            ]
        }
        self.values: dict[str, Any] = {k: o.default for k, o in self.options.items()}
        self.board: Any = None  # chessformer.Board, created lazily (imports the C++ core)
        self.engine: Any = None  # chessformer.inference.InferenceEngine, loaded lazily
        self._loaded_key: tuple[str, str] | None = None
        self._load_error: str | None = None  # why the last load failed
        self._search: threading.Thread | None = None
        self._stop = threading.Event()
        self._release = threading.Event()  # ends infinite/ponder waits
        self._searching = False
        self._calibration: list[tuple[float, float]] | None = None

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
                if not self._searching:
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
                self._position(args)
            elif cmd == "go":
                self._wait_search()
                self._go(parse_go(args, self.info_string))
            elif cmd == "stop":
                self._stop.set()
                self._release.set()
                self._wait_search()
            elif cmd == "ponderhit":
                self._release.set()
                self._wait_search()
            elif cmd == "quit":
                self._stop.set()
                self._release.set()
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
            name, value = parse_setoption(line)
            opt = self.options.get(name.lower())
            if opt is None:
                raise ValueError(f"unknown option {shown(name)}")
            key = opt.name.lower()
            self.values[key] = opt.parse(value)
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
        if key == "modelpath" and self.values[key]:
            # the load itself waits for isready/go; a path that is not there is reported now
            try:
                missing = not Path(str(self.values[key])).expanduser().exists()
            except (OSError, ValueError):  # a name too long, a NUL byte
                missing = True
            if missing:
                self.info_string(
                    f"ERROR: ModelPath {shown(str(self.values[key]))} does not exist; "
                    f"go will answer bestmove {NO_MOVE} until a model loads"
                )

    # ---- model ----------------------------------------------------------------------------------
    def _ensure_model(self, report: bool = False) -> bool:
        """Load the configured model if it is not loaded yet; on failure remember why (and with
        ``report`` say so in an ``info string ERROR:`` line naming the model) and return False."""
        path = str(self.values["modelpath"])
        key = (path, str(self.values["device"]))
        if self.engine is not None and self._loaded_key == key:
            return True
        try:
            import torch

            from chessformer.engine.bundled import resolve_model
            from chessformer.inference import InferenceEngine

            device = self.values["device"]
            if device == "auto":
                device = "cuda" if torch.cuda.is_available() else "cpu"
            torch.set_num_threads(int(self.values["threads"]))
            resolved = resolve_model(path or None)
            start = time.perf_counter()
            self.engine = InferenceEngine.from_checkpoint(
                resolved, max_batch=2, device=device, seed=int(self.values["seed"])
            )
            self._loaded_key = key
            self._load_error = None
            self._calibration = _load_calibration(resolved)
            self.log(f"loaded {resolved} on {device} in {time.perf_counter() - start:.2f} s")
            return True
        except Exception as exc:
            self.engine = None
            self._loaded_key = None
            named = shown(path) if path else "(the bundled default)"
            reason = str(exc) or type(exc).__name__
            self._load_error = f"cannot load model {named}: {reason}"
            self.log(self._load_error)
            if report:
                self.info_string(f"ERROR: {self._load_error}")
            return False

    # ---- position -------------------------------------------------------------------------------
    def _position(self, args: list[str]) -> None:
        from chessformer.board import STARTING_FEN, Board

        chess960 = bool(self.values["uci_chess960"])
        if not args:
            self.info_string("position needs 'startpos' or 'fen <FEN>'")
            return
        if "moves" in args:
            k = args.index("moves")
            head, moves = args[:k], args[k + 1 :]
        else:
            head, moves = args, []
        if head[0] == "startpos":
            fen = STARTING_FEN
        elif head[0] == "fen" and len(head) > 1:
            fen = " ".join(head[1:])
        else:
            got = " ".join(head)
            self.info_string(f"position: expected 'startpos' or 'fen <FEN>', got {shown(got)}")
            return
        try:
            board = Board(fen, chess960=chess960)
        except ValueError as exc:
            self.info_string(f"position: {exc}; position unchanged")
            return
        for i, uci in enumerate(moves):
            try:
                board.push_uci(uci)
            except ValueError:
                self.info_string(
                    f"position: move {i + 1} {shown(uci)} is illegal in {board.fen()}; "
                    f"kept the position before it"
                )
                break
        self.board = board

    # ---- go -------------------------------------------------------------------------------------
    def _root_score(self, eng: Any, board: Any) -> str:
        """The position's score when the model has a value estimate: an inference engine with
        ``value_estimate(board)`` returning (win, draw, loss) probabilities for the side to move,
        or None. A model without one gets no score: it has no evaluation to report (docs/uci.md)."""
        estimate = getattr(eng, "value_estimate", None)
        if not callable(estimate):
            return ""
        wdl = estimate(board)
        if wdl is None:
            return ""
        win, draw, loss = wdl
        return wdl_score(win, draw, loss, bool(self.values["uci_showwdl"]))

    def _temperature(self) -> float:
        if self.values["uci_limitstrength"]:
            if self._calibration:
                return _temperature_for_elo(self._calibration, float(self.values["uci_elo"]))
            self.info_string(
                "UCI_LimitStrength: no Elo calibration for this model; using Temperature"
            )
        return float(self.values["temperature"])

    def _go(self, params: GoParams) -> None:
        from chessformer.board import Board

        board = self.board.copy() if self.board is not None else Board()
        self._stop.clear()
        self._release.clear()
        self._searching = True
        self._search = threading.Thread(target=self._think, args=(board, params), daemon=True)
        self._search.start()

    def _wait_search(self) -> None:
        """Let a running search finish. A command that changes the position or starts a new
        search while an infinite/ponder search waits ends that wait (one bestmove per go)."""
        if self._search is not None:
            self._release.set()
            self._search.join()
            self._search = None

    def _think(self, board: Any, params: GoParams) -> None:
        # A move the model did not choose is never played: without a usable model (or after any
        # other failure) the answer is the null move, which GUIs show as an engine failure,
        # instead of a legal-looking move that hides the problem in an info string.
        best, ponder = NO_MOVE, None
        try:
            best, ponder = self._choose(board, params)
        except NoModelError as exc:
            self.info_string(f"ERROR: {exc}; answering bestmove {NO_MOVE} (no move)")
        except Exception as exc:
            self.info_string(f"ERROR while thinking: {exc}; answering bestmove {NO_MOVE} (no move)")
            if self.debug:
                import traceback

                traceback.print_exc(file=sys.stderr)
        finally:
            if params.infinite or params.ponder:
                # the protocol forbids bestmove before stop/ponderhit
                self._release.wait()
            self._searching = False
            self.write(f"bestmove {best}" + (f" ponder {ponder}" if ponder else ""))

    def _choose(self, board: Any, params: GoParams) -> tuple[str, str | None]:
        start = time.perf_counter()
        legal = [m.uci() for m in board.legal_moves]
        if not legal:
            outcome = board.outcome()
            why = outcome.termination.name.lower() if outcome else "no legal moves"
            self.info_string(f"game over ({why}): no move to play")
            mate = board.is_checkmate()
            self.write("info depth 0 score mate 0" if mate else "info depth 0 score cp 0")
            return "(none)", None
        searchmoves = [m for m in params.searchmoves if m in legal]
        if params.searchmoves and not searchmoves:
            self.info_string("searchmoves: none of the given moves is legal; searching all")
        if not self._ensure_model(report=False):
            raise NoModelError(self._load_error or "no model loaded")
        eng = self.engine
        temperature = self._temperature()
        multipv = int(self.values["multipv"])
        decoding = str(self.values["decoding"])
        if decoding == "paper" and eng.tokenizer.name != "char":
            self.info_string("Decoding paper needs a char-tokenizer model; decoding masked")
            decoding = "masked"
        choice = eng.choose_moves(
            [board],
            slots=[0],
            temperature=temperature,
            decoding=decoding,
            searchmoves=[searchmoves or None],
        )[0]
        if choice.move is None:
            # paper decoding failed five times: the paper's harness forfeits; a GUI needs a move
            self.info_string("paper decoding produced no legal move in 5 attempts")
            return "(none)", None
        best = choice.move.uci()
        elapsed_ms = max(1, int((time.perf_counter() - start) * 1000))
        root = self._root_score(eng, board)
        # Adapters such as polyglot show every info string as a line of analysis: in play
        # (MultiPV 1) the probability is told only under `debug on`, and before the move line,
        # so that the analysis a GUI keeps is the move, never the text.
        if multipv > 1:
            ranked = rank_lines(
                eng.move_probabilities(board, slot=1, temperature=1.0),
                searchmoves,
                best,
            )[:multipv]
            top = ", ".join(f"{u} {p:.3f}" for u, p in ranked)
            self.info_string(
                f"move probabilities: {top}; played {best} (temperature {temperature:g})"
            )
            for k, (uci, _p) in enumerate(ranked, start=1):
                score = mate_score(board, uci) or (root if k == 1 else "")
                self.write(info_line(k, score, elapsed_ms, uci))
        else:
            if self.debug:
                self.info_string(
                    f"move {best} p={choice.probability:.4f} temperature {temperature:g}"
                )
            self.write(info_line(1, mate_score(board, best) or root, elapsed_ms, best))
        ponder = None
        if self.values["ponder"]:
            after = board.copy()
            after.push(best)
            if any(True for _ in after.legal_moves):
                reply = eng.choose_moves([after], slots=[1], temperature=0.0)[0]
                ponder = reply.move.uci() if reply.move else None
        return best, ponder


def _load_calibration(model_path: Path) -> list[tuple[float, float]] | None:
    """(elo, temperature) pairs measured with `chessformer match` for this model, if shipped
    beside it as elo_calibration.json (see docs/uci.md). Made monotone: as the temperature
    rises the Elo used never rises (a running minimum), so lower targets mean hotter sampling."""
    import json

    path = model_path / "elo_calibration.json"
    if not path.is_file():
        return None
    rows = sorted(json.loads(path.read_text())["points"], key=lambda r: float(r["temperature"]))
    out: list[tuple[float, float]] = []
    best = math.inf
    for r in rows:
        best = min(best, float(r["elo"]))
        if not out or best < out[-1][0]:
            out.append((best, float(r["temperature"])))
    return sorted(out)


def _temperature_for_elo(points: list[tuple[float, float]], elo: float) -> float:
    """Interpolate the temperature that played at ``elo`` (piecewise linear in Elo)."""
    if elo <= points[0][0]:
        return points[0][1]
    if elo >= points[-1][0]:
        return points[-1][1]
    for (e0, t0), (e1, t1) in itertools.pairwise(points):
        if e0 <= elo <= e1:
            return t0 + (t1 - t0) * (elo - e0) / (e1 - e0 or 1)
    return points[-1][1]


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
