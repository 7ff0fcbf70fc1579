"""What `chessformer uci` tells the GUI about the move it chose: the ``info`` lines (depth 1, one
node: a forward pass), their scores (a mate on the board, else the model's value estimate) and,
under MultiPV, the legal moves ranked by the model's own probabilities. The text of each line is
chessformer.engine.protocol's; what ``score`` means: docs/uci.md."""

from __future__ import annotations

from typing import Any, Protocol

from chessformer.engine.protocol import info_line, mate_score, rank_lines, wdl_score

__all__ = ["Output", "report_choice", "report_game_over", "root_score"]


class Output(Protocol):
    """Where the engine's lines go (chessformer.engine.uci.UciEngine is one)."""

    debug: bool

    def write(self, line: str) -> None: ...

    def info_string(self, text: str) -> None: ...

    def log(self, text: str) -> None: ...


def root_score(eng: Any, board: Any, show_wdl: bool) -> str:
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
    return wdl_score(win, draw, loss, show_wdl)


def report_game_over(out: Output, board: Any) -> None:
    """The lines for a position without a legal move: why, and its score (mate or draw)."""
    outcome = board.outcome()
    why = outcome.termination.name.lower() if outcome else "no legal moves"
    out.info_string(f"game over ({why}): no move to play")
    mate = board.is_checkmate()
    out.write("info depth 0 score mate 0" if mate else "info depth 0 score cp 0")


def report_choice(
    out: Output,
    eng: Any,
    board: Any,
    best: str,
    probability: float,
    *,
    searchmoves: list[str],
    temperature: float,
    multipv: int,
    show_wdl: bool,
    elapsed_ms: int,
) -> None:
    """The lines for ``best``, the move the model played with ``probability`` (``multipv``
    lines under MultiPV; the probability itself is told only under ``debug``)."""
    root = root_score(eng, board, show_wdl)
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
        out.info_string(f"move probabilities: {top}; played {best} (temperature {temperature:g})")
        for k, (uci, _p) in enumerate(ranked, start=1):
            score = mate_score(board, uci) or (root if k == 1 else "")
            out.write(info_line(k, score, elapsed_ms, uci))
    else:
        if out.debug:
            out.info_string(f"move {best} p={probability:.4f} temperature {temperature:g}")
        out.write(info_line(1, mate_score(board, best) or root, elapsed_ms, best))
