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

GUI recipes (xboard via polyglot, Cute Chess, lichess-bot): see docs/uci.md.
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from chessformer.engine.textio import (
    MAX_LINE,
    LongLine,
    input_lines,
    os_path,
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


@dataclass
class Option:
    name: str
    kind: str  # spin, check, combo, string, button
    default: Any
    min: int | None = None
    max: int | None = None
    choices: tuple[str, ...] = ()
    help: str = ""

    def declaration(self) -> str:
        line = f"option name {self.name} type {self.kind}"
        if self.kind == "check":
            line += f" default {'true' if self.default else 'false'}"
        elif self.kind != "button":
            line += f" default {self.default if self.default != '' else '<empty>'}"
        if self.kind == "spin":
            line += f" min {self.min} max {self.max}"
        for c in self.choices:
            line += f" var {c}"
        return line


@dataclass
class GoParams:
    wtime: int | None = None
    btime: int | None = None
    winc: int = 0
    binc: int = 0
    movestogo: int | None = None
    depth: int | None = None
    nodes: int | None = None
    movetime: int | None = None
    mate: int | None = None
    infinite: bool = False
    ponder: bool = False
    searchmoves: list[str] = field(default_factory=list)


_INT_PARAMS = ("wtime", "btime", "winc", "binc", "movestogo", "depth", "nodes", "movetime", "mate")


def parse_go(tokens: list[str], warn: Callable[[str], None]) -> GoParams:
    """Parse ``go`` arguments; bad values are reported and ignored, never fatal."""
    p = GoParams()
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok in _INT_PARAMS:
            if i + 1 < len(tokens):
                try:
                    setattr(p, tok, int(tokens[i + 1]))
                except ValueError:
                    warn(f"go: {tok} needs an integer, got {shown(tokens[i + 1])}; ignored")
                i += 2
            else:
                warn(f"go: {tok} without a value; ignored")
                i += 1
        elif tok == "infinite":
            p.infinite = True
            i += 1
        elif tok == "ponder":
            p.ponder = True
            i += 1
        elif tok == "searchmoves":
            i += 1
            while i < len(tokens) and tokens[i] not in (*_INT_PARAMS, "infinite", "ponder"):
                p.searchmoves.append(tokens[i])
                i += 1
        else:
            warn(f"go: unknown parameter {shown(tok)}; ignored")
            i += 1
    return p


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
                ),
                Option("Temperature", "string", "0.001", help="sampling temperature, 0 = argmax"),
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
        # "setoption name <id> [value <x>]": names and values may contain spaces
        rest = line.strip()[len("setoption") :].strip()
        if not rest.startswith("name "):
            self.info_string("setoption needs 'name <id> [value <x>]'")
            return
        rest = rest[5:]
        name, sep, value = rest.partition(" value ")
        if not sep and rest.endswith(" value"):
            name, value = rest[: -len(" value")], ""
        name, value = name.strip(), value.strip()
        opt = self.options.get(name.lower())
        if opt is None:
            self.info_string(f"unknown option {shown(name)}")
            return
        key = opt.name.lower()
        if opt.kind == "spin":
            try:
                v = int(value)
            except ValueError:
                self.info_string(f"option {opt.name} needs an integer, got {shown(value)}")
                return
            if not (opt.min is not None and opt.max is not None and opt.min <= v <= opt.max):
                self.info_string(f"option {opt.name} value {v} outside {opt.min}..{opt.max}")
                return
            self.values[key] = v
        elif opt.kind == "check":
            if value.lower() not in ("true", "false"):
                self.info_string(f"option {opt.name} needs true or false, got {shown(value)}")
                return
            self.values[key] = value.lower() == "true"
        elif opt.kind == "combo":
            match = [c for c in opt.choices if c.lower() == value.lower()]
            if not match:
                self.info_string(f"option {opt.name} must be one of {', '.join(opt.choices)}")
                return
            self.values[key] = match[0]
        elif key == "temperature":
            try:
                t = float(value)
            except ValueError:
                self.info_string(f"option Temperature needs a number, got {shown(value)}")
                return
            if not (math.isfinite(t) and 0 <= t <= 100):
                self.info_string(f"option Temperature value {shown(value)} outside 0..100")
                return
            self.values[key] = t
        elif key == "modelpath":
            self.values[key] = "" if value == "<empty>" else os_path(value)
        else:
            self.values[key] = "" if value == "<empty>" else value
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
        choice = eng.choose_moves(
            [board], slots=[0], temperature=temperature,
            decoding=str(self.values["decoding"]), searchmoves=[searchmoves or None],
        )[0]  # fmt: skip
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
            ranked = _rank_lines(
                eng.move_probabilities(board, slot=1, temperature=1.0),
                searchmoves,
                best,
            )[:multipv]
            top = ", ".join(f"{u} {p:.3f}" for u, p in ranked)
            self.info_string(
                f"move probabilities: {top}; played {best} (temperature {temperature:g})"
            )
            for k, (uci, _p) in enumerate(ranked, start=1):
                score = _mate_score(board, uci) or (root if k == 1 else "")
                self.write(_info_line(k, score, elapsed_ms, uci))
        else:
            if self.debug:
                self.info_string(
                    f"move {best} p={choice.probability:.4f} temperature {temperature:g}"
                )
            self.write(_info_line(1, _mate_score(board, best) or root, elapsed_ms, best))
        ponder = None
        if self.values["ponder"]:
            after = board.copy()
            after.push(best)
            if any(True for _ in after.legal_moves):
                reply = eng.choose_moves([after], slots=[1], temperature=0.0)[0]
                ponder = reply.move.uci() if reply.move else None
        return best, ponder


