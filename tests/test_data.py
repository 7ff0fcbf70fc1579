"""Dataset folders and batches: format checks, the paper's char packing, move rows, resume."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from chessformer.data.dataset import (
    Batcher,
    Dataset,
    DatasetFormatError,
    GameStream,
    Split,
    write_dataset,
)
from chessformer.data.tokenizers import (
    IGNORE_INDEX,
    MOVE_BOS,
    MOVE_PAD,
    TOKENIZERS,
    decode_char,
    encode_char,
)

SAMPLE = Path(__file__).parent / "data" / "sample_char"
CHAR_TOK, MOVE_TOK = TOKENIZERS["char"], TOKENIZERS["move"]


def _char_games(n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    games = []
    for i in range(n):
        moves = rng.integers(1, 12) if i % 7 else 40  # every 7th game is longer than a row
        # a unique 3-digit first move number: no game is a prefix of another
        games.append(f";{i:03d}." + " ".join(f"e4 e5 {k + 1}.Nf3" for k in range(int(moves))))
    return games


def _char_dataset(tmp_path: Path, games: list[str]) -> Dataset:
    write_dataset(
        tmp_path,
        {"train": [encode_char(g) for g in games], "val": [encode_char(games[0])]},
        CHAR_TOK,
        shard_games=9,
    )  # several shards
    return Dataset.open(tmp_path)


def test_char_packing_rules(tmp_path: Path) -> None:
    games = _char_games(60)
    ds = _char_dataset(tmp_path, games)
    T = 63
    batcher = Batcher(GameStream(ds.splits["train"], seed=3), ds.tokenizer, T)
    rows = [decode_char(r) for r in batcher.next_rows(40)[0]]
    known = set(games)
    cut = truncated = 0
    for row, next_row in itertools.pairwise(rows):
        assert len(row) == T + 1 and row.startswith(";")  # every row starts at a game start
        pieces = [";" + p for p in row.split(";")[1:]]
        assert all(p in known for p in pieces[:-1])  # whole games inside a row
        last = pieces[-1]
        if last in known:
            continue
        if len(pieces) == 1:  # a game longer than a row, truncated
            assert any(g.startswith(last) and len(g) > T + 1 for g in games)
            truncated += 1
        else:  # cut by the row end: the same game starts the next row, whole
            assert next_row.startswith(last)
            cut += 1
    assert cut and truncated


def test_batches_are_shifted_inputs_and_targets(tmp_path: Path) -> None:
    ds = _char_dataset(tmp_path, _char_games(30))
    a = Batcher(GameStream(ds.splits["train"], seed=1), ds.tokenizer, 31)
    b = Batcher(GameStream(ds.splits["train"], seed=1), ds.tokenizer, 31)
    rows, _ = a.next_rows(4)
    x, y = b.next_batch(4)
    assert x.dtype == y.dtype == torch.int64 and x.shape == y.shape == (4, 31)
    assert torch.equal(x, torch.from_numpy(rows[:, :-1])) and torch.equal(
        y, torch.from_numpy(rows[:, 1:])
    )


def test_stream_deterministic_resumable_and_rank_disjoint(tmp_path: Path) -> None:
    ds = _char_dataset(tmp_path, _char_games(50))
    split = ds.splits["train"]
    ref = Batcher(GameStream(split, seed=7), ds.tokenizer, 40)
    batches = [ref.next_batch(3) for _ in range(30)]  # crosses epochs
    assert ref.stream.epoch >= 1
    resumed = Batcher(GameStream(split, seed=7), ds.tokenizer, 40)
    for _ in range(12):
        resumed.next_batch(3)
    state = json.loads(json.dumps(resumed.stream.state_dict()))  # survives JSON
    fresh = Batcher(GameStream(split, seed=7), ds.tokenizer, 40)
    fresh.stream.load_state_dict(state)
    for x, y in batches[12:]:
        x2, y2 = fresh.next_batch(3)
        assert torch.equal(x, x2) and torch.equal(y, y2)
    other = Batcher(GameStream(split, seed=8), ds.tokenizer, 40)
    assert not torch.equal(other.next_batch(3)[0], batches[0][0])
    # rank striding: one epoch over 2 ranks visits every game exactly once
    seen = []
    for rank in (0, 1):
        s = GameStream(split, seed=7, rank=rank, world=2)
        while True:
            g = s.peek()
            if s.epoch:
                break
            seen.append(decode_char(g))
            s.advance()
    assert sorted(seen) == sorted(_char_games(50))


def test_move_rows_one_game_padded(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    games = [[MOVE_BOS, *rng.integers(0, 1968, n).tolist(), 1970] for n in (5, 50, 9, 3)]
    write_dataset(tmp_path, {"train": games}, MOVE_TOK)
    ds = Dataset.open(tmp_path)
    b = Batcher(GameStream(ds.splits["train"], seed=0, shuffle=False), ds.tokenizer, 20)
    x, y = b.next_batch(4)
    assert (x[:, 0] == MOVE_BOS).all()
    # game 0: 7 tokens -> 6 targets, the rest ignored and padded
    assert torch.equal(x[0, :7], torch.tensor(games[0])) and (x[0, 7:] == MOVE_PAD).all()
    assert torch.equal(y[0, :6], torch.tensor(games[0][1:])) and (y[0, 6:] == IGNORE_INDEX).all()
    # game 1 is truncated to block_size + 1 tokens: every target is real
    assert (y[1] != IGNORE_INDEX).all() and torch.equal(y[1], torch.tensor(games[1][1:21]))
    scored = ds.tokenizer.scored(y)
    assert not scored[0, 5]  # the result token is not a move
    assert scored[0, :5].all()


def test_format_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(DatasetFormatError, match=r"manifest\.json: not found"):
        Dataset.open(tmp_path)
    write_dataset(tmp_path, {"train": [encode_char(";1.e4")]}, CHAR_TOK)
    manifest = tmp_path / "manifest.json"
    m = json.loads(manifest.read_text())
    for change, message in [
        ({"format_version": 2}, "format_version 2"),
        ({"format": "other"}, "format is 'other'"),
        ({"tokenizer": {**m["tokenizer"], "version": 9}}, "version 9"),
    ]:
        manifest.write_text(json.dumps({**m, **change}))
        with pytest.raises(DatasetFormatError, match=message) as err:
            Dataset.open(tmp_path)
        assert str(manifest) in str(err.value)
    manifest.write_text(json.dumps(m))
    (tmp_path / "train" / "tokens-00000.bin").write_bytes(b"\x0f")
    with pytest.raises(DatasetFormatError, match=r"offsets-00000\.npy: last offset"):
        Dataset.open(tmp_path)


def test_committed_sample() -> None:
    size = sum(p.stat().st_size for p in SAMPLE.rglob("*") if p.is_file())
    assert size < 1_000_000
    ds = Dataset.open(SAMPLE)
    train = ds.splits["train"]
    assert ds.tokenizer.name == "char" and int(train.shard_games.sum()) > 1500
    first = decode_char(train.game(0, 0))
    assert first.startswith(";1.") and " 2." in first and "..." not in first


class _RefStream:
    """The documented order, one game at a time: epoch e visits shards in
    ``default_rng([seed, e]).permutation`` order and a shard's games in
    ``default_rng([seed, e, shard + 1]).permutation`` order; rank r of w takes every w-th game
    from the r-th. The position (epoch, cursor) rolls over to the next epoch only when a game
    past the end is looked at."""

    def __init__(self, split: Split, seed: int, rank: int, world: int, shuffle: bool) -> None:
        self.split, self.seed, self.shuffle = split, seed, shuffle
        self.rank, self.world = rank, world
        self.epoch = self.cursor = 0

    def _games(self, epoch: int) -> list[tuple[int, int]]:
        counts = [len(o) - 1 for o in self.split.offsets]
        shards = range(len(counts))
        if self.shuffle:
            shards = np.random.default_rng([self.seed, epoch]).permutation(len(counts)).tolist()
        order = []
        for s in shards:
            games = range(counts[s])
            if self.shuffle:
                games = np.random.default_rng([self.seed, epoch, s + 1]).permutation(counts[s])
            order += [(s, int(i)) for i in games]
        return order[self.rank :: self.world]

    def peek(self) -> np.ndarray:
        if self.cursor >= len(self._games(self.epoch)):
            self.epoch, self.cursor = self.epoch + 1, 0
        return self.split.game(*self._games(self.epoch)[self.cursor])


def _ref_rows(
    stream: _RefStream, n_rows: int, n_row: int, packed: bool, pad: int
) -> tuple[np.ndarray, np.ndarray]:
    """The packing rules of chessformer.data.dataset's docstring, literally."""
    rows, lengths = [], []
    for _ in range(n_rows):
        row: list[int] = []
        if not packed:  # one game per row, truncated, padded
            game = stream.peek()[:n_row].tolist()
            stream.cursor += 1
            rows.append(game + [pad] * (n_row - len(game)))
            lengths.append(len(game))
            continue
        while len(row) < n_row:
            game = stream.peek().tolist()
            if not game:  # empty: skipped
                stream.cursor += 1
            elif len(row) + len(game) <= n_row or not row:  # fits, or over-long: truncated
                row += game[: n_row - len(row)]
                stream.cursor += 1
            else:  # cut by the row end: not consumed, starts the next row whole
                row += game[: n_row - len(row)]
        rows.append(row)
        lengths.append(n_row)
    return np.array(rows, dtype=np.int64).reshape(n_rows, n_row), np.array(lengths)


