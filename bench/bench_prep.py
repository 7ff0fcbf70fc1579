"""PGN parse + SAN replay + tokenize throughput of `prep` against peers, in one run.

    python bench/bench_prep.py [--lichess-games 30000] [--pychess-games 300]

Files (made once under /tmp/chessformer-bench): the GNU Chess book corpus decompressed (plain PGN)
and a Lichess-format file rewritten from it by `chessformer lichess-sample`. Measured on each:
ours (`_core.prep_chunk`, move tokenizer, 1 and 2 threads, from memory), python-chess
`chess.pgn.read_game` (a subset, extrapolated per MB), Debian's `pgn-extract -s -o /dev/null`, and
the PyPI peers of ../shared/PEERS.md that install under Python 3.13 (rust-pgn-reader-python-binding,
bulletchess). Then the whole GNU corpus -> `move` shards with `chessformer prep --workers 2`.
Ratios are printed; results go to bench/results/prep-cpu.json.
"""

from __future__ import annotations

import argparse
import io
import itertools
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import zstandard

from chessformer import _core

GNU = Path(__file__).resolve().parents[2] / "shared" / "data" / "gnuchess-book-1.02.pgn.zst"
WORK = Path("/tmp/chessformer-bench")
PY313 = "/root/.pyenv/versions/3.13.0/bin/python"
VENV = Path("/tmp/v313")


def ours(data: bytes, threads: int, tokenizer: str = "move", repeat: int = 3) -> dict[str, float]:
    cuts = [0]
    for i in range(1, threads):
        cuts.append(data.index(b'\n[Event "', len(data) * i // threads) + 1)
    cuts.append(len(data))
    parts = [
        (memoryview(data)[a:b], i + 2 < len(cuts), a)
        for i, (a, b) in enumerate(itertools.pairwise(cuts))
    ]
    best = float("inf")
    plies = games = 0
    with ThreadPoolExecutor(threads) as pool:
        for _ in range(repeat):
            t0 = time.perf_counter()
            outs = list(
                pool.map(
                    lambda p: _core.prep_chunk(p[0], p[1], p[2], tokenizer, keep_unfinished=True),
                    parts,
                )
            )
            best = min(best, time.perf_counter() - t0)
            plies = sum(o["stats"]["plies_replayed"] for o in outs)
            games = sum(o["stats"]["games"] for o in outs)
    return {
        "seconds": best,
        "mb_s": len(data) / best / 1e6,
        "plies_s": plies / best,
        "games": games,
        "plies": plies,
    }


def python_chess(path: Path, n_games: int) -> dict[str, float] | None:
    try:
        import chess.pgn
    except ImportError:
        return None
    raw = path.read_bytes()
    # the first n_games games, as text
    cut, k = 0, 0
    while k < n_games:
        nxt = raw.find(b'\n[Event "', cut + 1)
        if nxt < 0:
            break
        cut, k = nxt, k + 1
    sub = raw[: cut + 1]
    f = io.StringIO(sub.decode("utf-8", errors="replace"))
    t0 = time.perf_counter()
    plies = 0
    while (g := chess.pgn.read_game(f)) is not None:
        plies += sum(1 for _ in g.mainline_moves())
    dt = time.perf_counter() - t0
    return {
        "seconds_subset": dt,
        "subset_bytes": len(sub),
        "mb_s": len(sub) / dt / 1e6,
        "plies_s": plies / dt,
    }


def pgn_extract(path: Path) -> dict[str, float] | None:
    exe = shutil.which("pgn-extract") or shutil.which("pgn-extract", path="/usr/games")
    if exe is None:
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "pgn-extract"],
            capture_output=True,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )
        exe = shutil.which("pgn-extract") or shutil.which("pgn-extract", path="/usr/games")
    if exe is None:
        return None
    t0 = time.perf_counter()
    subprocess.run([exe, "-s", "-o", "/dev/null", str(path)], capture_output=True, check=False)
    dt = time.perf_counter() - t0
    return {"seconds": dt, "mb_s": path.stat().st_size / dt / 1e6}


PEER_SCRIPT = r"""
import json, sys, time
path, which = sys.argv[1], sys.argv[2]
raw = open(path, "rb").read()
text = raw.decode("utf-8", errors="replace")
out = {}
if which == "rust":
    import rust_pgn_reader_python_binding as r
    games, i = [], 0
    starts = [0]
    while True:
        j = text.find('\n[Event "', starts[-1] + 1)
        if j < 0: break
        starts.append(j + 1)
    games = [text[a:b] for a, b in zip(starts, starts[1:] + [len(text)])]
    for threads in (1, 2):
        t0 = time.perf_counter()
        res = r.parse_games_from_strings(games, num_threads=threads)
        dt = time.perf_counter() - t0
        out[f"threads{threads}"] = {"seconds": dt, "mb_s": len(raw) / dt / 1e6}
elif which == "bullet":
    from bulletchess.pgn import PGNFile
    t0 = time.perf_counter()
    n = 0
    with PGNFile.open(path) as f:
        while True:
            g = f.next_game()
            if g is None: break
            n += 1
    dt = time.perf_counter() - t0
    out = {"seconds": dt, "mb_s": len(raw) / dt / 1e6, "games": n}
print(json.dumps(out))
"""


