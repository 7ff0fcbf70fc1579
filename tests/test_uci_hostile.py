"""`uci` and `play` fed what a careless or hostile GUI may send: bytes that are not UTF-8 (in every
locale), control characters, huge unknown commands and values, lines without a newline, a
ModelPath that is not UTF-8. Every valid line is answered, every other one reported, briefly."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import chess
import pytest
from conftest import save_tiny_model

from chessformer.engine.textio import MAX_LINE, LongLine, input_lines, os_path, printable, shown
from chessformer.engine.uci import MAX_INFO_CHARS, UciEngine

# Locales: the en_US.UTF-8 where installed; PYTHONIOENCODING=utf-8 gives Python the same
# strict UTF-8 stdin that locale gives it; C (Python's own UTF-8 mode) and Latin-1 I/O besides.
ENVIRONMENTS = [
    {"LC_ALL": "C.UTF-8"},
    {"LC_ALL": "C.UTF-8", "PYTHONIOENCODING": "utf-8"},
    {"LC_ALL": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0"},
    {"LC_ALL": "C.UTF-8", "PYTHONIOENCODING": "latin-1"},
]
if "en_US.utf8" in subprocess.run(["locale", "-a"], capture_output=True, text=True).stdout:
    ENVIRONMENTS.append({"LC_ALL": "en_US.UTF-8"})


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_model(tmp_path_factory.mktemp("uci-hostile"), "move", block_size=512)


def run(args: list[str], data: bytes, env: dict[str, str] | None = None) -> tuple[int, str]:
    proc = subprocess.run(
        [sys.executable, "-m", "chessformer", *args],
        input=data,
        capture_output=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )
    out = proc.stdout.decode("utf-8")  # the engine's output is UTF-8 in every locale
    assert "Traceback" not in proc.stderr.decode("utf-8", "replace"), proc.stderr
    return proc.returncode, out


@pytest.mark.parametrize(
    "env", ENVIRONMENTS, ids=lambda e: ",".join(f"{k}={v}" for k, v in e.items())
)
def test_invalid_utf8_is_reported_not_fatal_in_every_locale(
    model_dir: Path, env: dict[str, str]
) -> None:
    rc, out = run(
        ["uci", "--model", str(model_dir)],
        b"isready\n\xff\nisready\xfe\nposition startpos moves e2e4 \xc3\x28\n"
        b"setoption name \xff value 1\ngo\nisready\n",
        env,
    )
    lines = out.splitlines()
    assert rc == 0, out
    assert lines.count("readyok") == 2, out
    assert "info string unknown command '\\xff'" in lines
    assert "info string unknown command 'isready\\xfe'" in lines
    assert any("move 2 '\\xc3(' is illegal" in ln for ln in lines), out
    assert "info string unknown option '\\xff'" in lines
    board = chess.Board()
    board.push_uci("e2e4")
    best = next(ln for ln in lines if ln.startswith("bestmove")).split()[1]
    assert chess.Move.from_uci(best) in board.legal_moves


def test_control_characters_are_escaped_in_echoes(model_dir: Path) -> None:
    rc, out = run(["uci", "--model", str(model_dir)], b"\x1b[2Jboom\x00\x07\r\nisready\n")
    assert rc == 0 and "readyok" in out.splitlines()
    assert "\x1b" not in out and "\x00" not in out and "\x07" not in out
    assert "unknown command '\\x1b[2Jboom\\x00\\x07'" in out


def test_huge_unknown_command_is_cut(model_dir: Path) -> None:
    """The issue's 10 MB unknown command (and one of 500 KB, under the line limit): a short
    report each, then the next command answered."""
    data = b"x" * 10_000_000 + b"\n" + b"y" * 500_000 + b"\nisready\n" + b"z" * 3_000_000
    rc, out = run(["uci", "--model", str(model_dir)], data)
    lines = out.splitlines()
    assert rc == 0 and "readyok" in lines
    assert len(out) < 2_000, out[:3000]
    assert f"info string ignored an input line of 10000001 bytes (limit {MAX_LINE})" in lines
    assert f"info string ignored an input line of 3000000 bytes (limit {MAX_LINE})" in lines
    assert "info string unknown command 'yyyyyyyy" in out and "(500000 characters)" in out


def test_every_echo_is_cut(tmp_path: Path) -> None:
    """Relatives of the echo: option names and values, position heads, FENs and moves, go
    parameters, ModelPath -- none is quoted back whole."""
    big = "q" * 200_000
    out = io.StringIO()
    engine = UciEngine(model=str(tmp_path / "none"), out=out)
    for line in (
        f"setoption name {big} value 1",
        f"setoption name MultiPV value {big}",
        f"setoption name Temperature value {big}",
        f"setoption name UCI_Chess960 value {big}",
        f"setoption name ModelPath value {tmp_path}/{big}",
        f"position {big}",
        f"position fen {big}",
        f"position startpos moves e2e4 {big}",
        f"go {big} depth {big}",
        f"{big} {big}",
    ):
        assert engine.handle(line)
    engine.handle("quit")
    lines = out.getvalue().splitlines()
    assert len(lines) >= 10
    longest = max(map(len, lines))
    assert longest <= len("info string ") + MAX_INFO_CHARS, longest
    assert all("characters)" in ln for ln in lines if "qqqq" in ln)


def test_input_lines_bounded() -> None:
    stream = io.BytesIO(b"a\n" + b"b" * 100 + b"\nc" + b"d" * 250)
    got = list(input_lines(stream, max_line=64))
    assert got == ["a\n", LongLine(101), LongLine(251)]
    assert list(input_lines(io.BytesIO(b"ok\xff"), max_line=64)) == ["ok\udcff"]
    assert os_path("ok\udcff") == os.fsdecode(b"ok\xff")
    assert printable("a\udcff\x1b\u2654") == "a\\xff\\x1b\u2654"
    assert shown("x" * 100, limit=10) == "'xxxxxxxxxx...' (100 characters)"


def test_model_path_that_is_not_utf8(model_dir: Path, tmp_path: Path) -> None:
    """A ModelPath whose bytes are not UTF-8 loads the model it names, and a missing one is
    reported with the bytes escaped (the same for --model)."""
    odd = os.fsencode(tmp_path) + b"/model-\xff\xfe"
    shutil.copytree(model_dir, os.fsdecode(odd))
    rc, out = run(["uci"], b"setoption name ModelPath value " + odd + b"\nisready\ngo\n")
    assert rc == 0 and "ERROR" not in out, out
    assert chess.Move.from_uci(out.split("bestmove ")[1].split()[0]) in chess.Board().legal_moves
    rc, out = run(["uci"], b"setoption name ModelPath value " + odd + b"x\nisready\ngo\n")
    assert rc == 0 and "model-\\xff\\xfex" in out and "bestmove 0000" in out
    assert "udc" not in out
    rc, out = run(["uci", "--model", os.fsdecode(odd)], b"isready\ngo\n")
    assert rc == 0 and "ERROR" not in out and "bestmove " in out


def test_play_survives_invalid_utf8_and_long_lines(model_dir: Path) -> None:
    rc, out = run(
        ["play", "--model", str(model_dir), "--ascii", "--temperature", "0"],
        b"\xff\xfe\n" + b"e" * 2_000_000 + b"\ne4\nquit\n",
        {"LC_ALL": "C.UTF-8", "PYTHONIOENCODING": "utf-8"},
    )
    assert rc == 0
    assert "illegal move '\\xff\\xfe' here" in out
    assert f"ignored a line of 2000001 bytes (limit {MAX_LINE})" in out
    assert "model plays" in out and len(out) < 20_000


def test_position_without_a_head_is_named(tmp_path: Path) -> None:
    """`position moves e2e4` (no startpos, no fen): the rule broken, not a Python error."""
    out = io.StringIO()
    engine = UciEngine(model=str(tmp_path / "none"), out=out)
    assert engine.handle("position moves e2e4")
    engine.handle("quit")
    text = out.getvalue()
    assert "position needs 'startpos' or 'fen <FEN>'" in text
    assert "index" not in text and "Traceback" not in text
