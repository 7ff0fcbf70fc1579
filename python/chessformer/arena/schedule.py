"""Which games a match plays, in what order, from which openings.

:func:`schedule` lists every game of a configuration (its temperature, level, colour, seed and
opening); :func:`load_openings` reads an EPD or PGN opening book.
"""

from __future__ import annotations

import hashlib
import os
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from chessformer.arena.config import MatchConfig, MatchConfigError

__all__ = ["GameSpec", "Opening", "game_seed", "load_openings", "random_opening", "schedule"]

STARTING_FEN = "rnbqkbnr/pppppppp/8/8/8/8/PPPPPPPP/RNBQKBNR w KQkq - 0 1"


def game_seed(seed: int, temperature: float, level: int, round_: int) -> int:
    """Game i's sampling seed: a stable hash (not Python's salted ``hash``) of its identity."""
    text = f"{seed}:{temperature!r}:{level}:{round_}".encode()
    return int.from_bytes(hashlib.sha256(text).digest()[:8], "little") >> 1


@dataclass(frozen=True)
class Opening:
    start_fen: str | None  # None: the standard start position
    moves: tuple[str, ...]  # UCI


@dataclass(frozen=True)
class GameSpec:
    temperature: float
    level: int
    round: int  # i: the game's number within its (temperature, level)
    game_index: int  # within the temperature's series across levels (docs/formats.md)
    seed: int
    model_white: bool
    opening: Opening

    @property
    def key(self) -> tuple[float, int, int]:
        return (self.temperature, self.level, self.game_index)


def schedule(cfg: MatchConfig, openings: Sequence[Opening]) -> list[GameSpec]:
    """All games in play order: round-major, so an interrupted run has every (temperature, level)
    about equally far. ``game_index = round * len(levels) + level position`` is the order played
    and stays put when ``--games`` grows. Games 2j and 2j+1 share an opening with colours swapped;
    the opening depends only on j (the same for every temperature and level)."""
    specs = []
    nl = len(cfg.levels)
    for i in range(cfg.games):
        opening = _opening_for(cfg, openings, i // 2)
        for lp, level in enumerate(cfg.levels):
            for t in cfg.temperatures:
                specs.append(
                    GameSpec(
                        t,
                        level,
                        i,
                        i * nl + lp,
                        game_seed(cfg.seed, t, level, i),
                        i % 2 == 0,
                        opening,
                    )
                )
    return specs


def _opening_for(cfg: MatchConfig, openings: Sequence[Opening], pair: int) -> Opening:
    if openings:
        op = openings[pair % len(openings)]
        if cfg.opening_plies is not None:
            op = Opening(op.start_fen, op.moves[: cfg.opening_plies])
        return op
    if cfg.random_plies > 0:
        return random_opening(cfg.random_plies, game_seed(cfg.seed, -1.0, -1, pair))
    return Opening(None, ())


def random_opening(plies: int, seed: int) -> Opening:
    """``plies`` uniformly random legal moves from the start that do not end the game."""
    from chessformer.board import Board

    rng = random.Random(seed)
    for _ in range(100):
        board = Board()
        moves = []
        for _ in range(plies):
            legal = sorted(m.uci() for m in board.legal_moves)
            if not legal:
                break
            uci = rng.choice(legal)
            board.push(uci)
            moves.append(uci)
        if len(moves) == plies and board.outcome() is None:
            return Opening(None, tuple(moves))
    raise MatchConfigError(f"no {plies}-ply random opening that leaves the game running")


# ---- opening files -------------------------------------------------------------------------------
def load_openings(path: str | os.PathLike[str]) -> list[Opening]:
    """Openings from an EPD file (one position a line) or a PGN file (each game's main line,
    from its ``[FEN]`` tag if any); raises MatchConfigError naming the bad entry."""
    p = Path(path)
    text = p.read_text(encoding="utf-8", errors="replace")
    first = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    is_pgn = p.suffix.lower() == ".pgn" or (
        p.suffix.lower() not in (".epd", ".fen") and (first.startswith("[") or first[:1].isdigit())
    )
    openings = _parse_pgn_openings(p) if is_pgn else _parse_epd(text, str(p))
    if not openings:
        raise MatchConfigError(f"{str(p)!r}: no openings found")
    return openings


def _parse_epd(text: str, where: str) -> list[Opening]:
    from chessformer.board import Board

    out = []
    for n, line in enumerate(text.splitlines(), 1):
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        if len(fields) < 4:
            raise MatchConfigError(f"{where}:{n}: not an EPD position: {line!r}")
        ops = " ".join(fields[4:])
        clocks = ["0", "1"]
        for k, op in enumerate(("hmvc", "fmvn")):
            if f"{op} " in ops:
                clocks[k] = ops.split(f"{op} ", 1)[1].split(";")[0].strip()
        fen = " ".join(fields[:4] + clocks)
        try:
            board = Board(fen)
        except ValueError as e:
            raise MatchConfigError(f"{where}:{n}: {e}") from None
        if board.outcome() is not None:
            raise MatchConfigError(f"{where}:{n}: the game is already over in {fen!r}")
        out.append(Opening(None if fen == STARTING_FEN else fen, ()))
    return out


def _parse_pgn_openings(path: Path) -> list[Opening]:
    """Each game's main line (UCI) and ``[FEN]`` start, read by chessformer's PGN parser."""
    from chessformer.board import Board
    from chessformer.data.pgn import read_games

    out = []
    for n, game in enumerate(read_games(path, annotations=False, on_error="raise"), 1):
        if game.error is not None and game.error.code != "missing_result":
            e = game.error
            raise MatchConfigError(
                f"{str(path)!r}: game {n}: {e.code} at ply {e.ply} ({e.token!r})"
            )
        board = Board(game.start_fen) if game.start_fen else Board()
        for uci in game.moves:
            board.push(uci)
        if board.outcome() is not None:
            raise MatchConfigError(f"{str(path)!r}: game {n}: the opening ends the game")
        fen = game.start_fen if game.start_fen != STARTING_FEN else None
        out.append(Opening(fen, tuple(game.moves)))
    return out
