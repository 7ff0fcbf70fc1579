"""`chessformer play`: the terminal game, driven through its command loop and as a subprocess."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import chess
import pytest
from conftest import save_tiny_model

from chessformer.board import Board
from chessformer.engine.play import Game, render
from chessformer.inference import InferenceEngine


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_model(tmp_path_factory.mktemp("run_dir"))


def make_game(run_dir: Path, human_white: bool = True) -> tuple[Game, io.StringIO]:
    out = io.StringIO()
    engine = InferenceEngine.from_checkpoint(run_dir, max_batch=1)
    game = Game(engine, human_white, 0.0, out)
    game.start()
    return game, out


def test_render_unicode_and_orientation() -> None:
    board = Board()
    text = render(board)
    assert text.splitlines()[0].startswith("8 ") and "♜" in text.splitlines()[0]
    assert text.splitlines()[-1].split() == list("abcdefgh")
    flipped = render(board, white_bottom=False, ascii_only=True)
    assert flipped.splitlines()[0].startswith("1 ") and "R" in flipped.splitlines()[0]
    assert flipped.splitlines()[-1].split() == list("hgfedcba")


def test_moves_illegal_input_undo_and_resign(run_dir: Path) -> None:
    game, out = make_game(run_dir)
    assert game.command("e4")
    assert game.board.ply == 2  # our move and the model's legal reply
    assert game.command("g1f3")  # UCI works too
    assert game.board.ply == 4
    assert game.command("Ke8")
    assert "illegal move 'Ke8'" in out.getvalue()
    assert game.board.ply == 4
    assert game.command("undo")
    assert game.board.ply == 2 and game.board.turn
    assert game.command("moves")
    assert "legal moves:" in out.getvalue() and "Nf3" in out.getvalue()
    assert not game.command("resign")
    assert game.result == "0-1"
    assert '[Result "0-1"]' in out.getvalue()


def test_ambiguous_input_is_explained(run_dir: Path) -> None:
    game, out = make_game(run_dir)
    game.board = Board("4k3/8/8/8/8/5N2/8/1N2K3 w - - 0 1")
    assert game.command("Nd2")
    assert "ambiguous move 'Nd2'" in out.getvalue()
    assert game.board.ply == 0


def test_model_opens_as_white_when_human_plays_black(run_dir: Path) -> None:
    game, _ = make_game(run_dir, human_white=False)
    assert game.board.ply == 1 and not game.board.turn


def test_subprocess_session(run_dir: Path) -> None:
    cmd = [sys.executable, "-m", "chessformer", "play", "--model", str(run_dir), "--ascii"]
    proc = subprocess.run(
        [*cmd, "--temperature", "0"],
        input="e4\nfoo\nd4\npgn\nquit\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "illegal move 'foo'" in proc.stdout
    pgn = proc.stdout[proc.stdout.index('[White "You"]') :]
    moves = pgn.split("\n\n", 1)[1].splitlines()[0].split()[:-1]
    board = chess.Board()
    for tok in moves:
        if not tok.endswith("."):
            board.push_san(tok.split(".")[-1])
    assert board.ply() == 4
