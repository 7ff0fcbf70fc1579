"""`chessformer match`: real games against Stockfish, kill-and-resume, engine faults, adjudication.

The models are tiny random-weight networks saved as real checkpoints (they lose every game); the
fault tests use tests/data/fake_uci_engine.py, a deterministic UCI engine that crashes or hangs
on request. Every PGN is read back by python-chess and checked against games.jsonl.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import chess
import chess.pgn
import pytest
import torch
from conftest import save_tiny_model

from chessformer import cli
from chessformer.arena.match import (
    MatchConfig,
    game_seed,
    load_openings,
    main,
    schedule,
)
from chessformer.arena.results import read_results
from chessformer.arena.stockfish import EngineNotFoundError, find_stockfish

STOCKFISH = shutil.which("stockfish") or "/usr/games/stockfish"
HAVE_STOCKFISH = os.access(STOCKFISH, os.X_OK)
FAKE = Path(__file__).parent / "data" / "fake_uci_engine.py"


@pytest.fixture(scope="module")
def move_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_model(tmp_path_factory.mktemp("move-model"), "move")


@pytest.fixture(scope="module")
def char_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_model(tmp_path_factory.mktemp("char-model"), "char", block_size=512)


@pytest.fixture(autouse=True)
def _keep_torch_threads() -> Iterator[None]:
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An executable 'stockfish' running the fake engine with this interpreter."""
    path = tmp_path / "fakefish"
    path.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE}" "$@"\n')
    path.chmod(0o755)
    monkeypatch.setenv("FAKE_UCI_MARKER", str(tmp_path / "fault-happened"))
    return path


def _args(model: Path, out: Path, *extra: str) -> list[str]:
    return ["--model", str(model), "--out", str(out), "--no-progress", "--no-report", *extra]


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def check_files(out: Path) -> list[dict]:
    """games.jsonl and games.pgn agree game by game; every PGN game replays legally in
    python-chess and its end is what the JSONL says. Returns the JSONL objects."""
    records = read_results(out / "games.jsonl")
    raw = _lines(out / "games.jsonl")
    assert len(raw) == len(records)
    keys = [(r["temperature"], r["opponent_level"], r["game_index"]) for r in raw]
    assert len(set(keys)) == len(keys), "a game was recorded twice"
    pgn = io.StringIO((out / "games.pgn").read_text())
    games = []
    while (game := chess.pgn.read_game(pgn)) is not None:
        games.append(game)
    assert len(games) == len(raw)
    for game, rec in zip(games, raw, strict=True):
        assert not game.errors, game.errors
        h = game.headers
        assert (float(h["Temperature"]), int(h["GameIndex"])) == (
            rec["temperature"],
            rec["game_index"],
        )
        assert h["Result"] == rec["result"]
        assert h["Termination"] == rec["termination"]
        assert int(h["Seed"]) == rec["seed"]
        model_side = h["White"] if rec["model_color"] == "white" else h["Black"]
        assert model_side.startswith(rec["model"])
        for tag in ("Event", "Site", "Date", "Round", "ModelPath", "Decoding"):
            assert h[tag] not in ("", "?")
        board = game.board()
        for move in game.mainline_moves():
            assert board.is_legal(move)
            board.push(move)
        assert [m.uci() for m in board.move_stack] == rec["moves"].split()
        assert int(h["PlyCount"]) == rec["plies"] == len(board.move_stack) - rec["opening_plies"]
        term = rec["termination"]
        if term == "checkmate":
            assert board.is_checkmate()
            assert rec["result"] == ("0-1" if board.turn == chess.WHITE else "1-0")
        elif term == "move_limit":
            assert rec["result"] == "1/2-1/2" and not board.is_game_over()
        elif term in (
            "stalemate",
            "insufficient_material",
            "fivefold_repetition",
            "seventyfive_moves",
        ):
            assert board.is_game_over() and rec["result"] == "1/2-1/2"
        elif term == "illegal_moves":
            assert rec["score"] == 0.0 and not board.is_game_over()
    return raw


