"""`chessformer uci` as a subprocess: raw transcripts, python-chess, Stockfish, polyglot.

The model is a tiny random-weight network saved as a real checkpoint: these tests check the
protocol and legality, not strength.
"""

from __future__ import annotations

import contextlib
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import chess
import chess.engine
import pytest
from conftest import save_tiny_model

PROTOCOL_PREFIXES = ("id ", "option ", "uciok", "readyok", "info ", "bestmove ")
STOCKFISH = shutil.which("stockfish") or "/usr/games/stockfish"
POLYGLOT = shutil.which("polyglot") or "/usr/games/polyglot"


@pytest.fixture(scope="module", params=["move", "char"])
def model_dir(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_model(
        tmp_path_factory.mktemp(f"uci-{request.param}"), request.param, block_size=512, n_layer=2
    )


class UciProcess:
    """A line-oriented driver of `chessformer uci` with timeouts on every read."""

    def __init__(self, model: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "chessformer", "uci", "--model", str(model)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            bufsize=1,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def read_until(self, prefix: str, timeout: float = 30.0) -> list[str]:
        out: list[str] = []
        deadline = time.monotonic() + timeout
        while True:
            line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            if line is None:
                raise AssertionError(f"engine exited while waiting for {prefix!r}: {out}")
            out.append(line)
            self.seen.append(line)
            if line.startswith(prefix):
                return out

    def no_output_for(self, seconds: float) -> list[str]:
        got: list[str] = []
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.05)
            except queue.Empty:
                continue
            if line is not None:
                got.append(line)
                self.seen.append(line)
        return got

    def close(self) -> int:
        assert self.proc.stdin is not None
        self.proc.stdin.close()  # end of input means quit
        code = self.proc.wait(timeout=30)
        self.shutdown()
        return code

    def shutdown(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)
        for f in (self.proc.stdin, self.proc.stdout):
            if f is not None and not f.closed:
                with contextlib.suppress(OSError):
                    f.close()


@pytest.fixture
def uci(model_dir: Path) -> Iterator[UciProcess]:
    p = UciProcess(model_dir)
    p.send("uci")
    p.read_until("uciok")
    yield p
    p.shutdown()
    for line in p.seen:
        assert line.startswith(PROTOCOL_PREFIXES), f"non-protocol line on stdout: {line!r}"


def bestmove(lines: list[str]) -> str:
    assert lines[-1].startswith("bestmove ")
    assert any(x.startswith("info ") for x in lines[:-1]), "every bestmove follows an info line"
    return lines[-1].split()[1]


def test_handshake_options_and_quit_on_eof(model_dir: Path) -> None:
    p = UciProcess(model_dir)
    start = time.monotonic()
    p.send("uci")
    lines = p.read_until("uciok")
    assert time.monotonic() - start < 10  # lazy model: no loading before uciok
    assert lines[0].startswith("id name chessformer")
    names = {ln.split()[2] for ln in lines if ln.startswith("option name")}
    options = "ModelPath Temperature Seed Device Threads MultiPV UCI_LimitStrength UCI_Elo"
    for opt in [*options.split(), "UCI_Chess960", "Ponder"]:
        assert opt in names
    p.send("isready")
    p.read_until("readyok")
    assert p.close() == 0


def test_game_moves_are_legal_and_cache_reused(uci: UciProcess) -> None:
    board = chess.Board()
    moves: list[str] = []
    for _ in range(12):
        uci.send("position startpos moves " + " ".join(moves) if moves else "position startpos")
        uci.send("go wtime 60000 btime 60000 winc 0 binc 0")
        mv = bestmove(uci.read_until("bestmove"))
        assert chess.Move.from_uci(mv) in board.legal_moves
        board.push_uci(mv)
        moves.append(mv)
        reply = next(iter(board.legal_moves))
        board.push(reply)
        moves.append(reply.uci())


def test_edge_cases_never_crash(uci: UciProcess) -> None:
    uci.send("hello world")
    assert "unknown command" in uci.read_until("info string")[-1]
    uci.send("position fen not/a/fen w - - 0 1")
    assert "invalid FEN" in uci.read_until("info string")[-1]
    uci.send("position startpos moves e2e4 e7e5 e1e3 g1f3")
    assert "'e1e3' is illegal" in uci.read_until("info string")[-1]
    uci.send("go movetime 50")  # position kept before the illegal move: Black to move
    mv = bestmove(uci.read_until("bestmove"))
    after = chess.Board()
    after.push_uci("e2e4")
    after.push_uci("e7e5")
    assert chess.Move.from_uci(mv) in after.legal_moves
    uci.send("setoption name MultiPV value 99")
    assert "outside" in uci.read_until("info string")[-1]
    uci.send("setoption name Temperature value hot")
    assert "needs a number" in uci.read_until("info string")[-1]
    uci.send("setoption name NoSuchOption value 1")
    assert "unknown option" in uci.read_until("info string")[-1]
    uci.send("go depth x")
    assert "integer" in uci.read_until("info string")[-1]
    bestmove(uci.read_until("bestmove"))
    # checkmate: info, then bestmove (none)
    uci.send("position startpos moves f2f3 e7e5 g2g4 d8h4")
    uci.send("go movetime 100")
    lines = uci.read_until("bestmove")
    assert lines[-1] == "bestmove (none)"
    assert any(ln.startswith("info ") for ln in lines[:-1])
    uci.send("isready")
    uci.read_until("readyok")


def test_infinite_waits_for_stop_and_isready_answers(uci: UciProcess) -> None:
    uci.send("position startpos")
    uci.send("go infinite")
    early = uci.no_output_for(1.0)
    assert not any(ln.startswith("bestmove") for ln in early)
    uci.send("isready")
    lines = uci.read_until("readyok", timeout=5)
    assert not any(ln.startswith("bestmove") for ln in lines)
    uci.send("stop")
    assert (
        chess.Move.from_uci(bestmove(early + uci.read_until("bestmove")))
        in chess.Board().legal_moves
    )
    # exactly one bestmove per go: a stray stop produces nothing
    uci.send("stop")
    assert not any(ln.startswith("bestmove") for ln in uci.no_output_for(0.5))


def test_ponder_and_ponderhit(uci: UciProcess) -> None:
    uci.send("setoption name Ponder value true")
    uci.send("position startpos moves e2e4")
    uci.send("go movetime 50")
    last = uci.read_until("bestmove")[-1].split()
    assert len(last) == 4 and last[2] == "ponder"
    uci.send(f"position startpos moves e2e4 {last[1]} {last[3]}")
    uci.send("go ponder wtime 1000 btime 1000")
    assert not any(ln.startswith("bestmove") for ln in uci.no_output_for(0.5))
    uci.send("ponderhit")
    uci.read_until("bestmove")


def test_searchmoves_multipv_and_chess960_castling(uci: UciProcess) -> None:
    uci.send("position startpos")
    uci.send("go searchmoves a2a3 h2h4")
    assert bestmove(uci.read_until("bestmove")) in ("a2a3", "h2h4")
    uci.send("setoption name MultiPV value 3")
    uci.send("go movetime 100")
    lines = uci.read_until("bestmove")
    assert [ln.split()[ln.split().index("multipv") + 1] for ln in lines if " multipv " in ln] == [
        "1",
        "2",
        "3",
    ]
    uci.send("setoption name MultiPV value 1")
    # castling: both spellings accepted as input, e1g1 written unless UCI_Chess960
    castle_fen = "r3k2r/pppppppp/8/8/8/8/PPPPPPPP/R3K2R w KQkq - 0 1"
    uci.send(f"position fen {castle_fen} moves e1h1")
    uci.send("go searchmoves e8g8")
    assert bestmove(uci.read_until("bestmove")) == "e8g8"
    uci.send("setoption name UCI_Chess960 value true")
    uci.send(f"position fen {castle_fen} moves e1h1")
    uci.send("go searchmoves e8h8")
    assert bestmove(uci.read_until("bestmove")) == "e8h8"


def test_python_chess_client_plays_and_analyses(model_dir: Path) -> None:
    cmd = [sys.executable, "-m", "chessformer", "uci", "--model", str(model_dir)]
    with chess.engine.SimpleEngine.popen_uci(cmd, stderr=subprocess.DEVNULL, timeout=300) as engine:
        assert engine.id["name"].startswith("chessformer")
        engine.configure({"Temperature": "0", "Seed": 7})
        board = chess.Board()
        for _ in range(10):
            result = engine.play(board, chess.engine.Limit(time=0.1))
            assert result.move in board.legal_moves
            board.push(result.move)
        infos = engine.analyse(board, chess.engine.Limit(time=0.1), multipv=3)
        assert len(infos) == 3
        assert all(info["pv"][0] in board.legal_moves for info in infos)


@pytest.mark.stockfish
@pytest.mark.skipif(not os.path.exists(STOCKFISH), reason="stockfish not installed")
def test_game_against_stockfish(model_dir: Path) -> None:
    cmd = [sys.executable, "-m", "chessformer", "uci", "--model", str(model_dir)]
    with (
        chess.engine.SimpleEngine.popen_uci(cmd, stderr=subprocess.DEVNULL, timeout=300) as ours,
        chess.engine.SimpleEngine.popen_uci(STOCKFISH) as sf,
    ):
        sf.configure({"Skill Level": 0, "Threads": 1})
        ours.configure({"Temperature": "1.0"})
        board = chess.Board()
        while not board.is_game_over() and board.ply() < 120:
            engine = ours if board.turn == chess.WHITE else sf
            move = engine.play(board, chess.engine.Limit(nodes=1000, time=1.0)).move
            assert move is not None and move in board.legal_moves
            board.push(move)
        assert board.ply() > 10


@pytest.mark.skipif(not os.path.exists(POLYGLOT), reason="polyglot not installed")
def test_polyglot_xboard_adapter(model_dir: Path, tmp_path: Path) -> None:
    ini = tmp_path / "chessformer.ini"
    ini.write_text(
        "[PolyGlot]\n"
        f"EngineDir = {tmp_path}\n"
        f"EngineCommand = {sys.executable} -m chessformer uci --model {model_dir}\n"
        "Log = false\n"
        "Book = false\n"
        "[Engine]\n"
    )
    proc = subprocess.Popen(
        [POLYGLOT, str(ini)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    )
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line.strip())
        lines.put(None)

    def send(cmd: str) -> None:
        assert proc.stdin is not None
        proc.stdin.write(cmd + "\n")
        proc.stdin.flush()

    def wait_for(prefix: str) -> str:
        deadline = time.monotonic() + 60
        while True:
            line = lines.get(timeout=max(0.01, deadline - time.monotonic()))
            assert line is not None, f"polyglot exited before {prefix!r}"
            if line.startswith(prefix):
                return line

    threading.Thread(target=pump, daemon=True).start()
    try:
        send("xboard")
        send("protover 2")
        wait_for("feature done=1")  # polyglot has started the engine and read its options
        for cmd in ("new", "force", "usermove e2e4", "go"):
            send(cmd)
        move = wait_for("move ").split()[1]
        send("quit")
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for f in (proc.stdin, proc.stdout):
            if f is not None:
                f.close()
    board = chess.Board()
    board.push_uci("e2e4")
    assert chess.Move.from_uci(move) in board.legal_moves


def test_limit_strength_uses_the_calibration_table(model_dir: Path, tmp_path: Path) -> None:
    import io
    import json
    import shutil

    from chessformer.engine.uci import UciEngine

    run = tmp_path / "calibrated"
    shutil.copytree(model_dir, run)
    points = [{"temperature": 0.001, "elo": 1200.0}, {"temperature": 1.0, "elo": 800.0}]
    (run / "elo_calibration.json").write_text(json.dumps({"points": points}))
    out = io.StringIO()
    engine = UciEngine(model=str(run), out=out)
    commands = [
        "uci",
        "debug on",  # the temperature used is told in debug mode
        "setoption name UCI_LimitStrength value true",
        "setoption name UCI_Elo value 1000",
        "position startpos",
        "go movetime 50",
    ]
    for line in commands:
        engine.handle(line)
    engine.handle("quit")
    text = out.getvalue()
    assert "temperature 0.5005" in text  # halfway between the two measured points
    assert text.count("bestmove") == 1


def test_multipv_ranks_by_untempered_probability_at_low_temperature() -> None:
    """At the default Temperature 0.001 the MultiPV lines are the model's most probable moves in
    order (its temperature-1 distribution), not the legal-move order that the sharpened
    distribution (1, 0, 0, ...) used to leave; bestmove is the first line."""
    from chessformer.board import Board
    from chessformer.engine.bundled import default_model_path
    from chessformer.inference import InferenceEngine

    model = default_model_path()
    assert model is not None
    reference = InferenceEngine.from_checkpoint(model, max_batch=1, device="cpu")
    cmd = [sys.executable, "-m", "chessformer", "uci", "--model", str(model)]
    with chess.engine.SimpleEngine.popen_uci(cmd, stderr=subprocess.DEVNULL, timeout=300) as engine:
        engine.configure({"Temperature": "0.001", "Device": "cpu"})
        for moves in ([], ["e2e4"], ["d2d4", "g8f6", "c2c4"]):
            board = chess.Board()
            ours = Board()
            for mv in moves:
                board.push_uci(mv)
                ours.push_uci(mv)
            infos = engine.analyse(board, chess.engine.Limit(time=0.1), multipv=3)
            listed = [info["pv"][0].uci() for info in infos]
            probs = reference.move_probabilities(ours, temperature=1.0)
            assert listed == list(probs)[:3], (moves, listed, list(probs.items())[:5])
            assert probs[listed[0]] > probs[listed[1]] > probs[listed[2]] > 0.01
            played = engine.play(board, chess.engine.Limit(time=0.1), info=chess.engine.INFO_ALL)
            assert played.move is not None and played.move.uci() == listed[0]


def test_multipv_info_string_reports_untempered_probabilities(tmp_path: Path) -> None:
    import io
    import re

    from chessformer.engine.bundled import default_model_path
    from chessformer.engine.uci import UciEngine

    out = io.StringIO()
    engine = UciEngine(model=str(default_model_path()), out=out)
    for line in (
        "setoption name Device value cpu",
        "setoption name MultiPV value 5",
        "position startpos",
        "go movetime 50",
        "quit",
    ):
        engine.handle(line)
    text = out.getvalue()
    found = re.search(r"move probabilities: (.*); played (\S+)", text)
    assert found, text
    pairs = [item.split() for item in found.group(1).split(", ")]
    probs = [float(p) for _, p in pairs]
    assert len(pairs) == 5 and probs == sorted(probs, reverse=True)
    assert probs[1] > 0.05  # the runner-up keeps its real probability, not 0.000
    assert found.group(2) == pairs[0][0] and f"bestmove {pairs[0][0]}" in text


def test_missing_model_is_reported_and_never_plays(model_dir: Path) -> None:
    """A model that cannot be loaded: ERROR info strings naming it (at setoption, isready, go)
    and bestmove 0000, which python-chess returns as the null move, never a legal move."""
    p = UciProcess(Path("/nonexist/model"))
    try:
        p.send("uci")
        p.read_until("uciok")
        p.send("isready")
        lines = p.read_until("readyok")
        assert any(
            ln.startswith("info string ERROR: cannot load model '/nonexist/model'")
            and "does not exist" in ln
            for ln in lines
        ), lines
        p.send("position startpos")
        p.send("go movetime 50")
        lines = p.read_until("bestmove")
        assert lines[-1] == "bestmove 0000"
        assert any("ERROR" in ln and "/nonexist/model" in ln for ln in lines[:-1])
        p.send("setoption name ModelPath value /another/missing")
        line = p.read_until("info string")[-1]
        assert "ERROR" in line and "/another/missing" in line and "does not exist" in line
    finally:
        p.shutdown()

    empty = model_dir.parent / "not-a-model.pt"
    empty.write_bytes(b"")
    cmd = [sys.executable, "-m", "chessformer", "uci", "--model", str(empty)]
    with chess.engine.SimpleEngine.popen_uci(cmd, stderr=subprocess.DEVNULL, timeout=300) as engine:
        board = chess.Board()
        result = engine.play(board, chess.engine.Limit(time=0.1), info=chess.engine.INFO_ALL)
        assert result.move == chess.Move.null() and result.move not in board.legal_moves
        assert "not-a-model.pt" in result.info.get("string", "")
        assert "empty" in result.info.get("string", "")
        # a working ModelPath makes the next go play normally
        engine.configure({"ModelPath": str(model_dir)})
        result = engine.play(board, chess.engine.Limit(time=0.1))
        assert result.move in board.legal_moves
