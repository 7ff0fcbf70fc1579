"""Perft: leaf counts of the legal move tree, from Python, from the CLI, and for Chess960.

Standard positions and counts come from tests/data/perft.txt (chessprogramming wiki); depths with
at most ~5M leaves run by default, every listed depth under ``-m slow``. Chess960 positions come
from tests/data/chess960_perft.txt plus seeded random Chess960 games; their counts are recomputed
here with python-chess's own legal move generator.
"""

from __future__ import annotations

import random
import re
import subprocess
import sys
from pathlib import Path

import chess
import pytest

from chessformer.board import STARTING_FEN, Board

DATA = Path(__file__).parent / "data"
DEFAULT_MAX_NODES = 5_000_000


def _read_perft(path: Path) -> list[tuple[str, dict[int, int]]]:
    """``FEN ;D1 n ;D2 n ...`` lines; ``#`` comments and blank lines are skipped."""
    out = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        fen, *fields = (part.strip() for part in line.split(";"))
        counts = {}
        for f in fields:
            m = re.fullmatch(r"D(\d+)\s+(\d+)", f)
            assert m, f"bad perft field {f!r} in {path.name}"
            counts[int(m.group(1))] = int(m.group(2))
        out.append((fen, counts))
    return out


STANDARD = _read_perft(DATA / "perft.txt")
CHESS960 = _read_perft(DATA / "chess960_perft.txt")


def _cases(
    table: list[tuple[str, dict[int, int]]],
) -> list[tuple[str, int, int] | object]:
    cases: list[tuple[str, int, int] | object] = []
    for i, (fen, counts) in enumerate(table):
        for depth, nodes in sorted(counts.items()):
            marks = [pytest.mark.slow] if nodes > DEFAULT_MAX_NODES else []
            cases.append(pytest.param(fen, depth, nodes, marks=marks, id=f"pos{i + 1}-d{depth}"))
    return cases


def chess_perft(board: chess.Board, depth: int) -> int:
    """Reference perft with python-chess's legal move generator."""
    if depth == 0:
        return 1
    if depth == 1:
        return board.legal_moves.count()
    total = 0
    for move in list(board.legal_moves):
        board.push(move)
        total += chess_perft(board, depth - 1)
        board.pop()
    return total


def chess_divide(board: chess.Board, depth: int) -> dict[str, int]:
    out = {}
    for move in list(board.legal_moves):
        board.push(move)
        out[move.uci()] = chess_perft(board, depth - 1)
        board.pop()
    return out


def test_data_files_are_complete() -> None:
    assert len(STANDARD) == 6
    assert all(len(counts) >= 5 for _, counts in STANDARD)
    assert sum(1 for _, counts in CHESS960 if counts) >= 3


@pytest.mark.parametrize(("fen", "depth", "nodes"), _cases(STANDARD))
def test_perft_standard(fen: str, depth: int, nodes: int) -> None:
    assert Board(fen).perft(depth) == nodes


@pytest.mark.parametrize(("fen", "depth", "nodes"), _cases([c for c in CHESS960 if c[1]]))
def test_perft_chess960_suite(fen: str, depth: int, nodes: int) -> None:
    assert Board(fen, chess960=True).perft(depth) == nodes


def test_perft_depth_zero_and_negative() -> None:
    assert Board().perft(0) == 1
    assert Board("7k/8/8/8/8/8/8/K7 w - - 0 1").perft(0) == 1
    with pytest.raises(ValueError, match="depth"):
        Board().perft(-1)
    with pytest.raises(ValueError, match="depth"):
        Board().perft_divide(0)


def test_perft_of_mate_and_stalemate() -> None:
    mated = Board("rnb1kbnr/pppp1ppp/8/4p3/6Pq/5P2/PPPPP2P/RNBQKBNR w KQkq - 1 3")
    assert mated.is_checkmate()
    assert [mated.perft(d) for d in range(4)] == [1, 0, 0, 0]
    stalemate = Board("7k/5Q2/6K1/8/8/8/8/8 b - - 0 1")
    assert stalemate.perft(1) == 0 and stalemate.perft(3) == 0


def test_perft_does_not_change_the_board() -> None:
    board = Board()
    for san in ("e4", "c5", "Nf3"):
        board.push_san(san)
    before = (board.fen(), board.move_stack)
    board.perft(4)
    board.perft_divide(3)
    assert (board.fen(), board.move_stack) == before


@pytest.mark.parametrize("index", range(len(STANDARD)))
def test_perft_divide_matches_python_chess(index: int) -> None:
    fen = STANDARD[index][0]
    ours = Board(fen).perft_divide(2)
    theirs = chess_divide(chess.Board(fen), 2)
    assert ours == theirs
    assert sum(ours.values()) == STANDARD[index][1][2]
    assert sum(Board(fen).perft_divide(3).values()) == STANDARD[index][1][3]


# ---- Chess960 ------------------------------------------------------------------------------------


def _chess960_positions() -> list[str]:
    """Data-file edge cases, random Chess960 starts, and positions from seeded random 960 games
    kept while some castling right remains (so castling is exercised, not just kept)."""
    fens = [fen for fen, counts in CHESS960 if not counts]
    rng = random.Random(960)
    for _ in range(6):
        fens.append(chess.Board.from_chess960_pos(rng.randrange(960)).fen())
    while len(fens) < 34:
        board = chess.Board.from_chess960_pos(rng.randrange(960))
        for _ in range(rng.randrange(8, 40)):
            moves = list(board.legal_moves)
            if not moves:
                break
            castles = [m for m in moves if board.is_castling(m)]
            board.push(rng.choice(castles) if castles and rng.random() < 0.3 else rng.choice(moves))
        if board.castling_rights and not board.is_game_over():
            fens.append(board.fen())
    return fens


