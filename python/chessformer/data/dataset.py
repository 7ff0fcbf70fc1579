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

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from chessformer import _core
from chessformer._io import read_versioned_json, write_json
from chessformer.data.prep import DATASET_FORMAT, DATASET_VERSION
from chessformer.data.tokenizers import IGNORE_INDEX, Tokenizer, get_tokenizer

FORMAT_NAME, FORMAT_VERSION = DATASET_FORMAT, DATASET_VERSION  # the format prep writes


class DatasetFormatError(ValueError):
    """A dataset folder is missing, malformed or of an unknown format/version."""


def manifest_tokenizer(record: Any, where: str) -> Tokenizer:
    """The tokenizer a manifest's ``tokenizer`` record names (`Tokenizer.info`), checked."""
    if not isinstance(record, dict):
        raise DatasetFormatError(f"{where}: bad 'tokenizer' entry {record!r}")
    try:
        tok = get_tokenizer(record)
    except ValueError as e:
        raise DatasetFormatError(f"{where}: {e}") from None
    size = record.get("vocab_size")
    if size != tok.vocab_size:
        raise DatasetFormatError(
            f"{where}: tokenizer {tok.name!r} vocab_size {size!r} is not {tok.vocab_size}"
        )
    return tok


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
    tokenizer: Tokenizer
    splits: dict[str, Split]
    manifest: dict[str, Any]

    @classmethod
    def open(cls, root: str | os.PathLike[str]) -> Dataset:
        root = Path(root)
        mpath = root / "manifest.json"
        if not mpath.exists():
            raise DatasetFormatError(f"{mpath}: not found (is {root} a dataset folder?)")
        manifest = read_versioned_json(mpath, FORMAT_NAME, FORMAT_VERSION, DatasetFormatError)
        tok = manifest_tokenizer(manifest.get("tokenizer"), str(mpath))
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

    `peek` / `advance` walk it a game at a time; `lookahead` locates many upcoming games at once
    (numpy, no per-game Python), which is what `Batcher` uses.
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
        self.counts = split.shard_games
        self.n_games = int(self.counts.sum())
        if self.n_games <= rank:
            raise ValueError(f"split has {self.n_games} games, too few for rank {rank}")
        # games this rank takes per epoch: g = rank + cursor * world < n_games
        self.per_epoch = (self.n_games - rank + world - 1) // world
        self.epoch, self.cursor = 0, 0
        self._epoch_cache: tuple[int, np.ndarray, np.ndarray] | None = None
        self._perm_cache: dict[tuple[int, int], np.ndarray] = {}

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "cursor": self.cursor}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.epoch, self.cursor = int(state["epoch"]), int(state["cursor"])

    def _order(self, epoch: int) -> tuple[np.ndarray, np.ndarray]:
        """(shard order, cumulative game counts in that order) of an epoch."""
        if self._epoch_cache is None or self._epoch_cache[0] != epoch:
            order = np.arange(len(self.counts))
            if self.shuffle:
                order = np.random.default_rng([self.seed, epoch]).permutation(len(self.counts))
            self._epoch_cache = (epoch, order, np.cumsum(self.counts[order]))
        return self._epoch_cache[1], self._epoch_cache[2]

    def _perm(self, epoch: int, shard: int) -> np.ndarray:
        """The seeded order of a shard's games in an epoch (the last few are cached)."""
        key = (epoch, shard)
        perm = self._perm_cache.get(key)
        if perm is None:
            n = int(self.counts[shard])
            perm = np.random.default_rng([self.seed, epoch, shard + 1]).permutation(n)
            if len(self._perm_cache) >= 4:
                self._perm_cache.pop(next(iter(self._perm_cache)))
            self._perm_cache[key] = perm
        return perm

    def lookahead(self, n: int) -> Upcoming:
        """Where the next ``n`` games are, without consuming them (crosses epochs as needed)."""
        epochs, cursors, shards, starts, lengths = [], [], [], [], []
        e, c, left = self.epoch, self.cursor, n
        while left > 0:
            if c >= self.per_epoch:
                e, c = e + 1, 0
            k = min(left, self.per_epoch - c)
            cur = np.arange(c, c + k, dtype=np.int64)
            g = self.rank + cur * self.world  # index in this epoch's global order
            order, cum = self._order(e)
            pos = np.searchsorted(cum, g, side="right")  # position of the shard in the order
            j = g - np.where(pos > 0, cum[pos - 1], 0)  # index within the shard's order
            shard = order[pos]
            start = np.empty(k, dtype=np.int64)
            length = np.empty(k, dtype=np.int64)
            # g increases, so the shards come in runs: one vectorized lookup per run
            bounds = np.flatnonzero(np.diff(pos)) + 1
            for a, b in zip(
                np.concatenate(([0], bounds)).tolist(),
                np.concatenate((bounds, [k])).tolist(),
                strict=True,
            ):
                s = int(shard[a])
                idx = self._perm(e, s)[j[a:b]] if self.shuffle else j[a:b]
                off = self.split.offsets[s]
                start[a:b] = off[idx]
                length[a:b] = off[idx + 1] - start[a:b]
            epochs.append(np.full(k, e, dtype=np.int64))
            cursors.append(cur)
            shards.append(shard)
            starts.append(start)
            lengths.append(length)
            c += k
            left -= k
        return Upcoming(
            np.concatenate(epochs),
            np.concatenate(cursors),
            np.concatenate(shards).astype(np.int64),
            np.concatenate(starts),
            np.concatenate(lengths),
        )

    def seek_after(self, up: Upcoming, i: int) -> None:
        """Position just after game ``i`` of ``up`` consumed (no epoch roll-over yet, as
        `advance`)."""
        self.epoch, self.cursor = int(up.epoch[i]), int(up.cursor[i]) + 1

    def seek_to(self, up: Upcoming, i: int) -> None:
        """Position at game ``i`` of ``up``, as after `peek` found it."""
        self.epoch, self.cursor = int(up.epoch[i]), int(up.cursor[i])

    def peek(self) -> np.ndarray:
        """Tokens of the current game (not consumed)."""
        up = self.lookahead(1)
        self.seek_to(up, 0)  # rolls over to the next epoch at its end
        s, a = int(up.shard[0]), int(up.start[0])
        return self.split.tokens[s][a : a + int(up.length[0])]

    def advance(self) -> None:
        self.cursor += 1


