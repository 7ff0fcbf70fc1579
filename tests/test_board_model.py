"""The board-aware model option (GPTConfig.board_features / value_head): config rules, the
embedding bag, training with value targets (learning a worked example, exact resume), checkpoints
and the nanoGPT export refusal."""

from __future__ import annotations

import random
from pathlib import Path

import chess
import numpy as np
import pytest
import torch

from chessformer import _core
from chessformer.data.dataset import Batcher, Dataset, DatasetFormatError, GameStream, write_dataset
from chessformer.data.tokenizers import MOVE_BOS, TOKENIZERS
from chessformer.model.checkpoint import load_checkpoint
from chessformer.model.convert import ConvertError, to_nanogpt
from chessformer.model.gpt import CONFIGS, GPT, GPTConfig
from chessformer.model.train import iter_metrics, main
from chessformer.moves import move_to_id

MOVE_TOK = TOKENIZERS["move"]
WHITE_WINS, BLACK_WINS = _core.MOVE_RESULT_TOKENS["1-0"], _core.MOVE_RESULT_TOKENS["0-1"]


def _games(n: int, seed: int) -> list[list[int]]:
    """Random legal games whose result the final position decides: White wins when White has
    more pieces at the end, else Black. A model that reads the board can learn the value."""
    rng = random.Random(seed)
    games = []
    for _ in range(n):
        board = chess.Board()
        tokens = [MOVE_BOS]
        for _ in range(rng.randint(4, 40)):
            moves = list(board.legal_moves)
            if not moves:
                break
            caps = [m for m in moves if board.is_capture(m)]
            move = rng.choice(caps if caps and rng.random() < 0.7 else moves)
            tokens.append(move_to_id(move.uci()))
            board.push(move)
        white = len(board.pieces(chess.PAWN, chess.WHITE)) + sum(
            len(board.pieces(t, chess.WHITE)) for t in range(2, 6)
        )
        black = len(board.pieces(chess.PAWN, chess.BLACK)) + sum(
            len(board.pieces(t, chess.BLACK)) for t in range(2, 6)
        )
        tokens.append(WHITE_WINS if white > black else BLACK_WINS)
        games.append(tokens)
    return games


@pytest.fixture(scope="module")
def move_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("boarddata") / "data"
    games = _games(400, seed=1)
    write_dataset(root, {"train": games[:360], "val": games[360:]}, MOVE_TOK)
    return root


def test_config_rules_and_default_keeps_the_nanogpt_model() -> None:
    with pytest.raises(ValueError, match="board_features"):
        GPTConfig(board_features="sideways")
    with pytest.raises(ValueError, match="value_head needs board_features"):
        GPTConfig(value_head=True)
    plain = GPT(CONFIGS["tiny"])
    assert plain.transformer.wbe is None and plain.value_head is None
    # the default model's parameter names are exactly nanoGPT's
    assert not any("wbe" in k or "value" in k for k in plain.state_dict())
    # an old checkpoint's config (no board fields) loads as the plain model
    old = {
        k: v
        for k, v in CONFIGS["tiny"].to_json().items()
        if k not in ("board_features", "value_head")
    }
    assert GPTConfig.from_json(old) == CONFIGS["tiny"]


def test_board_model_reads_the_features() -> None:
    torch.manual_seed(0)
    cfg = CONFIGS["tiny"].with_(
        vocab_size=1974, block_size=32, board_features="absolute", value_head=True
    )
    model = GPT(cfg).eval()
    rows = np.array([[MOVE_BOS, move_to_id("e2e4"), move_to_id("e7e5")]], dtype=np.int64)
    feats, _, _, _ = _core.board_features(rows, False)
    idx, f = torch.from_numpy(rows), torch.from_numpy(feats)
    with pytest.raises(ValueError, match="board-aware"):
        model(idx)
    logits, _ = model(idx, features=f)
    # the same tokens on another board give other logits: the features reach the output
    other = f.clone()
    other[0, 2, 0] = _core.FEATURE_PAD
    logits2, _ = model(idx, features=other)
    assert torch.equal(logits[0, :2], logits2[0, :2]) and not torch.equal(
        logits[0, 2], logits2[0, 2]
    )
    # padding ids contribute nothing: an all-padding bag equals a model without the bag
    empty = torch.full_like(f, _core.FEATURE_PAD)
    plain = GPT(cfg.with_(board_features="none", value_head=False)).eval()
    plain.load_state_dict({k: v for k, v in model.state_dict().items() if k in plain.state_dict()})
    torch.testing.assert_close(model(idx, features=empty)[0], plain(idx)[0])
    probs = model.value(model.hidden(idx, features=f))
    assert probs.shape == (1, 3, 3)
    torch.testing.assert_close(probs.sum(-1), torch.ones(1, 3))