def test_vectorized_batcher_equals_reference(tmp_path: Path) -> None:
    """Random datasets (empty, short and over-long games, several shards, ranks, epochs): rows,
    lengths and stream position equal the one-game-at-a-time reference after every batch."""
    rng = np.random.default_rng(0)
    for trial in range(60):
        n = int(rng.integers(1, 40))
        lens = rng.integers(0, 30 if trial % 3 else 4, n)
        games = [rng.integers(0, 32, int(k)) for k in lens]
        games[0] = np.array([15, 7, 8], dtype=np.int64)  # never all empty
        root = tmp_path / str(trial)
        write_dataset(root, {"train": games}, CHAR_TOK, shard_games=int(rng.integers(1, 15)))
        split = Dataset.open(root).splits["train"]
        world = int(rng.integers(1, 4))
        rank = int(rng.integers(0, min(world, n)))
        T, packed, shuffle = int(rng.integers(1, 40)), bool(trial % 2), bool(trial % 5)
        seed = int(rng.integers(0, 100))
        batcher = Batcher(GameStream(split, seed, rank, world, shuffle), CHAR_TOK, T, packed)
        ref = _RefStream(split, seed, rank, world, shuffle)
        for _ in range(6):
            b = int(rng.integers(1, 9))
            rows, lengths = batcher.next_rows(b)
            ref_rows, ref_lengths = _ref_rows(ref, b, T + 1, packed, 0)
            assert np.array_equal(rows, ref_rows), (trial, lens.tolist())
            assert np.array_equal(lengths, ref_lengths)
            assert batcher.stream.state_dict() == {"epoch": ref.epoch, "cursor": ref.cursor}