@dataclass
class Upcoming:
    """Upcoming games of a `GameStream`: stream position, shard, first token and length of each."""

    epoch: np.ndarray  # (n,) int64
    cursor: np.ndarray  # (n,) int64
    shard: np.ndarray  # (n,) int64
    start: np.ndarray  # (n,) int64, token index in the shard
    length: np.ndarray  # (n,) int64


def gather_segments(
    split: Split,
    out: np.ndarray,
    shard: np.ndarray,
    src: np.ndarray,
    dst: np.ndarray,
    length: np.ndarray,
) -> None:
    """``out.flat[dst[k] : dst[k] + length[k]] = tokens of shard[k] from src[k]``, for every k,
    in one fancy-indexed copy per shard."""
    keep = length > 0
    shard, src, dst, length = shard[keep], src[keep], dst[keep], length[keep]
    if not len(length):
        return
    flat = out.reshape(-1)
    for s in np.unique(shard).tolist():
        sel = shard == s
        m = length[sel]
        first = np.cumsum(m) - m  # where each segment begins in the concatenation
        within = np.arange(int(m.sum()), dtype=np.int64) - np.repeat(first, m)
        tokens = np.asarray(split.tokens[s])  # a plain view: memmap indexing is slower
        flat[np.repeat(dst[sel], m) + within] = tokens[np.repeat(src[sel], m) + within]


