"""Training batches from a prepared dataset folder (docs/formats.md, "Dataset folder").

A dataset is a ``manifest.json`` plus memory-mapped token shards with int64 offsets per game. This
module opens one (`Dataset.open`), turns its games into an endless, seeded, rank-strided stream
(`GameStream`) and packs that stream into rows (`Batcher`):

- ``char``: the paper's packing. A row has ``block_size + 1`` characters (input and shifted target,
  the paper's 1024-character rows for context 1023) made of ``;game;game;...``. Every row starts at
  a game start; a game cut by the row end starts again, whole, in the next row; a game longer than a
  row is truncated.
- any other tokenizer (``move``, ...): one game per row, starting at its BOS, truncated to
  ``block_size + 1`` tokens and padded; padded targets are -1 (ignored by the loss). One game per
  row keeps position 0 = BOS, as the inference engine sees it.

The stream position (`GameStream.state_dict`) is a pair of ints per rank, so a run resumes exactly.
`write_dataset` writes the documented format (test fixtures; ``chessformer prep`` writes the real
ones). ``python tests/data/make_sample_char.py`` rebuilds the committed sample.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

FORMAT_NAME = "chessformer-dataset"
FORMAT_VERSION = 1
# the paper's 32-character vocabulary, in id order (space = 0, ';' = 15, 'x' = 31)
CHAR_VOCAB = " #+-.0123456789;=BKNOQRabcdefghx"
MOVE_PAD, MOVE_BOS, N_MOVES = 1968, 1969, 1968
# tokenizer name -> versions this reader understands
KNOWN_TOKENIZERS: dict[str, tuple[int, ...]] = {"char": (1,), "move": (1,), "fen": (1,)}
IGNORE_INDEX = -1  # target value the loss skips (F.cross_entropy ignore_index)


class DatasetFormatError(ValueError):
    """A dataset folder is missing, malformed or of an unknown format/version."""


@dataclass(frozen=True)
class TokenizerInfo:
    name: str  # "char" | "move" | "fen": how a game became tokens
    version: int  # tokenizer format version; readers refuse unknown ones
    vocab_size: int  # sets the model's embedding size
    dtype: str  # "uint8" | "uint16": on-disk token width
    pad_id: int  # input id at padded positions (its targets are IGNORE_INDEX anyway)

    @classmethod
    def from_json(cls, d: dict[str, Any], where: str) -> TokenizerInfo:
        try:
            name, version = str(d["name"]), int(d["version"])
            vocab_size, dtype = int(d["vocab_size"]), str(d["dtype"])
        except (KeyError, TypeError, ValueError) as e:
            raise DatasetFormatError(f"{where}: bad 'tokenizer' entry {d!r}: {e}") from e
        if version not in KNOWN_TOKENIZERS.get(name, (version,)):
            raise DatasetFormatError(
                f"{where}: tokenizer {name!r} version {version} is not supported "
                f"(known: {KNOWN_TOKENIZERS[name]})"
            )
        if dtype not in ("uint8", "uint16"):
            raise DatasetFormatError(f"{where}: token dtype {dtype!r} is not uint8 or uint16")
        pad_id = int(d.get("pad_id", MOVE_PAD if name == "move" else 0))
        return cls(name, version, vocab_size, dtype, pad_id)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "vocab_size": self.vocab_size,
            "dtype": self.dtype,
            "pad_id": self.pad_id,
        }

    @property
    def packed(self) -> bool:
        """Whether rows are packed ``;game;game`` (the paper's char scheme) or one game each."""
        return self.name == "char"

    def scored(self, targets: torch.Tensor) -> torch.Tensor:
        """Mask of the targets that count for accuracy: for ``move``, moves only (top-1 move
        accuracy, not results or padding); otherwise every non-ignored target."""
        if self.name == "move":
            return (targets >= 0) & (targets < N_MOVES)
        return targets != IGNORE_INDEX


@dataclass
class Split:
    tokens: list[np.ndarray]  # per shard, flat token ids (memmap)
    offsets: list[np.ndarray]  # per shard, int64, n_games + 1

    @property
    def shard_games(self) -> np.ndarray:
        return np.array([len(o) - 1 for o in self.offsets], dtype=np.int64)

    def game(self, shard: int, i: int) -> np.ndarray:
        off = self.offsets[shard]
        return self.tokens[shard][int(off[i]) : int(off[i + 1])]


@dataclass
class Dataset:
    root: Path
    tokenizer: TokenizerInfo
    splits: dict[str, Split]
    manifest: dict[str, Any]

    @classmethod
    def open(cls, root: str | os.PathLike[str]) -> Dataset:
        root = Path(root)
        mpath = root / "manifest.json"
        try:
            manifest = json.loads(mpath.read_text())
        except FileNotFoundError:
            raise DatasetFormatError(f"{mpath}: not found (is {root} a dataset folder?)") from None
        except json.JSONDecodeError as e:
            raise DatasetFormatError(f"{mpath}: not valid JSON: {e}") from e
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
            fmt = manifest.get("format") if isinstance(manifest, dict) else None
            raise DatasetFormatError(f"{mpath}: format is {fmt!r}, expected {FORMAT_NAME!r}")
        if manifest.get("format_version") != FORMAT_VERSION:
            raise DatasetFormatError(
                f"{mpath}: format_version {manifest.get('format_version')!r} is not supported "
                f"(this reader knows {FORMAT_VERSION})"
            )
        tok = TokenizerInfo.from_json(manifest.get("tokenizer") or {}, str(mpath))
        splits = {}
        for name, entry in (manifest.get("splits") or {}).items():
            tokens, offsets = [], []
            for shard in entry.get("shards", []):
                tpath, opath = root / shard["tokens"], root / shard["offsets"]
                for p in (tpath, opath):
                    if not p.is_file():
                        raise DatasetFormatError(f"{p}: listed in {mpath} but missing")
                t = (
                    np.memmap(tpath, dtype=tok.dtype, mode="r")
                    if tpath.stat().st_size
                    else (np.zeros(0, dtype=tok.dtype))
                )
                o = np.load(opath, mmap_mode="r", allow_pickle=False)
                if o.dtype != np.int64 or o.ndim != 1 or len(o) < 1 or o[0] != 0:
                    raise DatasetFormatError(f"{opath}: offsets must be int64 [0, ...]")
                if int(o[-1]) != len(t):
                    raise DatasetFormatError(
                        f"{opath}: last offset {int(o[-1])} != {len(t)} tokens in {tpath}"
                    )
                if "n_games" in shard and int(shard["n_games"]) != len(o) - 1:
                    raise DatasetFormatError(
                        f"{opath}: {len(o) - 1} games but {mpath} says {shard['n_games']}"
                    )
                tokens.append(t)
                offsets.append(o)
            splits[name] = Split(tokens, offsets)
        if "train" not in splits or not splits["train"].shard_games.sum():
            raise DatasetFormatError(f"{mpath}: no games in split 'train'")
        return cls(root, tok, splits, manifest)


class GameStream:
    """An endless sequence of games for one rank: epoch after epoch, each a seeded permutation of
    shards and of games within a shard (no whole-dataset permutation: billions of games).

    Rank ``r`` of ``w`` takes games ``r, r + w, r + 2w, ...`` of each epoch, so ranks never share a
    game. The position is ``(epoch, cursor)``; a resumed stream continues exactly.
    """

    def __init__(
        self, split: Split, seed: int, rank: int = 0, world: int = 1, shuffle: bool = True
    ) -> None:
        self.split, self.seed, self.rank, self.world, self.shuffle = (
            split,
            seed,
            rank,
            world,
            shuffle,
        )
        self.n_games = int(split.shard_games.sum())
        if self.n_games <= rank:
            raise ValueError(f"split has {self.n_games} games, too few for rank {rank}")
        self.epoch, self.cursor = 0, 0
        self._epoch_cache: tuple[int, np.ndarray, np.ndarray] | None = None
        self._shard_cache: tuple[int, int, np.ndarray] | None = None

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "cursor": self.cursor}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.epoch, self.cursor = int(state["epoch"]), int(state["cursor"])

    def _order(self) -> tuple[np.ndarray, np.ndarray]:
        """(shard order, cumulative game counts in that order) for the current epoch."""
        if self._epoch_cache is None or self._epoch_cache[0] != self.epoch:
            counts = self.split.shard_games
            order = np.arange(len(counts))
            if self.shuffle:
                order = np.random.default_rng([self.seed, self.epoch]).permutation(len(counts))
            self._epoch_cache = (self.epoch, order, np.cumsum(counts[order]))
        return self._epoch_cache[1], self._epoch_cache[2]

    def _game_index(self, shard: int, j: int) -> int:
        if not self.shuffle:
            return j
        if self._shard_cache is None or self._shard_cache[:2] != (self.epoch, shard):
            n = int(self.split.shard_games[shard])
            perm = np.random.default_rng([self.seed, self.epoch, shard + 1]).permutation(n)
            self._shard_cache = (self.epoch, shard, perm)
        return int(self._shard_cache[2][j])

    def peek(self) -> np.ndarray:
        """Tokens of the current game (not consumed)."""
        g = self.rank + self.cursor * self.world  # index in this epoch's global order
        if g >= self.n_games:
            self.epoch, self.cursor = self.epoch + 1, 0
            g = self.rank
        order, cum = self._order()
        k = int(np.searchsorted(cum, g, side="right"))
        j = g - (int(cum[k - 1]) if k else 0)
        shard = int(order[k])
        return self.split.game(shard, self._game_index(shard, j))

    def advance(self) -> None:
        self.cursor += 1


