"""The text of the UCI protocol, apart from the engine's state: option declarations and values,
``setoption``, ``position`` and ``go`` parsing, and the ``info`` lines and scores a search
reports."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chessformer.engine.textio import os_path, shown

NO_MOVE = "0000"  # the UCI null move: the answer to go when the engine cannot compute a move


@dataclass
class Option:
    name: str
    kind: str  # spin, check, combo, string, button
    default: Any
    min: int | None = None
    max: int | None = None
    choices: tuple[str, ...] = ()
    help: str = ""
    number: tuple[float, float] | None = None  # a string option that must be a number in range
    path: bool = False  # a string option naming a file (its bytes kept, see textio.os_path)

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

    def parse(self, value: str) -> Any:
        """The option's value from the text of a ``setoption``; ValueError says what is wrong
        (quoting the text cut, see textio.shown)."""
        if self.kind == "spin":
            try:
                v = int(value)
            except ValueError:
                why = f"option {self.name} needs an integer, got {shown(value)}"
                raise ValueError(why) from None
            if not (self.min is not None and self.max is not None and self.min <= v <= self.max):
                raise ValueError(f"option {self.name} value {v} outside {self.min}..{self.max}")
            return v
        if self.kind == "check":
            if value.lower() not in ("true", "false"):
                raise ValueError(f"option {self.name} needs true or false, got {shown(value)}")
            return value.lower() == "true"
        if self.kind == "combo":
            match = [c for c in self.choices if c.lower() == value.lower()]
            if not match:
                raise ValueError(f"option {self.name} must be one of {', '.join(self.choices)}")
            return match[0]
        if self.number is not None:
            lo, hi = self.number
            try:
                t = float(value)
            except ValueError:
                raise ValueError(f"option {self.name} needs a number, got {shown(value)}") from None
            if not (math.isfinite(t) and lo <= t <= hi):
                raise ValueError(f"option {self.name} value {shown(value)} outside {lo:g}..{hi:g}")
            return t
        if value == "<empty>":
            return ""
        return os_path(value) if self.path else value


def parse_setoption(line: str) -> tuple[str, str]:
    """(name, value) of ``setoption name <id> [value <x>]``; names and values may hold spaces."""
    rest = line.strip()[len("setoption") :].strip()
    if not rest.startswith("name "):
        raise ValueError("setoption needs 'name <id> [value <x>]'")
    rest = rest[5:]
    name, sep, value = rest.partition(" value ")
    if not sep and rest.endswith(" value"):
        name, value = rest[: -len(" value")], ""
    return name.strip(), value.strip()


def parse_position(args: list[str], chess960: bool, warn: Callable[[str], None]) -> Any:
    """The chessformer.Board of ``position startpos|fen <FEN> [moves <m1> ...]`` (``args``: the
    words after ``position``), or None, said through ``warn``, when they name no position. The
    moves end at an illegal one (said): the board is the position before it."""
    from chessformer.board import STARTING_FEN, Board

    if not args or args[0] == "moves":
        warn("position needs 'startpos' or 'fen <FEN>'")
        return None
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
        warn(f"position: expected 'startpos' or 'fen <FEN>', got {shown(got)}")
        return None
    try:
        board = Board(fen, chess960=chess960)
    except ValueError as exc:
        warn(f"position: {exc}; position unchanged")
        return None
    for i, uci in enumerate(moves):
        try:
            board.push_uci(uci)
        except ValueError:
            warn(
                f"position: move {i + 1} {shown(uci)} is illegal in {board.fen()}; "
                f"kept the position before it"
            )
            break
    return board


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


def info_line(k: int, score: str, elapsed_ms: int, move: str) -> str:
    """One line of analysis: the model looks one ply ahead (depth 1, one node: a forward pass)."""
    score = f" {score}" if score else ""
    return f"info depth 1 seldepth 1 multipv {k}{score} nodes 1 time {elapsed_ms} pv {move}"


def mate_score(board: Any, move: str) -> str:
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


def rank_lines(
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