def test_peek_follows_the_reference_order(tmp_path: Path) -> None:
    games = [np.full(i % 5 + 1, i % 32) for i in range(40)]
    write_dataset(tmp_path, {"train": games}, CHAR_TOK, shard_games=7)
    split = Dataset.open(tmp_path).splits["train"]
    s, ref = GameStream(split, 5, 1, 3), _RefStream(split, 5, 1, 3, True)
    for _ in range(50):  # crosses epochs
        assert np.array_equal(s.peek(), ref.peek()) and s.state_dict() == {
            "epoch": ref.epoch,
            "cursor": ref.cursor,
        }
        s.advance()
        ref.cursor += 1


def test_single_row_batch_inputs_not_overwritten(tmp_path: Path) -> None:
    games = [[MOVE_BOS, 5, 6, 1970], [MOVE_BOS, 7, 1970]]
    write_dataset(tmp_path, {"train": games}, MOVE_TOK)
    ds = Dataset.open(tmp_path)
    b = Batcher(GameStream(ds.splits["train"], seed=0, shuffle=False), ds.tokenizer, 8)
    x, y = b.next_batch(1)  # with one row, x and y slices are both contiguous: must be copies
    assert x.tolist() == [[MOVE_BOS, 5, 6, 1970] + [MOVE_PAD] * 4]
    assert y.tolist() == [[5, 6, 1970] + [IGNORE_INDEX] * 5]