def pypi_peer(which: str, package: str, path: Path) -> dict[str, Any] | None:
    if not Path(PY313).exists():
        return None
    py = VENV / "bin" / "python"
    if not py.exists():
        subprocess.run([PY313, "-m", "venv", str(VENV)], capture_output=True)
    mod = {"rust": "rust_pgn_reader_python_binding", "bullet": "bulletchess"}[which]
    if subprocess.run([str(py), "-c", f"import {mod}"], capture_output=True).returncode:
        subprocess.run([str(py), "-m", "pip", "install", "-q", package], capture_output=True)
    r = subprocess.run(
        [str(py), "-c", PEER_SCRIPT, str(path), which], capture_output=True, text=True, timeout=600
    )
    if r.returncode:
        return {"error": r.stderr.strip().splitlines()[-1] if r.stderr.strip() else "failed"}
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lichess-games", type=int, default=30000)
    ap.add_argument("--pychess-games", type=int, default=300)
    ap.add_argument("--no-peers", action="store_true")
    args = ap.parse_args()
    WORK.mkdir(exist_ok=True)
    plain = WORK / "gnu.pgn"
    if not plain.exists():
        plain.write_bytes(zstandard.ZstdDecompressor().decompressobj().decompress(GNU.read_bytes()))
    lichess = WORK / f"lichess-gnu-{args.lichess_games}.pgn"
    if not lichess.exists():
        subprocess.run(
            [
                sys.executable,
                "-m",
                "chessformer",
                "lichess-sample",
                str(GNU),
                "--out",
                str(lichess),
                "--seed",
                "1",
                "--max-games",
                str(args.lichess_games),
            ],
            check=True,
        )
    results: dict[str, Any] = {
        "machine": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "files": {},
    }
    for label, path in (("lichess", lichess), ("gnu_plain", plain)):
        data = path.read_bytes()
        r: dict[str, Any] = {"path": str(path), "mb": len(data) / 1e6}
        r["ours_1t"] = ours(data, 1)
        r["ours_2t"] = ours(data, 2)
        r["ours_1t_char"] = ours(data, 1, "char", repeat=1)
        r["python_chess"] = python_chess(path, args.pychess_games)
        if not args.no_peers:
            r["pgn_extract"] = pgn_extract(path)
            r["rust_pgn_reader"] = pypi_peer("rust", "rust-pgn-reader-python-binding==4.1.0", path)
            r["bulletchess"] = pypi_peer("bullet", "bulletchess==0.4.0", path)
        one = r["ours_1t"]["mb_s"]
        r["ratios"] = {"2t_over_1t": r["ours_2t"]["mb_s"] / one}
        for peer in ("python_chess", "pgn_extract", "bulletchess"):
            p = r.get(peer)
            if p and "mb_s" in p:
                r["ratios"][f"ours_1t_over_{peer}"] = one / p["mb_s"]
        rp = r.get("rust_pgn_reader")
        if rp and "threads1" in rp:
            r["ratios"]["ours_1t_over_rust_1t"] = one / rp["threads1"]["mb_s"]
            r["ratios"]["ours_2t_over_rust_2t"] = r["ours_2t"]["mb_s"] / rp["threads2"]["mb_s"]
        results["files"][label] = r
        print(f"== {label}: {r['mb']:.1f} MB")
        print(f"  ours 1 thread : {one:7.1f} MB/s {r['ours_1t']['plies_s'] / 1e6:6.2f}M plies/s")
        print(
            f"  ours 2 threads: {r['ours_2t']['mb_s']:7.1f} MB/s "
            f"{r['ours_2t']['plies_s'] / 1e6:6.2f}M plies/s"
        )
        print(f"  ours 1t char  : {r['ours_1t_char']['mb_s']:7.1f} MB/s")
        for k, v in r["ratios"].items():
            print(f"  {k}: {v:.2f}x")
        for peer in ("python_chess", "pgn_extract", "rust_pgn_reader", "bulletchess"):
            if peer in r:
                print(f"  {peer}: {r[peer]}")
    # the whole GNU corpus -> move shards, 2 workers, wall clock of the CLI
    out = WORK / "gnu-move"
    t0 = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "chessformer",
            "prep",
            str(GNU),
            "--out",
            str(out),
            "--tokenizer",
            "move",
            "--workers",
            "2",
            "--force",
            "--quiet",
        ],
        check=True,
    )
    results["gnu_to_move_shards_2workers_s"] = time.perf_counter() - t0
    print(
        f"== GNU corpus -> move shards (CLI, 2 workers): "
        f"{results['gnu_to_move_shards_2workers_s']:.2f} s"
    )
    dest = Path(__file__).parent / "results" / "prep-cpu.json"
    dest.parent.mkdir(exist_ok=True)
    dest.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
