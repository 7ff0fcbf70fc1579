"""What GUIs and python-chess read from `go`: depth, score (only what is known), WDL, and the
order of the info lines. python-chess's own UCI parser is the oracle."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import chess
import chess.engine
import pytest
from conftest import save_tiny_model

from chessformer.engine.protocol import wdl_score
from chessformer.engine.uci import UciEngine
from chessformer.inference import InferenceEngine

MATE_IN_ONE = "6k1/5ppp/8/8/8/8/8/R6K w - - 0 1"  # Ra8#
POLYGLOT = shutil.which("polyglot") or "/usr/games/polyglot"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_model(tmp_path_factory.mktemp("uci-gui"), "move", block_size=512)


def go(engine: UciEngine, out: io.StringIO, *commands: str) -> list[str]:
    start = len(out.getvalue())
    for c in commands:
        engine.handle(c)
    engine.handle("isready")  # waits for nothing; the search thread is joined below
    engine._wait_search()
    return out.getvalue()[start:].splitlines()


def parsed(line: str, fen: str = chess.STARTING_FEN) -> chess.engine.InfoDict:
    assert line.startswith("info ")
    return chess.engine._parse_uci_info(line[len("info ") :], chess.Board(fen))


def test_python_chess_analyse_depth_pv_and_no_made_up_score(model_dir: Path) -> None:
    """A move-only model has no evaluation: analyse() gets depth 1 and a legal PV, and no score
    -- except where the rules know it: a checkmating move is mate 1."""
    cmd = [sys.executable, "-m", "chessformer", "uci", "--model", str(model_dir)]
    with chess.engine.SimpleEngine.popen_uci(cmd, stderr=subprocess.DEVNULL, timeout=300) as engine:
        board = chess.Board()
        info = engine.analyse(board, chess.engine.Limit(time=0.1))
        assert info["depth"] == 1 and info["pv"][0] in board.legal_moves
        assert "score" not in info and info.get("score") is None
        mate = chess.Board(MATE_IN_ONE)
        ra8 = chess.Move.from_uci("a1a8")
        info = engine.analyse(mate, chess.engine.Limit(time=0.1), root_moves=[ra8])
        assert info["pv"] == [ra8] and info["score"].relative == chess.engine.Mate(1)
        infos = engine.analyse(mate, chess.engine.Limit(time=0.1), multipv=20)
        for line in infos:
            if line["pv"][0] == ra8:
                assert line["score"].relative == chess.engine.Mate(1)
            else:
                assert "score" not in line
        checkmated = chess.Board("R5k1/5ppp/8/8/8/8/8/7K b - - 1 1")
        info = engine.analyse(checkmated, chess.engine.Limit(time=0.1))
        assert info["score"].relative == chess.engine.Mate(0)


def test_value_estimate_hook_gives_cp_and_wdl(
    model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A model with a value estimate: `score cp X wdl W D L` on the first line, X from the
    expected score through the same logistic python-chess's "lichess" WDL model inverts."""
    seen: list[str] = []

    def value_estimate(self: InferenceEngine, board: object) -> tuple[float, float, float]:
        seen.append(board.fen())  # type: ignore[attr-defined]
        return (0.6, 0.3, 0.1)

    monkeypatch.setattr(InferenceEngine, "value_estimate", value_estimate, raising=False)
    out = io.StringIO()
    engine = UciEngine(model=str(model_dir), out=out)
    lines = go(engine, out, "position startpos", "go depth 1")
    info = parsed(next(ln for ln in lines if ln.startswith("info depth")))
    assert seen == [chess.STARTING_FEN]
    score = info["score"].relative
    assert score.score() == 298 and "wdl" not in info  # UCI_ShowWDL is off by default
    assert abs(score.wdl(model="lichess").expectation() - 0.75) < 0.002
    lines = go(
        engine,
        out,
        "setoption name UCI_ShowWDL value true",
        "setoption name MultiPV value 3",
        "position startpos moves e2e4",
        "go",
    )
    infos = [parsed(ln, chess.Board().fen()) for ln in lines if ln.startswith("info depth")]
    assert len(infos) == 3 and infos[0]["wdl"].relative == chess.engine.Wdl(600, 300, 100)
    assert all("score" not in i for i in infos[1:])  # the root's value is not each move's
    # no estimate for this position: no score
    monkeypatch.setattr(InferenceEngine, "value_estimate", lambda self, b: None, raising=False)
    lines = go(engine, out, "setoption name MultiPV value 1", "go")
    assert "score" not in next(ln for ln in lines if ln.startswith("info depth"))
    engine.handle("quit")


