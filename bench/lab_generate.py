"""Generation speed of ``chessformer lab generate`` against a plain python-chess driver.

Both play the same experts (depth-1 Stockfish, optionally with random-move noise) from the same
random openings, with the same number of Stockfish processes (``--engines``, default 2 = this
machine's cores); the python-chess driver is the obvious script: one process per engine, each a
loop of ``chess.engine.SimpleEngine.play(board, Limit(depth=1))`` on a ``chess.Board``.
Rounds alternate the two drivers (absolute speeds on shared machines drift; the ratio of one
round is the measure).

    python bench/lab_generate.py [--games 200] [--rounds 3] [--engines 2]

Results: bench/results/lab-generate.json.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import platform
import random
import sys
import tempfile
import time
from pathlib import Path

import chess
import chess.engine

from chessformer.arena.stockfish import find_stockfish
from chessformer.lab.generate import GenerateConfig, generate, pairing_tasks


def _python_chess_worker(args: tuple[str, list[tuple[int, int, float]], int]) -> int:
    path, games, opening_plies = args
    engine = chess.engine.SimpleEngine.popen_uci(path)
    engine.configure({"Threads": 1, "Hash": 8})
    plies = 0
    for seed, max_plies, eps in games:
        rng = random.Random(seed)
        board = chess.Board()
        for _ in range(opening_plies):
            if board.is_game_over():
                break
            board.push(rng.choice(list(board.legal_moves)))
        while not board.is_game_over() and len(board.move_stack) < max_plies:
            if eps and rng.random() < eps:
                move = rng.choice(list(board.legal_moves))
            else:
                played = engine.play(board, chess.engine.Limit(depth=1)).move
                if played is None:  # the engine resigned or gave no move: the game ends here
                    break
                move = played
            board.san(move)  # the PGN writer needs it, as ours does
            board.push(move)
            plies += 1
    engine.quit()
    return plies


def python_chess(path: str, cfg: GenerateConfig, eps: float, engines: int) -> tuple[int, float]:
    tasks = list(pairing_tasks(cfg))
    shards = [[(t.seed, t.max_plies, eps) for t in tasks[k::engines]] for k in range(engines)]
    t0 = time.perf_counter()
    with mp.get_context("spawn").Pool(engines) as pool:
        plies = sum(pool.map(_python_chess_worker, [(path, s, cfg.opening_plies) for s in shards]))
    return plies, time.perf_counter() - t0


def ours(path: str, cfg: GenerateConfig, engines: int, concurrency: int) -> tuple[int, float]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "g.pgn.zst"
        t0 = time.perf_counter()
        generate(cfg, out, stockfish=path, engines=engines, concurrency=concurrency, progress=False)
        dt = time.perf_counter() - t0
        from chessformer.lab.store import read_pgn_zst

        text = read_pgn_zst(out)
    plies = 0
    for block in text.split("\n\n"):
        if block and not block.startswith("["):
            moves = [w for w in block.split() if not w[0].isdigit()]
            plies += len(moves)
    return plies - cfg.games * cfg.opening_plies, dt  # the random opening plies are not searched


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--games", type=int, default=200)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--engines", type=int, default=2)
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--out", default="bench/results/lab-generate.json")
    args = p.parse_args()
    path = find_stockfish(None)
    rows = []
    for spec, eps in (("stockfish:depth=1", 0.0), ("stockfish:depth=1,eps=0.5", 0.5)):
        for r in range(args.rounds):
            cfg = GenerateConfig((spec,), args.games, seed=100 + r, opening_plies=4, max_plies=300)
            p_ours, t_ours = ours(path, cfg, args.engines, args.concurrency)
            p_pc, t_pc = python_chess(path, cfg, eps, args.engines)
            row = {
                "expert": spec,
                "round": r,
                "ours_plies_per_s": p_ours / t_ours,
                "python_chess_plies_per_s": p_pc / t_pc,
                "ratio": (p_ours / t_ours) / (p_pc / t_pc),
                "ours_plies": p_ours,
                "python_chess_plies": p_pc,
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
    result = {
        "what": "lab generate vs a python-chess chess.engine driver, same experts and engines",
        "engines": args.engines,
        "games_per_round": args.games,
        "machine": platform.processor() or platform.machine(),
        "rows": rows,
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