def test_subcommand_registered() -> None:
    assert cli.SUBCOMMANDS["match"][0] == "chessformer.arena.match"


def test_missing_stockfish_says_how_to_install(move_model: Path, tmp_path: Path) -> None:
    with pytest.raises(EngineNotFoundError, match="apt-get install stockfish"):
        find_stockfish(str(tmp_path / "no-such-stockfish"))


def test_missing_stockfish_cli(
    move_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = main(_args(move_model, tmp_path / "m", "--stockfish", str(tmp_path / "nope")))
    assert rc == 2
    assert "apt-get install stockfish" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--max-moves", "-1", "--max-moves must be >= 0 (0: no limit), got -1"),
        ("--games", "0", "--games must be >= 1, got 0"),
        ("--movetime", "-0.5", "--movetime must be > 0, got -0.5"),
        ("--movetime", "0", "--movetime must be > 0, got 0.0"),
        ("--movetime", "nan", "--movetime must be > 0, got nan"),
        ("--nodes", "0", "--nodes must be >= 1, got 0"),
        ("--depth", "-3", "--depth must be >= 1, got -3"),
        ("--hash", "0", "--hash must be >= 1 (MB), got 0"),
        ("--opening-plies", "-2", "--opening-plies must be >= 0, got -2"),
        ("--random-plies", "-1", "--random-plies must be >= 0, got -1"),
        ("--resign-moves", "-1", "--resign-moves must be >= 0 (0: off), got -1"),
        ("--resign-score", "-100", "--resign-score must be >= 1 (centipawns), got -100"),
        ("--draw-moves", "-4", "--draw-moves must be >= 0 (0: off), got -4"),
        ("--draw-score", "-1", "--draw-score must be >= 0 (centipawns), got -1"),
        ("--draw-after", "-1", "--draw-after must be >= 0, got -1"),
        ("--concurrency", "0", "--concurrency must be >= 1, got 0"),
        ("--concurrency", "-4", "--concurrency must be >= 1, got -4"),
        ("--batch-window", "-1", "--batch-window must be >= 0 (milliseconds), got -1.0"),
        ("--batch-window", "inf", "--batch-window must be >= 0 (milliseconds), got inf"),
        ("--model-threads", "0", "--model-threads must be >= 1, got 0"),
        ("--engine-timeout", "-1", "--engine-timeout must be >= 0 (0: the default), got -1.0"),
        ("--max-retries", "-1", "--max-retries must be >= 0, got -1"),
        ("--uci-elo", "1500,-1", "--uci-elo values must be >= 1, got (1500, -1)"),
        ("--stockfish-levels", "1,1", "repeated level in (1, 1)"),
        ("--temperatures", "1.0,1", "repeated temperature in (1.0, 1.0)"),
        (
            "--games",
            "10000000",
            "--games 10000000 x 3 levels x 8 temperatures is 240,000,000 games; one match "
            "plays at most 10,000,000 (the schedule is held in memory)",
        ),
        ("--random-plies", "1000000", "--random-plies must be <= 200, got 1000000"),
    ],
)
def test_bad_numbers_are_refused_before_anything_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], option: str, value: str, message: str
) -> None:
    """Checked before the model is loaded or Stockfish started (neither exists here), and before
    anything is written: `--max-moves -1` used to record every game as a 0-ply move-limit draw."""
    out = tmp_path / "m"
    argv = ["--model", str(tmp_path / "no-model"), "--stockfish", str(tmp_path / "no-sf")]
    assert main([*argv, "--out", str(out), "--no-progress", option, value]) == 2
    err = capsys.readouterr().err
    assert err == f"chessformer match: error: {message}\n"
    assert not out.exists()


