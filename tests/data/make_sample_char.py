"""Rebuild ``tests/data/sample_char/``: the first games of the GNU Chess opening book as a `char`
dataset (the paper's transcripts ``;1.e4 e5 2.Nf3 ...``), 95/5 train/val.

Run from the repository root with the path of the book's PGN (gnuchess-book-1.02.pgn.zst, 145,716
games): ``python tests/data/make_sample_char.py PATH/gnuchess-book-1.02.pgn.zst``
"""

from __future__ import annotations

import io
import shutil
import sys
from pathlib import Path

import chess
import chess.pgn
import zstandard

from chessformer.data.dataset import write_dataset
from chessformer.data.tokenizers import CHAR_VOCAB, TOKENIZERS, encode_char

N_GAMES = 2000  # the brief: ~2000 games, committed folder under ~1 MB
OUT = Path(__file__).resolve().parent / "sample_char"


def transcript(game: chess.pgn.Game) -> str:
    """The paper's transcript: no Black move numbers, no space after a number, no result."""
    board, parts = game.board(), []
    for move in game.mainline_moves():
        san = board.san(move)
        parts.append(f"{board.fullmove_number}.{san}" if board.turn == chess.WHITE else san)
        board.push(move)
    text = ";" + " ".join(parts)
    return "".join(c for c in text if c in CHAR_VOCAB)


def main(path: str) -> int:
    games: list[str] = []
    with open(path, "rb") as f:
        text = io.TextIOWrapper(
            zstandard.ZstdDecompressor().stream_reader(f), encoding="utf-8", errors="replace"
        )
        while len(games) < N_GAMES:
            game = chess.pgn.read_game(text)
            if game is None:
                break
            if (
                game.errors
                or game.headers.get("Result", "*") == "*"
                or game.board().fen() != chess.STARTING_FEN
            ):
                continue
            t = transcript(game)
            if len(t) > 1:
                games.append(t)
    n_val = len(games) // 20
    shutil.rmtree(OUT, ignore_errors=True)
    write_dataset(
        OUT,
        {
            "train": [encode_char(g) for g in games[n_val:]],
            "val": [encode_char(g) for g in games[:n_val]],
        },
        TOKENIZERS["char"],
        extra={
            "inputs": ["gnuchess-book-1.02.pgn.zst (first games)"],
            "counts": {"games": len(games)},
        },
    )
    print(f"{len(games)} games -> {OUT}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