@pytest.mark.parametrize("fen", _chess960_positions())
def test_perft_chess960_against_python_chess(fen: str) -> None:
    theirs = chess.Board(fen, chess960=True)
    assert theirs.is_valid(), fen
    ours = Board(fen, chess960=True)
    assert ours.fen() == theirs.fen()
    assert ours.perft_divide(2) == chess_divide(theirs, 2)
    assert ours.perft(3) == chess_perft(theirs, 3)


def test_chess960_castling_edge_cases() -> None:
    """Specific castling outcomes (python-chess agrees with all of them, via the perft test)."""

    def castles(fen: str) -> set[str]:
        board = Board(fen, chess960=True)
        return {board.san(m) + " " + m.uci() for m in board.legal_moves if board.san(m)[0] == "O"}

    assert castles("4k3/8/8/8/8/8/8/2RK4 w C - 0 1") == {"O-O-O d1c1"}
    assert castles("4k3/8/8/8/8/8/8/5KR1 w K - 0 1") == {"O-O f1g1"}
    assert castles("rk6/8/8/8/8/8/8/6KR w Ha - 0 1") == {"O-O g1h1"}
    assert castles("rk6/8/8/8/8/8/8/6KR b Ha - 0 1") == {"O-O-O b8a8"}
    assert castles("4k3/8/8/8/8/8/8/rRK5 w B - 0 1") == set()  # the rook shields c1 from a1
    assert castles("4k3/8/8/8/8/8/8/5KRr w G - 0 1") == set()
    assert castles("1r2k2r/8/8/8/8/8/8/RK4R1 w GAbh - 0 1") == set()  # in check
    assert castles("4k3/8/8/8/8/b7/8/RK3R2 w FA - 0 1") == set()  # c1 attacked
    board = Board("4k3/8/8/8/8/8/8/2RK4 w C - 0 1", chess960=True)
    board.push_san("O-O-O")
    assert board.fen() == "4k3/8/8/8/8/8/8/2KR4 b - - 1 1"
    board = Board("rk6/8/8/8/8/8/8/6KR w Ha - 0 1", chess960=True)
    board.push("g1h1")
    assert board.fen() == "rk6/8/8/8/8/8/8/5RK1 b q - 1 1"


# ---- the CLI -------------------------------------------------------------------------------------


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chessformer", "perft", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def _parse_cli(stdout: str) -> tuple[dict[str, int], int, int]:
    lines = stdout.strip().splitlines()
    assert len(lines) >= 2, stdout
    nodes = re.fullmatch(r"nodes: (\d+)", lines[-2])
    nps = re.fullmatch(r"nps: (\d+)", lines[-1])
    assert nodes and nps, stdout
    divide = {}
    for line in lines[:-2]:
        m = re.fullmatch(r"([a-h][1-8][a-h][1-8][nbrq]?): (\d+)", line)
        assert m, f"unexpected divide line {line!r}"
        divide[m.group(1)] = int(m.group(2))
    return divide, int(nodes.group(1)), int(nps.group(1))


@pytest.mark.parametrize("index", range(len(STANDARD)))
def test_cli_perft(index: int) -> None:
    fen, counts = STANDARD[index]
    depth = max(d for d, n in counts.items() if n <= 500_000)
    proc = _cli(fen, str(depth))
    assert proc.returncode == 0, proc.stderr
    divide, nodes, nps = _parse_cli(proc.stdout)
    assert divide == {}
    assert nodes == counts[depth]
    assert nps >= 0


def test_cli_perft_startpos_and_depth_zero() -> None:
    divide, nodes, _ = _parse_cli(_cli("startpos", "4").stdout)
    assert (divide, nodes) == ({}, 197281)
    divide, nodes, _ = _parse_cli(_cli(STARTING_FEN, "0").stdout)
    assert (divide, nodes) == ({}, 1)


@pytest.mark.parametrize("index", [0, 1, 2, 3, 4])
def test_cli_perft_divide(index: int) -> None:
    fen, counts = STANDARD[index]
    proc = _cli(fen, "3", "--divide")
    assert proc.returncode == 0, proc.stderr
    divide, nodes, _ = _parse_cli(proc.stdout)
    assert sum(divide.values()) == nodes == counts[3]
    assert divide == chess_divide(chess.Board(fen), 3)


def test_cli_perft_divide_chess960() -> None:
    fen = CHESS960[2][0]  # b1q1rrkb/... w GE: castling O-O is legal at the root
    proc = _cli(fen, "2", "--divide", "--chess960")
    assert proc.returncode == 0, proc.stderr
    divide, nodes, _ = _parse_cli(proc.stdout)
    assert divide == chess_divide(chess.Board(fen, chess960=True), 2)
    assert nodes == CHESS960[2][1][2]
    assert "f1g1" in divide  # king takes rook in Chess960 notation


def test_cli_perft_errors() -> None:
    proc = _cli("not a fen", "3")
    assert proc.returncode == 2
    assert "not a fen" in proc.stderr and "Traceback" not in proc.stderr
    proc = _cli("startpos", "-1")
    assert proc.returncode == 2 and "depth" in proc.stderr
    proc = _cli("startpos", "three")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
