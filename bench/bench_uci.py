"""Latency of `chessformer uci`: uci -> uciok, first bestmove after isready, later moves.

    python bench/bench_uci.py [--model PATH] [--moves 40] [--json bench/results/uci-cpu.json]

Goals (issue 6): uciok < 50 ms; first bestmove after isready < 2 s on CPU with the bundled
model; later moves < 30 ms each on CPU. The engine runs as a real subprocess.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

from chessformer._io import write_json


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None)
    ap.add_argument("--moves", type=int, default=40)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    cmd = [sys.executable, "-m", "chessformer", "uci"]
    if args.model:
        cmd += ["--model", args.model]
    proc = subprocess.Popen(
        cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1
    )
    assert proc.stdin and proc.stdout

    def send(line: str) -> None:
        assert proc.stdin
        proc.stdin.write(line + "\n")
        proc.stdin.flush()

    def until(prefix: str) -> str:
        assert proc.stdout
        for line in proc.stdout:
            if line.startswith(prefix):
                return line.strip()
        raise SystemExit(f"engine exited before {prefix!r}")

    # cold: from starting the process (interpreter start-up included) to uciok; warm: a second
    # uci -> uciok round trip once the process runs (what a GUI waits for after launching)
    until_start = time.perf_counter()
    send("uci")
    until("uciok")
    cold_ms = (time.perf_counter() - until_start) * 1000
    t = time.perf_counter()
    send("uci")
    until("uciok")
    uciok_ms = (time.perf_counter() - t) * 1000
    t = time.perf_counter()
    send("isready")
    until("readyok")
    load_s = time.perf_counter() - t
    import chess

    board = chess.Board()
    moves: list[str] = []
    times = []
    for i in range(args.moves):
        if board.is_game_over():
            break
        send("position startpos" + (" moves " + " ".join(moves) if moves else ""))
        t = time.perf_counter()
        send("go wtime 60000 btime 60000")
        best = until("bestmove").split()[1]
        times.append((time.perf_counter() - t) * 1000)
        board.push_uci(best)
        moves.append(best)
        if board.is_game_over():
            break
        reply = next(iter(board.legal_moves))  # a fixed opponent: the first legal move
        board.push(reply)
        moves.append(reply.uci())
        _ = i
    send("quit")
    proc.wait(timeout=30)
    result = {
        "benchmark": "uci-latency",
        "machine": platform.processor() or platform.machine(),
        "model": args.model or "bundled",
        "process_start_to_uciok_ms": round(cold_ms, 1),
        "uci_to_uciok_ms": round(uciok_ms, 1),
        "isready_load_s": round(load_s, 3),
        "first_bestmove_ms": round(times[0], 1),
        "later_moves_median_ms": round(statistics.median(times[1:]), 1) if len(times) > 1 else None,
        "later_moves_max_ms": round(max(times[1:]), 1) if len(times) > 1 else None,
        "moves": len(times),
    }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        write_json(args.json, result, allow_nan=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
