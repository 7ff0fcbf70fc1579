"""Differential tests: chessformer.board.Board against python-chess on >= 10,000 positions.

Seeded random games (see conftest.py for the styles) are replayed on both boards in lockstep; at
every position the legal move set, the SAN of every legal move, FEN, check/mate/stalemate,
insufficient material, repetitions, the 50/75-move rules and the outcome must agree, every SAN
(and UCI string) must parse back to its move, push_san/pop must round-trip, and the legal-move mask
must agree with the legal set through the move vocabulary.

``outcome(claim_draw=True)`` follows python-chess exactly, including claims that a legal move
*would* make possible (halfmove clock 99 plus a non-zeroing move; a move repeating a position for
the third time).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING

import chess
import numpy as np
import pytest

from chessformer.board import Board, Move
from chessformer.moves import legal_move_mask, move_to_id

if TYPE_CHECKING:
    from conftest import GameSpec

# (style, seed, n_games, max_plies): about 11,000 positions in total.
GAME_SETS: list[tuple[str, int, int, int]] = [
    ("uniform", 1, 14, 260),
    ("biased", 2, 16, 160),
    ("chess960", 3, 14, 150),
    ("shuffle", 4, 10, 110),
    ("quiet", 5, 5, 330),
    ("endgame", 6, 70, 40),
]

MAX_REPORTED = 8  # mismatches reported per category


class Mismatches:
    """Collects mismatches per category so that one run reports every kind of bug found."""

    def __init__(self) -> None:
        self.items: dict[str, list[str]] = {}
        self.counts: Counter[str] = Counter()

    def add(self, category: str, detail: str) -> None:
        self.counts[category] += 1
        bucket = self.items.setdefault(category, [])
        if len(bucket) < MAX_REPORTED:
            bucket.append(detail)

    def report(self) -> str:
        lines = []
        for cat, n in self.counts.most_common():
            lines.append(f"{cat}: {n} mismatches")
            lines += [f"    {d}" for d in self.items[cat]]
        return "\n".join(lines)


def _term(outcome: object) -> tuple[str, bool | None] | None:
    if outcome is None:
        return None
    return (outcome.termination.name, outcome.winner)  # type: ignore[attr-defined]


def check_position(ours: Board, theirs: chess.Board, where: str, bad: Mismatches) -> set[int]:
    """Compare one position; returns python-chess's legal moves as vocabulary ids."""
    fen = theirs.fen()
    ctx = f"{where} fen={fen!r}"

    # ---- FEN and state
    if ours.fen() != fen:
        bad.add("fen", f"{ctx} ours={ours.fen()!r}")
    if Board(fen, chess960=theirs.chess960).fen() != fen:
        bad.add("fen round trip", f"{ctx}")
    if ours.board_fen() != theirs.board_fen():
        bad.add("board_fen", ctx)
    if (ours.turn, ours.halfmove_clock, ours.fullmove_number) != (
        theirs.turn,
        theirs.halfmove_clock,
        theirs.fullmove_number,
    ):
        bad.add("turn/clocks", ctx)
    want_ep = theirs.ep_square if theirs.has_legal_en_passant() else None
    if ours.ep_square != want_ep:
        bad.add("ep_square", f"{ctx} ours={ours.ep_square} want={want_ep}")

    # ---- legal moves
    their_moves = {m.uci(): m for m in theirs.legal_moves}
    our_moves = [m.uci() for m in ours.legal_moves]
    if len(our_moves) != len(set(our_moves)):
        bad.add("duplicate legal moves", ctx)
    if set(our_moves) != set(their_moves):
        bad.add(
            "legal moves",
            f"{ctx} missing={sorted(set(their_moves) - set(our_moves))} "
            f"extra={sorted(set(our_moves) - set(their_moves))}",
        )
    if len(ours.legal_moves) != len(their_moves):
        bad.add("len(legal_moves)", ctx)

    before = ours.fen()
    for uci, move in their_moves.items():
        if uci not in our_moves:
            continue
        san = theirs.san(move)
        our_move = Move.from_uci(uci)
        if not ours.is_legal(uci) or our_move not in ours.legal_moves:
            bad.add("is_legal", f"{ctx} move={uci}")
        try:
            our_san = ours.san(uci)
        except ValueError as exc:
            bad.add("san raised", f"{ctx} move={uci} {exc}")
            continue
        if our_san != san:
            bad.add("san", f"{ctx} move={uci} ours={our_san!r} theirs={san!r}")
        for text in (san, uci):
            try:
                parsed = ours.parse_san(text)
            except ValueError as exc:
                bad.add("parse_san raised", f"{ctx} text={text!r} {type(exc).__name__}: {exc}")
                continue
            if parsed != our_move:
                bad.add("parse_san", f"{ctx} text={text!r} -> {parsed.uci()} want {uci}")
        try:
            pushed = ours.push_san(san)
        except ValueError as exc:
            bad.add("push_san raised", f"{ctx} san={san!r} {exc}")
            continue
        if pushed != our_move:
            bad.add("push_san", f"{ctx} san={san!r} -> {pushed.uci()} want {uci}")
        popped = ours.pop()
        if popped != our_move:
            bad.add("pop move", f"{ctx} san={san!r} popped={popped.uci()}")
        if ours.fen() != before:
            bad.add("pop fen", f"{ctx} san={san!r} after pop {ours.fen()!r}")
            break  # the board is no longer trustworthy for this position

    # ---- game-end predicates
    preds: list[tuple[str, Callable[[], bool], Callable[[], bool]]] = [
        ("is_check", ours.is_check, theirs.is_check),
        ("is_checkmate", ours.is_checkmate, theirs.is_checkmate),
        ("is_stalemate", ours.is_stalemate, theirs.is_stalemate),
        (
            "is_insufficient_material",
            ours.is_insufficient_material,
            theirs.is_insufficient_material,
        ),
        (
            "has_insufficient_material(white)",
            lambda: ours.has_insufficient_material(True),
            lambda: theirs.has_insufficient_material(chess.WHITE),
        ),
        (
            "has_insufficient_material(black)",
            lambda: ours.has_insufficient_material(False),
            lambda: theirs.has_insufficient_material(chess.BLACK),
        ),
        ("is_fifty_moves", ours.is_fifty_moves, theirs.is_fifty_moves),
        ("is_seventyfive_moves", ours.is_seventyfive_moves, theirs.is_seventyfive_moves),
        ("is_repetition(2)", lambda: ours.is_repetition(2), lambda: theirs.is_repetition(2)),
        ("is_repetition(3)", lambda: ours.is_repetition(3), lambda: theirs.is_repetition(3)),
        ("is_fivefold_repetition", ours.is_fivefold_repetition, theirs.is_fivefold_repetition),
    ]
    for name, ours_fn, theirs_fn in preds:
        if ours_fn() != theirs_fn():
            bad.add(name, f"{ctx} ours={ours_fn()} moves={len(theirs.move_stack)}")

    auto = _term(theirs.outcome())
    if _term(ours.outcome()) != auto:
        bad.add("outcome()", f"{ctx} ours={_term(ours.outcome())} theirs={auto}")
    if ours.is_game_over() != (auto is not None):
        bad.add("is_game_over()", ctx)
    if ours.result() != theirs.result():
        bad.add("result()", f"{ctx} ours={ours.result()} theirs={theirs.result()}")
    claim = _term(ours.outcome(claim_draw=True))
    their_claim = _term(theirs.outcome(claim_draw=True))
    if claim != their_claim:
        bad.add("outcome(claim_draw=True)", f"{ctx} ours={claim} theirs={their_claim}")

    return {move_to_id(u) for u in their_moves}