class Batcher:
    """Rows of ``block_size + 1`` tokens from a `GameStream`, as (x, y) int64 tensors (B, T)."""

    def __init__(
        self, stream: GameStream, tokenizer: TokenizerInfo, block_size: int,
        packed: bool | None = None,
    ) -> None:  # fmt: skip
        self.stream, self.tok, self.block_size = stream, tokenizer, block_size
        # None: the tokenizer's default (char packs ``;game;game``, others one game per row)
        self.packed = tokenizer.packed if packed is None else packed

    def _packed_row(self, row: np.ndarray) -> None:
        n_row, fill = len(row), 0
        while fill < n_row:
            game = self.stream.peek()
            n = len(game)
            if n == 0:  # an empty game would never be consumed by the cut rule below
                self.stream.advance()
            elif fill + n <= n_row or fill == 0:  # fits, or an over-long game truncated
                m = min(n, n_row - fill)
                row[fill : fill + m] = game[:m]
                fill += m
                self.stream.advance()
            else:  # cut at the row end; the same game starts the next row, whole
                row[fill:] = game[: n_row - fill]
                fill = n_row

    def next_rows(self, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        """(rows (B, T + 1) int64, number of real tokens per row (B,))."""
        rows = np.empty((batch_size, self.block_size + 1), dtype=np.int64)
        lengths = np.full(batch_size, self.block_size + 1, dtype=np.int64)
        for b in range(batch_size):
            if self.packed:
                self._packed_row(rows[b])
            else:
                game = self.stream.peek()[: self.block_size + 1]
                rows[b, : len(game)] = game
                rows[b, len(game) :] = self.tok.pad_id
                lengths[b] = len(game)
                self.stream.advance()
        return rows, lengths

    def next_batch(self, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Inputs and targets, both (B, T) int64; padded targets are IGNORE_INDEX."""
        rows, lengths = self.next_rows(batch_size)
        x = torch.from_numpy(rows[:, :-1].copy())  # (B, T)
        y = torch.from_numpy(rows[:, 1:].copy())  # (B, T)
        pos = torch.arange(self.block_size)  # (T,)
        # target t predicts token t + 1, which exists only for t + 1 < length
        y[pos[None, :] >= torch.from_numpy(lengths)[:, None] - 1] = IGNORE_INDEX
        return x, y


def encode_char(transcript: str) -> np.ndarray:
    """The paper's character ids of a transcript such as ``;1.e4 e5 2.Nf3``."""
    lut = {c: i for i, c in enumerate(CHAR_VOCAB)}
    try:
        return np.array([lut[c] for c in transcript], dtype=np.uint8)
    except KeyError as e:
        raise ValueError(
            f"character {e.args[0]!r} of {transcript!r} is not in the vocabulary"
        ) from None


def decode_char(ids: Sequence[int] | np.ndarray | torch.Tensor) -> str:
    return "".join(CHAR_VOCAB[int(i)] for i in ids)


def char_tokenizer_info() -> TokenizerInfo:
    return TokenizerInfo("char", 1, len(CHAR_VOCAB), "uint8", 0)


def write_dataset(
    root: str | os.PathLike[str],
    games: dict[str, Sequence[np.ndarray | Sequence[int]]],
    tokenizer: TokenizerInfo,
    shard_games: int = 1_000_000,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write ``games`` (split name -> per-game token arrays) as a dataset folder (format v1)."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    splits: dict[str, Any] = {}
    for split, split_games in games.items():
        (root / split).mkdir(exist_ok=True)
        shards = []
        for s, start in enumerate(range(0, max(len(split_games), 1), shard_games)):
            chunk = [
                np.asarray(g, dtype=tokenizer.dtype)
                for g in split_games[start : start + shard_games]
            ]
            flat = np.concatenate(chunk) if chunk else np.zeros(0, dtype=tokenizer.dtype)
            offsets = np.zeros(len(chunk) + 1, dtype=np.int64)
            offsets[1:] = np.cumsum([len(g) for g in chunk])
            tname, oname = f"{split}/tokens-{s:05d}.bin", f"{split}/offsets-{s:05d}.npy"
            flat.tofile(root / tname)
            np.save(root / oname, offsets)
            shards.append(
                {"tokens": tname, "offsets": oname, "n_games": len(chunk), "n_tokens": len(flat)}
            )
        splits[split] = {"shards": shards}
    manifest = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "tokenizer": tokenizer.to_json(),
        "splits": splits,
        **(extra or {}),
    }
    (root / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return root


def unigram_entropy(split: Split, vocab_size: int) -> float:
    """Entropy in nats of the split's token frequencies (a loss a model must beat)."""
    counts = np.zeros(vocab_size, dtype=np.float64)
    for t in split.tokens:
        counts += np.bincount(np.asarray(t), minlength=vocab_size)[:vocab_size]
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())
