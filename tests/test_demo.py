"""`chessformer demo`: the README's main job, end to end against real Stockfish."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import save_tiny_model

STOCKFISH = shutil.which("stockfish") or "/usr/games/stockfish"
CLI = [sys.executable, "-m", "chessformer"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_model(tmp_path_factory.mktemp("run_dir"))


def test_demo_without_stockfish_says_how_to_install(run_dir: Path, tmp_path: Path) -> None:
    cmd = [*CLI, "demo", "--model", str(run_dir), "--out", str(tmp_path / "d")]
    cmd += ["--stockfish", str(tmp_path / "no-such-stockfish")]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "apt-get install -y stockfish" in proc.stderr


def test_demo_without_model_explains(tmp_path: Path) -> None:
    proc = subprocess.run(
        [*CLI, "demo", "--model", str(tmp_path / "missing"), "--out", str(tmp_path / "d")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and "does not exist" in proc.stderr


@pytest.mark.stockfish
@pytest.mark.skipif(not os.path.exists(STOCKFISH), reason="stockfish not installed")
def test_demo_plays_and_prints_the_table(run_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "demo"
    cmd = [*CLI, "demo", "--model", str(run_dir), "--out", str(out)]
    cmd += ["--games", "2", "--movetime", "0.02", "--concurrency", "2"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "| model | τ |" in proc.stdout and "Glicko-2" in proc.stdout
    games = [json.loads(line) for line in (out / "games.jsonl").read_text().splitlines()]
    assert len(games) == 4
    assert sorted({g["temperature"] for g in games}) == [0.001, 1.0]
    assert sorted(g["model_color"] for g in games) == ["black", "black", "white", "white"]
    # rerunning resumes: nothing left to play
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0
    assert len((out / "games.jsonl").read_text().splitlines()) == 4