def _info_line(k: int, score: str, elapsed_ms: int, move: str) -> str:
    """One line of analysis: the model looks one ply ahead (depth 1, one node: a forward pass)."""
    score = f" {score}" if score else ""
    return f"info depth 1 seldepth 1 multipv {k}{score} nodes 1 time {elapsed_ms} pv {move}"


def _mate_score(board: Any, move: str) -> str:
    """``score mate 1`` when ``move`` checkmates (a fact of the rules, whatever the model)."""
    after = board.copy()
    after.push(move)
    return "score mate 1" if after.is_checkmate() else ""


CP_PER_LOGIT = 1 / 0.00368208  # Lichess's centipawn <-> expected score logistic (its win% model)
MAX_CP = 2000


def wdl_score(win: float, draw: float, loss: float, show_wdl: bool) -> str:
    """``score cp X [wdl W D L]`` from win/draw/loss probabilities for the side to move: the
    expected score W + D/2 mapped to centipawns through Lichess's logistic (cp 0 = 50%, cp 100
    ~ 59%), clamped to +-MAX_CP; ``wdl`` in permille, summing to 1000."""
    total = win + draw + loss
    if not (total > 0 and min(win, draw, loss) >= 0 and math.isfinite(total)):
        raise ValueError(f"not win/draw/loss probabilities: {win}, {draw}, {loss}")
    win, draw, loss = win / total, draw / total, loss / total
    expected = min(max(win + draw / 2, 1e-6), 1 - 1e-6)
    cp = max(-MAX_CP, min(MAX_CP, round(CP_PER_LOGIT * math.log(expected / (1 - expected)))))
    score = f"score cp {cp}"
    if show_wdl:
        w, lo = round(1000 * win), round(1000 * loss)
        score += f" wdl {w} {1000 - w - lo} {lo}"
    return score


def _rank_lines(
    probs: dict[str, float], searchmoves: list[str], played: str
) -> list[tuple[str, float]]:
    """MultiPV lines: the legal moves (only ``searchmoves`` if given) by decreasing untempered
    probability. The ``played`` move leads when it ties with the top probability (an exact tie,
    or float noise between two forward passes), so that under greedy sampling (temperature 0 or
    near it) bestmove and the first line always agree."""
    lines = [(u, p) for u, p in probs.items() if not searchmoves or u in searchmoves]
    lines.sort(key=lambda kv: -kv[1])
    if lines and lines[0][0] != played:
        top = lines[0][1]
        for i, (u, p) in enumerate(lines):
            if u == played and p >= top - 1e-6:
                lines.insert(0, lines.pop(i))
                break
    return lines


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