def replay(game: GameSpec, bad: Mismatches) -> int:
    """Replay one game in lockstep on both boards; returns the number of positions compared."""
    theirs = game.chess_board()
    ours = Board(game.start_fen, chess960=game.chess960)
    snapshots: list[Board] = []
    expected_ids: list[set[int]] = []
    fens = [theirs.fen()]
    where = f"[{game.style} game start={game.start_fen!r}]"
    for ply in range(len(game.moves) + 1):
        expected_ids.append(check_position(ours, theirs, f"{where} ply {ply}", bad))
        snapshots.append(ours.copy())
        if ply == len(game.moves):
            break
        uci = game.moves[ply]
        ours.push(uci)
        theirs.push_uci(uci)
        fens.append(theirs.fen())

    # The batch mask agrees with the legal move sets (through move_to_id).
    mask = legal_move_mask(snapshots)
    assert mask.shape == (len(snapshots), 1968)
    for i, ids in enumerate(expected_ids):
        got = set(np.flatnonzero(mask[i]).tolist())
        if got != ids:
            bad.add("legal_move_mask", f"{where} ply {i} extra={got - ids} missing={ids - got}")

    # History: move_stack, to_chess / from_chess, then pop() back to the start.
    if [m.uci() for m in ours.move_stack] != list(game.moves):
        bad.add("move_stack", where)
    back = ours.to_chess()
    if back.fen() != theirs.fen() or [m.uci() for m in back.move_stack] != list(game.moves):
        bad.add("to_chess", where)
    if Board.from_chess(theirs).move_stack != ours.move_stack:
        bad.add("from_chess", where)
    for ply in range(len(game.moves), 0, -1):
        assert ours.ply == ply
        popped = ours.pop()
        if popped.uci() != game.moves[ply - 1] or ours.fen() != fens[ply - 1]:
            bad.add("pop chain", f"{where} ply {ply}: {popped.uci()} {ours.fen()!r}")
            break
    with pytest.raises(IndexError):
        ours.pop()
    return len(snapshots)


