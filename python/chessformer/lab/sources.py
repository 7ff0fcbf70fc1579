"""Games from whatever the analyses are pointed at: prepared datasets, PGN files, match folders.

- a dataset folder of ``chessformer prep`` (``manifest.json``): every game of every split,
  decoded from its tokens (char, move and fen datasets alike);
- a ``.pgn`` or ``.pgn.zst`` file (Lichess dumps included);
- any other folder (a ``chessformer match`` folder, a ``chessformer lab run`` folder): every
  ``*.pgn`` and ``*.pgn.zst`` file in it.

Only games from the standard start position are kept (the analyses compare positions by their
place in the opening tree).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["SourceError", "SourceGame", "iter_games"]


class SourceError(ValueError):
    """A path that is not a dataset, a PGN file or a folder holding PGN files."""


@dataclass
class SourceGame:
    moves: list[str]  # UCI from the standard start
    white: str = ""
    black: str = ""
    headers: dict[str, str] = field(default_factory=dict)


def _pgn_files(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.iterdir() if p.name.endswith((".pgn", ".pgn.zst")) and p.is_file()
    )


def iter_games(source: str | Path, max_games: int | None = None) -> Iterator[SourceGame]:
    """The games of ``source`` (see the module docstring), at most ``max_games``."""
    path = Path(source)
    if not path.exists():
        raise SourceError(f"{path}: no such file or folder")
    yield from itertools.islice(_games(path), max_games)


def _games(path: Path) -> Iterator[SourceGame]:
    if path.is_dir() and (path / "manifest.json").exists():
        yield from _dataset_games(path)
    elif path.is_dir():
        files = _pgn_files(path)
        if not files:
            raise SourceError(
                f"{path}: neither a dataset folder (no manifest.json) nor a folder with "
                ".pgn/.pgn.zst files"
            )
        for f in files:
            yield from _pgn_games(f)
    else:
        yield from _pgn_games(path)


def _pgn_games(path: Path) -> Iterator[SourceGame]:
    from chessformer.data.pgn import read_games

    for g in read_games(str(path), annotations=False, chess960=False, on_error="ignore"):
        if g.start_fen is None and g.moves:
            h = g.headers
            yield SourceGame(g.moves, h.get("White", ""), h.get("Black", ""), h)


def _dataset_games(path: Path) -> Iterator[SourceGame]:
    from chessformer.data.dataset import Dataset, DatasetFormatError
    from chessformer.data.tokenizers import STARTING_FEN, TokenizeError

    try:
        ds = Dataset.open(path)
    except DatasetFormatError as e:
        raise SourceError(str(e)) from None
    for split in ds.splits.values():
        for shard, count in enumerate(split.shard_games):
            for i in range(int(count)):
                try:
                    game = ds.tokenizer.decode(split.game(shard, i))
                except TokenizeError:
                    continue
                if game.start_fen == STARTING_FEN and game.moves:
                    yield SourceGame(list(game.moves))
