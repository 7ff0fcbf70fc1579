"""`--ray ADDRESS`: games played on a local Ray cluster on loopback (skipped without Ray)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("ray")

from test_lab_generate import _check_games

STOCKFISH = shutil.which("stockfish") or "/usr/games/stockfish"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A one-node Ray cluster on 127.0.0.1, stopped with its process group at the end."""
    port = _free_port()
    temp = tmp_path_factory.mktemp("ray")
    ray = Path(sys.executable).with_name("ray")
    head = subprocess.Popen(
        [
            str(ray),
            *("start", "--head", "--block", "--node-ip-address=127.0.0.1", f"--port={port}"),
            *("--num-cpus=2", "--include-dashboard=false", "--disable-usage-stats"),
            f"--temp-dir={temp}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert head.poll() is None, "ray start exited"
            time.sleep(0.2)
        yield f"127.0.0.1:{port}"
    finally:
        os.killpg(head.pid, signal.SIGTERM)
        try:
            head.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
            head.wait()


@pytest.mark.skipif(not os.access(STOCKFISH, os.X_OK), reason="stockfish not installed")
def test_generate_on_ray_resumes_into_the_same_file(cluster: str, tmp_path: Path) -> None:
    out = tmp_path / "g.pgn.zst"
    cmd = [sys.executable, "-m", "chessformer", "lab", "generate", "--out", str(out), "--quiet"]
    cmd += ["--experts", "stockfish:depth=1,eps=0.5", "random", "--engines", "1", "--ray", cluster]
    cmd += ["--max-plies", "200"]
    subprocess.run([*cmd, "--games", "70"], check=True, timeout=180)
    _check_games(out, 70)
    subprocess.run([*cmd, "--games", "140"], check=True, timeout=180)
    games = _check_games(out, 140)
    assert {g.headers["White"] for g in games} == {"stockfish:depth=1,eps=0.5", "random"}