class Batcher:
    """Rows of ``block_size + 1`` tokens from a `GameStream`, as (x, y) int64 tensors (B, T).

    Vectorized: a batch looks ahead at enough games (`GameStream.lookahead`), finds where each
    row starts from cumulative lengths (one ``searchsorted`` for all candidate starts), follows
    that chain for ``B`` rows and copies every row's segments in one gather. Rows, order and
    stream position equal the one-game-at-a-time rules in the module docstring (tests keep a
    reference implementation).
    """

    def __init__(
        self,
        stream: GameStream,
        tokenizer: Tokenizer,
        block_size: int,
        packed: bool | None = None,
        board_features: str = "none",
        legal: bool = False,
    ) -> None:
        self.stream, self.tok, self.block_size = stream, tokenizer, block_size
        # batches end with the tokens' bit-packed legal-move masks (a legal-softmax model)
        self.legal = legal
        if legal and tokenizer.name != "move":
            raise DatasetFormatError(
                f"legal_softmax needs the 'move' tokenizer (one token per ply); this dataset uses "
                f"{tokenizer.name!r}"
            )
        # "absolute" / "perspective": batches also carry each token's board features and value
        # targets, replayed by the C++ core from the rows (docs/formats.md, "Board features")
        self.board_features = board_features
        if board_features != "none" and tokenizer.name != "move":
            raise DatasetFormatError(board_features_error(tokenizer.name))
        # None: the tokenizer's default (char packs ``;game;game``, others one game per row)
        self.packed = tokenizer.packed if packed is None else packed
        offsets = stream.split.offsets
        mean = sum(int(o[-1]) for o in offsets) / max(stream.n_games, 1)
        self._games_per_row = (block_size + 1) / max(mean, 1.0) + 1.0  # refined as we go

    def _one_rows(self, rows: np.ndarray, lengths: np.ndarray) -> None:
        B, n_row = rows.shape
        up = self.stream.lookahead(B)
        m = np.minimum(up.length, n_row)
        rows[:] = self.tok.pad_id
        gather_segments(self.stream.split, rows, up.shard, up.start, np.arange(B) * n_row, m)
        lengths[:] = m
        self.stream.seek_after(up, B - 1)

    def _packed_rows(self, rows: np.ndarray) -> None:
        B, n_row = rows.shape
        stream = self.stream
        n = int(B * self._games_per_row * 1.25) + 8
        while True:
            up = stream.lookahead(n)
            nz = np.flatnonzero(up.length)  # empty games are skipped (consumed, never placed)
            ln = up.length[nz]
            end = np.cumsum(ln)
            begin = end - ln
            # a row starting at game i holds games i..j-1 whole, j = first game that overflows
            j = np.searchsorted(end, begin + n_row, side="right")
            # a game longer than a row fills it alone, truncated, and is consumed
            nxt = np.where(j == np.arange(len(nz)), j + 1, j)
            starts = [0] * (B + 1)
            i, ok, jl, nl, n_nz = 0, True, j.tolist(), nxt.tolist(), len(nz)
            for b in range(B):
                # the row is settled only once a game overflows it (j inside the look-ahead)
                if i >= n_nz or jl[i] >= n_nz:
                    ok = False
                    break
                starts[b] = i
                i = nl[i]
            if ok and i < n_nz:
                starts[B] = i
                break
            n *= 2
            if n > 64 * stream.per_epoch and not ln.sum():
                raise ValueError("every game of the split is empty")
        r = np.array(starts, dtype=np.int64)  # (B + 1,) first game of each row, then the next
        self._games_per_row = 0.9 * self._games_per_row + 0.1 * (int(r[B]) / B)
        # whole (or truncated) games: k in [r[0], r[B]) belongs to row searchsorted(r, k) - 1
        k = np.arange(int(r[0]), int(r[B]))
        row = np.searchsorted(r, k, side="right") - 1
        off = begin[k] - begin[r[row]]
        seg_len = np.minimum(ln[k], n_row - off)
        # a row not filled by whole games ends with the start of the next row's first game
        fill = np.minimum(end[r[1:] - 1] - begin[r[:-1]], n_row)  # (B,)
        cut = np.flatnonzero(fill < n_row)
        games = np.concatenate((nz[k], nz[r[1:][cut]]))
        dst = np.concatenate((row * n_row + off, cut * n_row + fill[cut]))
        length = np.concatenate((seg_len, n_row - fill[cut]))
        gather_segments(stream.split, rows, up.shard[games], up.start[games], dst, length)
        if fill[-1] < n_row:  # the last row was cut: its next game was looked at, not consumed
            stream.seek_to(up, int(nz[r[B]]))
        else:
            stream.seek_after(up, int(nz[r[B] - 1]))

    def next_rows(self, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        """(rows (B, T + 1) int64, number of real tokens per row (B,))."""
        rows = np.empty((batch_size, self.block_size + 1), dtype=np.int64)
        lengths = np.full(batch_size, self.block_size + 1, dtype=np.int64)
        if self.packed:
            self._packed_rows(rows)
        else:
            self._one_rows(rows, lengths)
        return rows, lengths

    def next_batch(self, batch_size: int) -> tuple[torch.Tensor, ...]:
        """Inputs and targets, both (B, T) int64; padded targets are IGNORE_INDEX. With board
        features, also the features (B, T, MAX_FEATURES) int16 of the position each input token
        leaves and the value targets (B, T) int8 of those positions (0 loss, 1 draw, 2 win for
        the side to move; -1 ignored). With ``legal``, last the bit-packed legal moves (B, T,
        LEGAL_MASK_BYTES) uint8 of those positions."""
        rows, lengths = self.next_rows(batch_size)
        x = rows[:, :-1].copy()  # (B, T); copies: with B = 1 both slices are contiguous views
        y = rows[:, 1:].copy()  # (B, T)
        # target t predicts token t + 1, which exists only for t + 1 < length
        y[np.arange(self.block_size)[None, :] >= lengths[:, None] - 1] = IGNORE_INDEX
        out = [torch.from_numpy(x), torch.from_numpy(y)]
        if self.board_features != "none":
            # on the whole rows: a game's result token may be the last target
            f, v, _, _ = _core.board_features(rows, self.board_features == "perspective")
            out += [
                torch.from_numpy(np.ascontiguousarray(f[:, :-1])),
                torch.from_numpy(np.ascontiguousarray(v[:, :-1])),
            ]
        if self.legal:
            out.append(torch.from_numpy(np.ascontiguousarray(_core.board_legal_masks(x))))
        return tuple(out)


def board_features_error(tokenizer: str) -> str:
    """Why a board-aware model cannot use this tokenizer."""
    return (
        f"board features need the 'move' tokenizer (one token per ply, so each token has one "
        f"position); this dataset uses {tokenizer!r}: prepare it with `chessformer prep "
        f"--tokenizer move` or train without board_features"
    )


def write_dataset(
    root: str | os.PathLike[str],
    games: dict[str, Sequence[np.ndarray | Sequence[int]]],
    tokenizer: Tokenizer,
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
        "tokenizer": tokenizer.info(),
        "splits": splits,
        **(extra or {}),
    }
    write_json(root / "manifest.json", manifest)
    return root


def unigram_entropy(split: Split, vocab_size: int) -> float:
    """Entropy in nats of the split's token frequencies (a loss a model must beat)."""
    counts = np.zeros(vocab_size, dtype=np.float64)
    for t in split.tokens:
        counts += np.bincount(np.asarray(t), minlength=vocab_size)[:vocab_size]
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())
