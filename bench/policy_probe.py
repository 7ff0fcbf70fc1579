"""What a trained move model knows of the rules and of its experts' choices.

    python bench/policy_probe.py RUN DATA [--games GAMES.pgn.zst] [--positions 300]

1. Legal mass: on validation positions of DATA (a `chessformer prep` folder), the mean
   probability the model's *unmasked* softmax gives the legal moves (1.0: it knows the rules;
   inference masks the rest away, but training spends capacity on them unless the model was
   trained with ``model.legal_softmax``).
2. Agreement (with ``--games``): on random positions of those games, how often the model's most
   probable legal move equals the game's move and Stockfish's depth-1 move (python-chess's
   ``chess.engine``; Stockfish on PATH or /usr/games).
"""

from __future__ import annotations

import argparse
import io
import json
import random
import shutil

import chess
import chess.engine
import chess.pgn
import numpy as np
import torch
import zstandard

from chessformer import _core
from chessformer.board import Board
from chessformer.data.dataset import Dataset
from chessformer.inference import InferenceEngine
from chessformer.model.checkpoint import load_checkpoint
from chessformer.model.evaluate import validation_rows


def legal_mass(run: str, data: str, rows: int) -> dict[str, float]:
    ck = load_checkpoint(run)
    model = ck.load_model().eval()
    cfg = model.config
    masses: list[float] = []
    for batch in validation_rows(Dataset.open(data), cfg.block_size, rows, 0, 1, None,
                                 cfg.board_features):  # fmt: skip
        x, y = batch[0], batch[1]
        feats = batch[2] if len(batch) > 2 else None
        with torch.no_grad():
            p = torch.softmax(model(x, features=feats)[0].float(), -1)[..., :1968]
        legal = np.unpackbits(_core.board_legal_masks(x.numpy()), axis=-1, bitorder="little")
        allowed = torch.from_numpy(legal[..., :1968].astype(bool))
        moves = (y >= 0) & (y < 1968)  # positions whose next token is a move
        masses += (p * allowed).sum(-1)[moves].tolist()
    return {"positions": len(masses), "legal_mass_mean": float(np.mean(masses))}


def agreement(run: str, games: str, n: int, seed: int = 0) -> dict[str, float]:
    engine = InferenceEngine.from_checkpoint(run, max_batch=1)
    sf_path = shutil.which("stockfish") or "/usr/games/stockfish"
    rng = random.Random(seed)
    with (
        open(games, "rb") as fh,
        chess.engine.SimpleEngine.popen_uci(sf_path) as sf,
    ):
        reader = zstandard.ZstdDecompressor().stream_reader(fh)
        text = io.TextIOWrapper(reader, encoding="utf-8", errors="replace")
        hit_game = hit_sf = total = 0
        while total < n:
            game = chess.pgn.read_game(text)
            if game is None:
                break
            moves = list(game.mainline_moves())
            if len(moves) < 6:
                continue
            k = rng.randrange(4, len(moves))
            ref, ours = chess.Board(), Board()
            for m in moves[:k]:
                ref.push(m)
                ours.push_uci(m.uci())
            choice = engine.choose_moves([ours], temperature=[0.001], slots=[0], seeds=[1])[0]
            assert choice.move is not None
            best = sf.play(ref, chess.engine.Limit(depth=1)).move
            total += 1
            hit_game += choice.move.uci() == moves[k].uci()
            hit_sf += best is not None and choice.move.uci() == best.uci()
    return {
        "positions": total,
        "argmax_is_game_move": hit_game / max(total, 1),
        "argmax_is_stockfish_depth1": hit_sf / max(total, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run", help="train run folder or checkpoint")
    ap.add_argument("data", help="the prepared dataset it was trained on")
    ap.add_argument("--games", help=".pgn.zst of the experts' games (agreement)")
    ap.add_argument("--positions", type=int, default=300)
    ap.add_argument("--rows", type=int, default=16, help="validation rows for the legal mass")
    args = ap.parse_args()
    out = {"legal_mass": legal_mass(args.run, args.data, args.rows)}
    if args.games:
        out["agreement"] = agreement(args.run, args.games, args.positions)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