def test_batcher_carries_features_and_value_targets(move_data: Path) -> None:
    ds = Dataset.open(move_data)
    b = Batcher(GameStream(ds.splits["train"], seed=0), ds.tokenizer, 48, board_features="absolute")
    x, _y, f, v = b.next_batch(4)
    assert f.shape == (*x.shape, _core.MAX_FEATURES) and v.shape == x.shape
    rows, _ = Batcher(GameStream(ds.splits["train"], seed=0), ds.tokenizer, 48).next_rows(4)
    ref, ref_v, _, _ = _core.board_features(rows, False)
    # the inputs' features and values, computed on whole rows (a result may be the last target)
    assert np.array_equal(ref[:, :-1], f.numpy()) and np.array_equal(ref_v[:, :-1], v.numpy())
    assert (v[x == MOVE_BOS] >= 0).all()  # every game here has a decisive result
    with pytest.raises(DatasetFormatError, match="move"):
        Batcher(
            GameStream(ds.splits["train"], seed=0),
            TOKENIZERS["char"],
            48,
            board_features="absolute",
        )


def _train(data: Path, out: Path, *sets: str, resume: bool = False) -> int:
    argv = ["--data", str(data), "--config", "tiny", "--out", str(out), "--device", "cpu"]
    argv += ["--set", "threads=1", "batch_size=16", "model.block_size=48", *sets]
    return main([*argv, "--resume"] if resume else argv)


def test_value_head_learns_the_worked_example(move_data: Path, tmp_path: Path) -> None:
    sets = ["model.board_features=perspective", "model.value_head=true", "warmup_steps=10"]
    sets += [
        "lr=3e-3",
        "lr_decay_steps=150",
        "max_steps=150",
        "eval_interval=150",
        "log_interval=50",
    ]
    assert _train(move_data, tmp_path / "run", *sets) == 0
    (val,) = iter_metrics(tmp_path / "run", "val")
    # ln 3 = 1.0986 knows nothing; the material count decides the result, the board shows it
    assert val["value_loss"] < 0.9
    ck = load_checkpoint(tmp_path / "run")
    assert ck.model_config.board_features == "perspective" and ck.model_config.value_head
    with pytest.raises(ConvertError, match="board-aware"):
        to_nanogpt(ck.load_model())


def test_board_model_resumes_exactly(move_data: Path, tmp_path: Path) -> None:
    common = ["model.board_features=absolute", "model.value_head=true", "warmup_steps=2"]
    common += ["lr_decay_steps=6", "log_interval=1", "eval_interval=0", "model.dropout=0.1"]
    assert _train(move_data, tmp_path / "a", "max_steps=6", *common) == 0
    assert _train(move_data, tmp_path / "b", "max_steps=3", *common) == 0
    assert _train(move_data, tmp_path / "b", "max_steps=6", resume=True) == 0
    a = [r["loss"] for r in iter_metrics(tmp_path / "a")]
    b = [r["loss"] for r in iter_metrics(tmp_path / "b")]
    assert len(a) == 6 and a == b


def test_char_dataset_with_board_features_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sample = Path(__file__).parent / "data" / "sample_char"
    rc = _train(sample, tmp_path / "run", "model.board_features=absolute", "max_steps=1")
    assert rc == 2
    assert "board features need the 'move' tokenizer" in capsys.readouterr().err