def test_wdl_score_mapping() -> None:
    for w, d, lo in [(1, 0, 0), (0, 0, 1), (0.2, 0.6, 0.2), (0.5, 0.1, 0.4), (3, 1, 0)]:
        line = wdl_score(w, d, lo, True)
        info = chess.engine._parse_uci_info(line, chess.Board())
        wdl = info["wdl"].relative
        assert wdl.wins + wdl.draws + wdl.losses == 1000
        total = w + d + lo
        expected = (w + d / 2) / total
        cp = info["score"].relative.score()
        assert abs(cp) <= 2000
        if abs(cp) < 2000:
            assert abs(chess.engine.Cp(cp).wdl(model="lichess").expectation() - expected) < 0.002
    assert wdl_score(0.2, 0.6, 0.2, False) == "score cp 0"
    with pytest.raises(ValueError):
        wdl_score(float("nan"), 0, 0, False)


def test_no_info_string_in_play_and_before_the_pv_line(model_dir: Path) -> None:
    """polyglot shows every info string as a line of analysis (the issue: `move c7c5 p=1.0000
    temperature 0.001` as a PV): in play (MultiPV 1) a search sends none unless `debug on`, and
    where it sends one, it comes before the move lines."""
    out = io.StringIO()
    engine = UciEngine(model=str(model_dir), out=out)
    for setup, told in (
        ("debug off", False),
        ("debug on", True),
        ("setoption name MultiPV value 3", True),
    ):
        lines = go(engine, out, setup, "go")
        search = [ln for ln in lines if ln.startswith(("info", "bestmove"))]
        assert search[0].startswith("info string ") == told, search
        assert search[-1].startswith("bestmove ")
        assert all(ln.startswith("info depth 1 ") for ln in search[int(told) : -1]), search
    engine.handle("quit")


@pytest.mark.skipif(not Path(POLYGLOT).exists(), reason="polyglot not installed")
def test_polyglot_thinking_output_shows_moves_only(model_dir: Path, tmp_path: Path) -> None:
    ini = tmp_path / "chessformer.ini"
    ini.write_text(
        "[PolyGlot]\n"
        f"EngineDir = {tmp_path}\n"
        f"EngineCommand = {sys.executable} -m chessformer uci --model {model_dir}\n"
        "Log = false\nBook = false\n[Engine]\n"
    )
    # "ping" after protover: polyglot answers "pong" only once the engine has started
    script = "xboard\nprotover 2\nping 1\nnew\npost\nforce\nusermove e2e4\ngo\nping 2\n"
    proc = subprocess.Popen(
        [POLYGLOT, str(ini)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(script)
    proc.stdin.flush()
    thinking: list[str] = []
    watchdog = threading.Timer(240, proc.kill)  # a hung adapter fails the test, not the suite
    watchdog.start()
    try:
        for line in proc.stdout:
            if line.startswith("move "):
                break
            if line[:1].isdigit():
                thinking.append(line.strip())
    finally:
        proc.stdin.write("quit\n")
        proc.stdin.close()
        proc.wait(timeout=60)
        proc.stdout.close()
        watchdog.cancel()
    board = chess.Board()
    board.push_uci("e2e4")
    assert thinking, "no thinking output"
    for line in thinking:  # "ply score time nodes pv": the pv is SAN moves, never text
        ply, _score, _t, _n, *pv = line.split()
        assert ply == "1" and len(pv) == 1, line
        board.parse_san(pv[0])


def test_paper_decoding_on_a_move_model_still_plays(model_dir: Path) -> None:
    """Decoding paper is the char models' harness: a move model says so and plays masked,
    instead of answering the null move (the UCI fuzz found the old failure)."""
    cmd = [sys.executable, "-m", "chessformer", "uci", "--model", str(model_dir)]
    with chess.engine.SimpleEngine.popen_uci(cmd, stderr=subprocess.DEVNULL, timeout=300) as engine:
        engine.configure({"Decoding": "paper"})
        board = chess.Board()
        result = engine.play(board, chess.engine.Limit(time=0.1))
        assert result.move in board.legal_moves
