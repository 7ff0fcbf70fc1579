"""One ``go`` of `chessformer uci`: the thread it runs on, the protocol's rules for its
``bestmove``, and the move itself.

There is no search tree: the move is one batched forward pass through the transformer and a
(legal-move masked) sample at the configured temperature, so ``depth``/``nodes``/``movetime`` and
the clocks only bound a computation that is already short, and ``stop`` cannot cut it shorter.
Under ``infinite`` and ``ponder`` the bestmove waits for ``stop``/``ponderhit``, as the protocol
requires.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from chessformer.engine.lazy_model import LazyModel
from chessformer.engine.protocol import NO_MOVE, GoParams
from chessformer.engine.report import Output, report_choice, report_game_over

__all__ = ["NoModelError", "Search", "choose"]

Choose = Callable[[Any, GoParams], tuple[str, str | None]]


class NoModelError(RuntimeError):
    """The configured model cannot be loaded (the message says which and why)."""


class Search:
    """The ``go`` in progress, at most one, on its own thread, so that ``isready``, ``stop`` and
    ``ponderhit`` are answered while it runs. Each go gets exactly one ``bestmove``: the move
    ``choose`` returns, or the null move when it fails."""

    def __init__(self, out: Output) -> None:
        self._out = out
        self._thread: threading.Thread | None = None
        self._release = threading.Event()  # ends infinite/ponder waits
        self.running = False  # from go until its bestmove is written

    def start(self, choose: Choose, board: Any, params: GoParams) -> None:
        self._release.clear()
        self.running = True
        self._thread = threading.Thread(target=self._run, args=(choose, board, params), daemon=True)
        self._thread.start()

    def wait(self) -> None:
        """Let a running search finish and write its bestmove. This ends an infinite/ponder wait:
        ``stop``, ``ponderhit``, and a command that changes the position or starts a new search
        (one bestmove per go)."""
        self._release.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _run(self, choose: Choose, board: Any, params: GoParams) -> None:
        # A move the model did not choose is never played: without a usable model (or after any
        # other failure) the answer is the null move, which GUIs show as an engine failure,
        # instead of a legal-looking move that hides the problem in an info string.
        out = self._out
        best, ponder = NO_MOVE, None
        try:
            best, ponder = choose(board, params)
        except NoModelError as exc:
            out.info_string(f"ERROR: {exc}; answering bestmove {NO_MOVE} (no move)")
        except Exception as exc:
            out.info_string(f"ERROR while thinking: {exc}; answering bestmove {NO_MOVE} (no move)")
            if out.debug:
                import traceback

                traceback.print_exc(file=sys.stderr)
        finally:
            if params.infinite or params.ponder:
                # the protocol forbids bestmove before stop/ponderhit
                self._release.wait()
            self.running = False
            out.write(f"bestmove {best}" + (f" ponder {ponder}" if ponder else ""))


def choose(
    out: Output, model: LazyModel, values: dict[str, Any], board: Any, params: GoParams
) -> tuple[str, str | None]:
    """The move to answer ``go`` with in ``board`` under the options ``values`` (UCI, or
    ``(none)`` when there is none to play), and with Ponder on the reply to ponder on; the info
    lines are written on the way. NoModelError when the model cannot be loaded."""
    start = time.perf_counter()
    legal = [m.uci() for m in board.legal_moves]
    if not legal:
        report_game_over(out, board)
        return "(none)", None
    searchmoves = [m for m in params.searchmoves if m in legal]
    if params.searchmoves and not searchmoves:
        out.info_string("searchmoves: none of the given moves is legal; searching all")
    if not model.ensure(values, out.log):
        raise NoModelError(model.error or "no model loaded")
    eng = model.engine
    temperature = model.temperature(values, out.info_string)
    multipv = int(values["multipv"])
    decoding = str(values["decoding"])
    if decoding == "paper" and eng.tokenizer.name != "char":
        out.info_string("Decoding paper needs a char-tokenizer model; decoding masked")
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
        out.info_string("paper decoding produced no legal move in 5 attempts")
        return "(none)", None
    best = choice.move.uci()
    report_choice(
        out,
        eng,
        board,
        best,
        choice.probability,
        searchmoves=searchmoves,
        temperature=temperature,
        multipv=multipv,
        show_wdl=bool(values["uci_showwdl"]),
        elapsed_ms=max(1, int((time.perf_counter() - start) * 1000)),
    )
    ponder = None
    if values["ponder"]:
        after = board.copy()
        after.push(best)
        if any(True for _ in after.legal_moves):
            reply = eng.choose_moves([after], slots=[1], temperature=0.0)[0]
            ponder = reply.move.uci() if reply.move else None
    return best, ponder