_positions_checked: Counter[str] = Counter()


@pytest.mark.parametrize(("style", "seed", "n_games", "max_plies"), GAME_SETS)
def test_against_python_chess(
    make_games: Callable[[int, str, int, int], tuple[GameSpec, ...]],
    style: str,
    seed: int,
    n_games: int,
    max_plies: int,
) -> None:
    games = make_games(seed, style, n_games, max_plies)
    bad = Mismatches()
    t0 = time.perf_counter()
    for game in games:
        _positions_checked[style] += replay(game, bad)
    elapsed = time.perf_counter() - t0
    assert not bad.counts, (
        f"{style}: {_positions_checked[style]} positions in {elapsed:.1f}s\n{bad.report()}"
    )


def test_coverage_of_the_generated_games(
    make_games: Callable[[int, str, int, int], tuple[GameSpec, ...]],
) -> None:
    """The generated games exercise what they are meant to (a check on the generator itself)."""
    seen: Counter[str] = Counter()
    total = 0
    for style, seed, n_games, max_plies in GAME_SETS:
        for game in make_games(seed, style, n_games, max_plies):
            board = game.chess_board()
            total += 1 + len(game.moves)
            for uci in game.moves:
                move = chess.Move.from_uci(uci)
                seen["castling"] += board.is_castling(move)
                seen["en passant"] += board.is_en_passant(move)
                seen["promotion"] += move.promotion is not None
                seen["underpromotion"] += move.promotion not in (None, chess.QUEEN)
                seen["chess960 castling"] += board.chess960 and board.is_castling(move)
                board.push(move)
                seen["check"] += board.is_check()
                seen["checkmate"] += board.is_checkmate()
                seen["stalemate"] += board.is_stalemate()
                seen["insufficient"] += board.is_insufficient_material()
                seen["threefold"] += board.is_repetition(3)
                seen["fivefold"] += board.is_fivefold_repetition()
                seen["fifty"] += board.halfmove_clock >= 100
                seen["seventyfive"] += board.halfmove_clock >= 150
    assert total >= 10_000, total
    for what in (
        "castling",
        "en passant",
        "promotion",
        "underpromotion",
        "check",
        "checkmate",
        "stalemate",
        "insufficient",
        "threefold",
        "fivefold",
        "fifty",
        "seventyfive",
        "chess960 castling",
    ):
        assert seen[what] >= 3, (what, dict(seen))