def test_level_range_is_checked_before_the_anchor_note(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--model", str(tmp_path / "no-model"), "--out", str(tmp_path / "m")]
    assert main([*argv, "--stockfish-levels", "25"]) == 2
    assert main([*argv, "--stockfish-levels", "0,25"]) == 2
    err = capsys.readouterr().err
    assert "no rating anchor" not in err
    assert err.count("Skill Levels are 0..20") == 2


def test_schedule_colours_seeds_and_indices() -> None:
    cfg = MatchConfig("m", "m", temperatures=(0.1, 1.0), games=4, levels=(1, 3))
    specs = schedule(cfg, [])
    assert len(specs) == 16
    for t in (0.1, 1.0):
        series = [s for s in specs if s.temperature == t]
        assert sorted(s.game_index for s in series) == list(range(8))
        for s in series:
            assert s.model_white == (s.round % 2 == 0)
            assert s.seed == game_seed(0, t, s.level, s.round)
    assert len({s.seed for s in specs}) == 16
    # --games may grow without moving earlier games' indices
    more = schedule(MatchConfig("m", "m", temperatures=(0.1, 1.0), games=6, levels=(1, 3)), [])
    assert {s.key for s in specs} <= {s.key for s in more}


@pytest.mark.stockfish
@pytest.mark.skipif(not HAVE_STOCKFISH, reason=f"Stockfish not found at {STOCKFISH}")
def test_real_match_end_to_end(
    move_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "m"
    argv = ["--model", str(move_model), "--out", str(out), "--no-progress"]
    argv += ["--stockfish-levels", "1", "--nodes", "1", "--games", "4"]
    argv += ["--temperatures", "0.5,1.0", "--concurrency", "2", "--stockfish", STOCKFISH]
    assert main(argv) == 0
    raw = check_files(out)
    assert len(raw) == 8
    assert {(r["temperature"], r["game_index"]) for r in raw} == {
        (t, i) for t in (0.5, 1.0) for i in range(4)
    }
    assert all(r["stockfish"].startswith("Stockfish") and r["nodes"] == 1 for r in raw)
    assert all(r["model_color"] == ("white" if r["round"] % 2 == 0 else "black") for r in raw)
    meta = json.loads((out / "match.json").read_text())
    assert meta["config"]["levels"] == [1] and meta["config"]["max_moves"] == 89
    cap = capsys.readouterr()
    assert "| move-model0 | 0.5 | 4 |" in cap.out  # the report table
    assert "wall / (Stockfish time / 2)" in cap.err
    # the same command again plays nothing and duplicates nothing
    assert main([*argv, "--no-report"]) == 0
    assert "already" in capsys.readouterr().err
    assert len(check_files(out)) == 8


@pytest.mark.stockfish
@pytest.mark.skipif(not HAVE_STOCKFISH, reason=f"Stockfish not found at {STOCKFISH}")
def test_resume_after_sigkill(move_model: Path, tmp_path: Path) -> None:
    out = tmp_path / "m"
    argv = _args(move_model, out, "--stockfish-levels", "1", "--movetime", "0.01")
    argv += ["--games", "8", "--temperatures", "0.5,1.0", "--concurrency", "2"]
    argv += ["--stockfish", STOCKFISH]
    log = open(tmp_path / "first-run.log", "wb")  # noqa: SIM115 - closed after the kill
    proc = subprocess.Popen(
        [sys.executable, "-m", "chessformer", "match", *argv],
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    results = out / "games.jsonl"
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline and proc.poll() is None:
        if results.exists() and results.read_text().count("\n") >= 3:
            break
        time.sleep(0.02)
    assert proc.poll() is None, (tmp_path / "first-run.log").read_text()
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    log.close()
    before = results.read_text()
    n_before = before.count("\n")
    assert 3 <= n_before < 16
    # what a kill in the middle of the writes would leave: half a JSON line, half a PGN game
    with open(results, "a") as f:
        f.write('{"format_version": 1, "model": "mo')
    with open(out / "games.pgn", "a") as f:
        f.write('[Event "chessformer match"]\n[Site "x"]\n\n1. e4 e5 2.')

    assert main(argv) == 0
    raw = check_files(out)
    assert len(raw) == 16
    assert results.read_text().startswith(before)  # earlier games untouched, none replayed
    assert {(r["temperature"], r["game_index"]) for r in raw} == {
        (t, i) for t in (0.5, 1.0) for i in range(8)
    }


def test_other_configuration_is_refused(
    move_model: Path, fake: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "m"
    argv = _args(move_model, out, "--stockfish", str(fake), "--stockfish-levels", "1")
    argv += ["--games", "2", "--temperatures", "1.0", "--concurrency", "2", "--nodes", "1"]
    assert main(argv) == 0
    capsys.readouterr()
    assert main([*argv, "--max-moves", "50"]) == 2
    err = capsys.readouterr().err
    assert "max_moves: 89 there, 50 now" in err and "--force" in err
    # the schedule may change: more games and another temperature
    assert main([*argv[:-4], "--games", "4", "--temperatures", "1.0,0.3", "--nodes", "1"]) == 0
    assert len(check_files(out)) == 8
    assert main([*argv, "--max-moves", "50", "--force"]) == 0  # nothing left to play


def test_stockfish_crash_costs_one_replay(
    move_model: Path, fake: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_UCI_FAULT", "crash")
    monkeypatch.setenv("FAKE_UCI_AT", "4")
    out = tmp_path / "m"
    argv = _args(move_model, out, "--stockfish", str(fake), "--stockfish-levels", "1")
    argv += ["--games", "4", "--temperatures", "1.0", "--concurrency", "2", "--nodes", "1"]
    assert main(argv) == 0
    assert (tmp_path / "fault-happened").exists()
    raw = check_files(out)
    assert len(raw) == 4
    assert sorted(r["retries"] for r in raw) == [0, 0, 0, 1]
    run = _lines(out / "runs.jsonl")[-1]
    assert run["retries"] == 1 and run["errors"] == 0


def test_stockfish_hang_costs_one_replay(
    move_model: Path, fake: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_UCI_FAULT", "hang")
    monkeypatch.setenv("FAKE_UCI_AT", "2")
    out = tmp_path / "m"
    argv = _args(move_model, out, "--stockfish", str(fake), "--stockfish-levels", "1")
    argv += ["--games", "2", "--temperatures", "1.0", "--concurrency", "2", "--nodes", "1"]
    t = time.monotonic()
    assert main([*argv, "--engine-timeout", "1"]) == 0
    assert time.monotonic() - t < 20
    raw = check_files(out)
    assert sorted(r["retries"] for r in raw) == [0, 1]


def test_failing_games_go_to_errors_and_rerun_retries_them(
    move_model: Path,
    fake: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "m"
    argv = _args(move_model, out, "--stockfish", str(fake), "--stockfish-levels", "1,2")
    argv += ["--games", "2", "--temperatures", "1.0", "--concurrency", "2", "--nodes", "1"]
    monkeypatch.setenv("FAKE_UCI_CRASH_LEVEL", "2")  # every level-2 search crashes
    assert main([*argv, "--max-retries", "1"]) == 1
    assert "rerun the same command to retry them" in capsys.readouterr().err
    raw = check_files(out)
    assert sorted(r["opponent_level"] for r in raw) == [1, 1]  # level 1 unaffected
    errors = _lines(out / "errors.jsonl")
    assert sorted((e["level"], e["round"], e["tries"]) for e in errors) == [(2, 0, 2), (2, 1, 2)]
    monkeypatch.delenv("FAKE_UCI_CRASH_LEVEL")
    assert main(argv) == 0
    assert sorted(r["opponent_level"] for r in check_files(out)) == [1, 1, 2, 2]


def test_move_limit_is_a_draw(move_model: Path, fake: Path, tmp_path: Path) -> None:
    out = tmp_path / "m"
    argv = _args(move_model, out, "--stockfish", str(fake), "--stockfish-levels", "1")
    argv += ["--games", "4", "--temperatures", "0.001,1.0", "--concurrency", "2", "--nodes", "1"]
    assert main(argv) == 0
    raw = check_files(out)
    # the paper's harness: a game still running after full move 90 is a draw; none goes longer
    assert all(r["plies"] <= 180 for r in raw)
    limited = [r for r in raw if r["termination"] == "move_limit"]
    assert limited and all(r["plies"] == 180 for r in limited)
    short = tmp_path / "short"
    assert main(_args(move_model, short, *argv[6:], "--max-moves", "5")) == 0
    assert all(r["plies"] == 12 or r["termination"] != "move_limit" for r in check_files(short))


def test_level_without_anchor_is_played_but_not_rated(
    move_model: Path, fake: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "m"
    argv = _args(move_model, out, "--stockfish", str(fake), "--stockfish-levels", "0,1")
    argv += ["--games", "2", "--temperatures", "1.0", "--nodes", "1", "--max-moves", "6"]
    assert main(argv) == 0
    assert "Skill Level 0 has no rating anchor" in capsys.readouterr().err
    raw = check_files(out)
    assert sorted(r["opponent_level"] for r in raw) == [0, 0, 1, 1]
    assert {r["opponent_level"]: r["opponent_rating"] for r in raw} == {0: None, 1: 1554.0}
    pgn = (out / "games.pgn").read_text()
    assert pgn.count("[OpponentRating ") == 2
    assert json.loads((out / "match.json").read_text())["config"]["anchors"] == {"1": 1554.0}


def test_resign_adjudication(
    move_model: Path, fake: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_UCI_SCORE", "2500")
    out = tmp_path / "m"
    argv = _args(move_model, out, "--stockfish", str(fake), "--stockfish-levels", "1")
    argv += ["--games", "2", "--temperatures", "1.0", "--nodes", "1", "--resign-moves", "3"]
    assert main(argv) == 0
    raw = check_files(out)
    assert all(r["termination"] == "adjudication_resign" and r["score"] == 0.0 for r in raw)
    assert sorted(r["plies"] for r in raw) == [5, 6]  # Stockfish's third move ends each game


def test_games_do_not_depend_on_batching(move_model: Path, fake: Path, tmp_path: Path) -> None:
    """Each game samples from its own seeded generator: the same moves alone or batched."""
    runs = []
    for n, window in (("1", "0"), ("3", "0"), ("3", "20")):
        out = tmp_path / f"{n}-{window}"
        argv = _args(move_model, out, "--stockfish", str(fake), "--stockfish-levels", "1")
        argv += ["--games", "3", "--temperatures", "1.0,1.5", "--concurrency", n, "--nodes", "1"]
        assert main([*argv, "--max-moves", "20", "--batch-window", window]) == 0
        runs.append({(r["temperature"], r["game_index"]): r["moves"] for r in check_files(out)})
    assert runs[0] == runs[1] == runs[2]
    assert len(set(runs[0].values())) == 6


def test_char_model_paper_and_masked_decoding(char_model: Path, fake: Path, tmp_path: Path) -> None:
    common = ["--stockfish", str(fake), "--stockfish-levels", "1", "--nodes", "1"]
    common += ["--games", "2", "--temperatures", "1.0", "--concurrency", "2"]
    paper = tmp_path / "paper"
    assert main(_args(char_model, paper, *common, "--decoding", "paper")) == 0
    raw = check_files(paper)
    # random characters never spell a legal move in 5 tries: the model loses at its first turn
    assert all(r["termination"] == "illegal_moves" and r["score"] == 0.0 for r in raw)
    assert sorted(r["plies"] for r in raw) == [0, 1]
    assert all(r["decoding"] == "paper" and r["model_resamples"] == 4 for r in raw)
    masked = tmp_path / "masked"
    assert main(_args(char_model, masked, *common, "--max-moves", "10")) == 0
    assert all(r["plies"] > 10 for r in check_files(masked))


def test_openings_from_pgn_and_epd(move_model: Path, fake: Path, tmp_path: Path) -> None:
    pgn = tmp_path / "book.pgn"
    pgn.write_text(
        '[Event "a"]\n\n1. e4 {best by test} e5 (1... c5 2. Nf3) 2. Nf3 $1 Nc6 *\n\n'
        '[Event "b"]\n[FEN "rnbqkbnr/pppppppp/8/8/3P4/8/PPP1PPPP/RNBQKBNR b KQkq - 0 1"]\n\n'
        "1... d5 2. c4 1-0\n"
    )
    ops = load_openings(pgn)
    assert [o.moves for o in ops] == [("e2e4", "e7e5", "g1f3", "b8c6"), ("d7d5", "c2c4")]
    assert ops[0].start_fen is None and ops[1].start_fen is not None
    epd = tmp_path / "book.epd"
    epd.write_text('rnbqkbnr/pppppppp/8/8/4P3/8/PPPP1PPP/RNBQKBNR b KQkq - id "e4";\n')
    assert load_openings(epd)[0].start_fen == (
        "rnbqkbnr/pppppppp/8/8/4P3/8/PPPP1PPP/RNBQKBNR b KQkq - 0 1"
    )
    out = tmp_path / "m"
    argv = _args(move_model, out, "--stockfish", str(fake), "--stockfish-levels", "1")
    argv += ["--games", "4", "--temperatures", "1.0", "--nodes", "1", "--openings", str(pgn)]
    assert main([*argv, "--max-moves", "15"]) == 0
    raw = sorted(check_files(out), key=lambda r: r["round"])
    # games 2j and 2j+1 play opening j with the colours swapped
    assert [r["model_color"] for r in raw] == ["white", "black", "white", "black"]
    assert all(r["moves"].startswith("e2e4 e7e5 g1f3 b8c6 ") for r in raw[:2])
    assert all(r["start_fen"] and r["moves"].startswith("d7d5 c2c4 ") for r in raw[2:])


def test_random_opening_plies_shared_by_pairs(move_model: Path, fake: Path, tmp_path: Path) -> None:
    out = tmp_path / "m"
    argv = _args(move_model, out, "--stockfish", str(fake), "--stockfish-levels", "1")
    argv += ["--games", "4", "--temperatures", "1.0", "--nodes", "1", "--random-plies", "6"]
    assert main([*argv, "--max-moves", "10"]) == 0
    raw = sorted(check_files(out), key=lambda r: r["round"])
    starts = [tuple(r["moves"].split()[:6]) for r in raw]
    assert all(r["opening_plies"] == 6 for r in raw)
    assert starts[0] == starts[1] != starts[2] == starts[3]


def test_pgn_is_repaired_from_the_jsonl(move_model: Path, fake: Path, tmp_path: Path) -> None:
    from chessformer.arena.pgn_file import sync_pgn
    from chessformer.arena.results import read_result_lines

    out = tmp_path / "m"
    argv = _args(move_model, out, "--stockfish", str(fake), "--stockfish-levels", "1")
    argv += ["--games", "4", "--temperatures", "1.0", "--nodes", "1", "--max-moves", "10"]
    assert main(argv) == 0
    pgn = out / "games.pgn"
    good = pgn.read_bytes()
    raw = [obj for _, obj in read_result_lines(out / "games.jsonl")]
    last = good.rfind(b'[Event "')
    for broken in (
        good[:last],  # killed between the JSONL and the PGN write
        good[: last + 40],  # killed in the middle of the PGN write
        good + b'[Event "x"]\n',  # a game the JSONL does not have
        good.replace(b'[GameIndex "1"]', b'[GameIndex "7"]'),  # disagreeing games
        b"",
    ):
        pgn.write_bytes(broken)
        sync_pgn(pgn, raw)
        assert pgn.read_bytes() == good
