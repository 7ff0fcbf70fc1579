"""Legal softmax: the packed legal-move masks of move-tokenizer rows
(chessformer._core.board_legal_masks) against python-chess's legal moves, the masking of a
model's logits, and training with ``model.legal_softmax``."""

from __future__ import annotations

from pathlib import Path

import chess
import numpy as np
import pytest
import torch

from chessformer import _core
from chessformer.model.gpt import GPT, mask_illegal
from chessformer.moves import move_to_id
from tests.test_board_features import BOS, PAD, random_games, rows_of
from tests.test_board_model import _games


def unpack(mask: np.ndarray) -> np.ndarray:
    """(..., LEGAL_MASK_BYTES) packed -> (..., 1968) bool, little bit order (written here)."""
    return np.unpackbits(mask, axis=-1, bitorder="little")[..., :1968].astype(bool)


def legal_ids(board: chess.Board) -> set[int]:
    return {move_to_id(m.uci()) for m in board.legal_moves}


def test_masks_match_python_chess() -> None:
    games = random_games(60, seed=11)
    rows = rows_of(games)
    masks = _core.board_legal_masks(rows)
    assert masks.shape == (*rows.shape, _core.LEGAL_MASK_BYTES) and masks.dtype == np.uint8
    bits = unpack(masks)
    checked = 0
    for i, (tokens, boards) in enumerate(games):
        for t in range(len(tokens) - 1):  # BOS and every move: the board it leaves
            assert set(np.flatnonzero(bits[i, t]).tolist()) == legal_ids(boards[t]), (i, t)
            checked += 1
        # the result token and the padding after it: no game goes on, nothing is masked
        assert bits[i, len(tokens) - 1 :].all()
    assert checked > 1000
    # a checkmate leaves no legal move: the mask is empty (only the result token may follow)
    mate = chess.Board()
    row = [BOS]
    for san in ["f3", "e5", "g4", "Qh4#"]:
        row.append(move_to_id(mate.push_san(san).uci()))
    assert not unpack(_core.board_legal_masks(np.array([row]))[0, -1]).any()


def test_rows_cut_or_broken_are_not_masked() -> None:
    # tokens before a row's first BOS (a game cut by packing) and after an illegal token
    e4, e5 = move_to_id("e2e4"), move_to_id("e7e5")
    rows = np.array([[e4, e5, BOS, e4, move_to_id("e2e4"), e5, PAD]], dtype=np.uint16)
    bits = unpack(_core.board_legal_masks(rows))[0]
    assert bits[0].all() and bits[1].all()  # no BOS yet
    assert set(np.flatnonzero(bits[2])) == legal_ids(chess.Board())
    assert bits[4:].all()  # e2e4 again is illegal: the rest of the row is free
    with pytest.raises(ValueError, match="2-D"):
        _core.board_legal_masks(np.zeros(3, dtype=np.int64))


def test_mask_illegal_keeps_special_tokens_and_puts_all_mass_on_legal_moves() -> None:
    row = np.array([[BOS]])
    packed = torch.from_numpy(_core.board_legal_masks(row))  # start position
    logits = torch.randn(1, 1, 1974)
    masked = mask_illegal(logits, packed)
    p = torch.softmax(masked, -1)[0, 0]
    legal = sorted(legal_ids(chess.Board()))
    assert float(p[legal].sum() + p[1968:].sum()) == pytest.approx(1.0, abs=1e-6)
    assert torch.equal(masked[..., 1968:], logits[..., 1968:])
    assert torch.equal(masked[0, 0, legal], logits[0, 0, legal])


def test_training_with_legal_softmax(tmp_path: Path) -> None:
    from chessformer.data.dataset import write_dataset
    from chessformer.data.tokenizers import TOKENIZERS
    from chessformer.model.checkpoint import load_checkpoint
    from chessformer.model.train import iter_metrics, main

    games = _games(200, seed=5)
    data = tmp_path / "data"
    write_dataset(data, {"train": games[:180], "val": games[180:]}, TOKENIZERS["move"])
    argv = ["--data", str(data), "--config", "tiny", "--out", str(tmp_path / "run")]
    argv += ["--device", "cpu", "--set", "threads=1", "batch_size=8", "model.block_size=48"]
    argv += ["max_steps=20", "eval_interval=20", "model.board_features=perspective"]
    assert main([*argv, "model.legal_softmax=true"]) == 0
    ck = load_checkpoint(tmp_path / "run")
    assert ck.model_config.legal_softmax
    (val,) = iter_metrics(tmp_path / "run", "val")
    assert np.isfinite(val["loss"])
    # masking can only lower a legal target's loss: the same weights score better with it
    model: GPT = ck.load_model().eval()
    e4, e5, nf3 = (move_to_id(u) for u in ("e2e4", "e7e5", "g1f3"))
    x, y = torch.tensor([[BOS, e4, e5]]), torch.tensor([[e4, e5, nf3]])
    legal = torch.from_numpy(_core.board_legal_masks(x.numpy()))
    f = torch.from_numpy(_core.board_features(x.numpy(), True)[0])
    with torch.no_grad():
        _, plain = model(x, y, features=f)
        _, masked = model(x, y, features=f, legal=legal)
    assert masked is not None and plain is not None and float(masked) < float(plain)


def test_legal_softmax_on_a_char_dataset_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from chessformer.model.train import main

    argv = ["--data", "tests/data/sample_char", "--config", "tiny", "--out", str(tmp_path / "r")]
    assert main([*argv, "--set", "max_steps=2", "model.legal_softmax=true"]) == 2
    err = capsys.readouterr().err
    assert "legal_softmax needs the 'move' tokenizer" in err and "'char'" in err
    assert "Traceback" not in err
