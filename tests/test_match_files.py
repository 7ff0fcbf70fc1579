"""`chessformer match` and `report` on hostile folders and files (issue 18: items 5, 6, 8;
issue 17: errors, not tracebacks): what the match owns, damaged results, resources.

The engine is tests/data/fake_uci_engine.py (deterministic, instant); the model a tiny
random-weight checkpoint.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest
import torch
from conftest import save_tiny_model

from chessformer.arena import match as match_module
from chessformer.arena import report
from chessformer.arena.config import MatchConfig
from chessformer.arena.match import concurrency_cap, main
from chessformer.arena.results import (
    GameRecord,
    ResultsFormatError,
    append_result,
    read_results,
)

FAKE = Path(__file__).parent / "data" / "fake_uci_engine.py"
STOCKFISH = shutil.which("stockfish") or "/usr/games/stockfish"


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_model(tmp_path_factory.mktemp("move-model"), "move")


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "fakefish"
    path.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE}" "$@"\n')
    path.chmod(0o755)
    monkeypatch.setenv("FAKE_UCI_MARKER", str(tmp_path / "fault-happened"))
    n = torch.get_num_threads()
    yield path
    torch.set_num_threads(n)


def _argv(model: Path, fake: Path, out: Path, *extra: str) -> list[str]:
    common = ["--stockfish-levels", "1", "--games", "2", "--temperatures", "1.0", "--nodes", "1"]
    return [
        *("--model", str(model), "--out", str(out), "--no-progress", "--stockfish", str(fake)),
        *common,
        *("--max-moves", "8", *extra),
    ]


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


# ---- the match folder: refuse what is not ours -----------------------------------------------
def _users_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "mine"
    (folder / "report").mkdir(parents=True)
    (folder / "games.pgn").write_text('[Event "my own game"]\n\n1. e4 e5 *\n\n')
    (folder / "report" / "ratings.md").write_text("my notes\n")
    return folder


def test_a_folder_that_is_not_a_match_folder_is_refused(
    model: Path, fake: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _users_folder(tmp_path)
    before = _snapshot(folder)
    assert main(_argv(model, fake, folder)) == 2
    err = capsys.readouterr().err
    assert "not a match folder" in err and "--force" in err
    assert _snapshot(folder) == before


def test_force_never_overwrites_files_the_match_did_not_write(
    model: Path, fake: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _users_folder(tmp_path)
    before = _snapshot(folder)
    assert main(_argv(model, fake, folder, "--force")) == 2
    err = capsys.readouterr().err
    assert "games.pgn" in err and "report/ratings.md" in err
    assert _snapshot(folder) == before
    for name in ("errors.jsonl", "runs.jsonl"):  # relatives: every file the match appends to
        other = tmp_path / name
        other.mkdir()
        (other / name).write_text("mine\n")
        assert main(_argv(model, fake, other, "--force")) == 2
        assert (other / name).read_text() == "mine\n" and not (other / "match.json").exists()


def test_force_adds_a_match_beside_unrelated_files(
    model: Path, fake: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me")
    assert main(_argv(model, fake, folder, "--no-report")) == 2
    assert main(_argv(model, fake, folder, "--no-report", "--force")) == 0
    assert (folder / "notes.txt").read_text() == "keep me"
    assert len(read_results(folder / "games.jsonl")) == 2
    # now it is a match folder: the same command resumes without --force
    assert main(_argv(model, fake, folder, "--no-report")) == 0
    assert "already" in capsys.readouterr().err


def test_another_programs_match_json_is_never_replaced(
    model: Path, fake: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "other"
    folder.mkdir()
    (folder / "match.json").write_text('{"format": "something else"}\n')
    for extra in ((), ("--force",)):
        assert main(_argv(model, fake, folder, *extra)) == 2
        assert "not a chessformer match file" in capsys.readouterr().err
    assert (folder / "match.json").read_text() == '{"format": "something else"}\n'
    assert sorted(p.name for p in folder.iterdir()) == ["match.json"]


def test_out_that_is_a_file(
    model: Path, fake: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "file"
    path.write_text("x")
    assert main(_argv(model, fake, path)) == 2
    assert "is a file, not a folder" in capsys.readouterr().err


# ---- damaged results files ----------------------------------------------------------------------
@pytest.fixture
def played(model: Path, fake: Path, tmp_path: Path) -> tuple[list[str], Path]:
    out = tmp_path / "m"
    argv = _argv(model, fake, out, "--no-report")
    assert main(argv) == 0
    return argv, out


def test_a_complete_last_record_without_newline_is_kept(
    played: tuple[list[str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    argv, out = played
    results = out / "games.jsonl"
    good = results.read_bytes()
    results.write_bytes(good.rstrip(b"\n"))
    capsys.readouterr()
    assert main(argv) == 0
    assert "all 2 games are already" in capsys.readouterr().err  # not replayed
    assert results.read_bytes() == good  # the newline is back, nothing else changed


def test_append_result_keeps_a_complete_unterminated_record(tmp_path: Path) -> None:
    recs = [
        GameRecord("m", 1.0, "stockfish", 1, 1554.0, "white", "1-0", 1.0, "checkmate", 9, 7, i)
        for i in range(3)
    ]
    path = tmp_path / "games.jsonl"
    path.write_text(recs[0].to_json() + "\n" + recs[1].to_json())
    append_result(path, recs[2])
    assert read_results(path) == recs
    path.write_text(recs[0].to_json() + "\n" + recs[1].to_json()[:-5])  # a partial write
    append_result(path, recs[2])
    assert read_results(path) == [recs[0], recs[2]]


def test_runs_and_errors_lines_never_glue_onto_a_partial_line(
    played: tuple[list[str], Path],
) -> None:
    argv, out = played
    runs = out / "runs.jsonl"
    runs.write_bytes(runs.read_bytes() + b'{"time": "2026-')  # someone else's partial line
    assert main([*argv, "--games", "4"]) == 0
    lines = runs.read_text().splitlines()
    assert lines[1] == '{"time": "2026-' and json.loads(lines[2])["games"] == 2


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (b'{"format_version": 1, "model": \n', "games.jsonl:3: not valid JSON"),
        (b'{"not": "a record"}\n', "games.jsonl:3: unknown format_version"),
        (b"\xff\xfe\n", "games.jsonl:3: not UTF-8 text"),
    ],
)
def test_a_bad_terminated_last_line_is_an_error_not_buried(
    played: tuple[list[str], Path],
    capsys: pytest.CaptureFixture[str],
    damage: bytes,
    message: str,
) -> None:
    """A bad line that ends in a newline was not left by a kill (each line is one write): the
    match and the report both refuse it, naming the file and line, and append nothing after
    it (the old runner appended games below it, and the file stayed unreadable)."""
    argv, out = played
    results = out / "games.jsonl"
    results.write_bytes(results.read_bytes() + damage)
    damaged = results.read_bytes()
    capsys.readouterr()
    assert main([*argv, "--games", "4"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("chessformer match: error: ") and message in err
    assert results.read_bytes() == damaged
    assert report.main([str(out)]) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_non_utf8_in_the_middle_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "games.jsonl"
    rec = GameRecord("m", 1.0, "stockfish", 1, 1554.0, "white", "1-0", 1.0, "checkmate", 9, 7, 0)
    path.write_bytes(b"\xc3\x28\n" + rec.to_json().encode() + b"\n")
    with pytest.raises(ResultsFormatError, match=r"games\.jsonl:1: not UTF-8 text"):
        read_results(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"format": "chessformer-match", "format_ver', "is not valid JSON"),  # truncated
        (b"\xff\xff", "is not UTF-8 text"),
        (b'{"format": "chessformer-match"}', "broken configuration"),
        (b'{"format": "chessformer-match", "config": {"games": "x", "bogus": 1}}', "broken"),
        (b"[1, 2]", "not a chessformer match file"),
    ],
)
def test_a_damaged_match_json_is_named(
    played: tuple[list[str], Path],
    capsys: pytest.CaptureFixture[str],
    content: bytes,
    message: str,
) -> None:
    argv, out = played
    (out / "match.json").write_bytes(content)
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("chessformer match: error: ") and "match.json" in err and message in err
    assert (out / "match.json").read_bytes() == content


@pytest.mark.stockfish
@pytest.mark.skipif(not os.access(STOCKFISH, os.X_OK), reason=f"Stockfish not found at {STOCKFISH}")
@pytest.mark.parametrize("elo", ["1000", "1500,3000"])
def test_uci_elo_outside_the_engines_range_is_refused(
    model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], elo: str
) -> None:
    """Stockfish ignores a `setoption` outside its range: the games would be played at another
    strength than the one recorded (Stockfish 15.1 advertises UCI_Elo 1350..2850)."""
    out = tmp_path / "m"
    argv = ["--model", str(model), "--out", str(out), "--stockfish", STOCKFISH, "--uci-elo", elo]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "calibrated UCI_Elo range 1350..2850" in err and not out.exists()


# ---- resources and devices -------------------------------------------------------------------
def test_concurrency_is_capped_by_cores_and_memory() -> None:
    by_time = MatchConfig("m", "m", movetime=0.1)
    by_nodes = MatchConfig("m", "m", movetime=None, nodes=100, hash_mb=16)
    assert concurrency_cap(by_time, 8, None)[0] == 8  # movetime: one Stockfish per core
    assert concurrency_cap(by_nodes, 8, None)[0] == 32
    cap, why = concurrency_cap(by_nodes, 8, 2000.0)  # 1000 MB usable, ~96 MB per game
    assert cap == 10 and "memory" in why
    big_hash = MatchConfig("m", "m", hash_mb=4096)
    assert concurrency_cap(big_hash, 64, 16000.0)[0] == 1


def test_concurrency_1000_is_capped_and_said(
    model: Path,
    fake: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(match_module, "_cores", lambda: 1)
    out = tmp_path / "m"
    argv = _argv(model, fake, out, "--no-report", "--concurrency", "1000", "--games", "6")
    assert main(argv) == 0
    assert "--concurrency 1000 capped at 4 (1 cores" in capsys.readouterr().err
    run = json.loads((out / "runs.jsonl").read_text().splitlines()[-1])
    assert run["concurrency"] == 4


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
@pytest.mark.parametrize(
    ("device", "message"),
    [
        ("cuda", "CUDA is not available here"),
        ("cuda:3", "CUDA is not available here"),
        ("bogus", "is not a device"),
    ],
)
def test_device_without_cuda_is_an_error(
    model: Path,
    fake: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    device: str,
    message: str,
) -> None:
    out = tmp_path / "m"
    assert main(_argv(model, fake, out, "--device", device)) == 2
    err = capsys.readouterr().err
    assert err.startswith("chessformer match: error: --device") and message in err
    assert not out.exists()


@pytest.mark.parametrize("kind", ["missing", "empty", "file"])
def test_report_on_a_missing_folder_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    path = tmp_path / "nowhere"
    if kind == "empty":
        path.mkdir()
    elif kind == "file":
        path.write_bytes(b"\x00\xff binary\n")
    assert report.main([str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("chessformer report: error: ") and "Errno" not in err
    assert str(path) in err
