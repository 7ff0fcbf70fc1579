"""The UCI fuzzer (tests/uci_fuzz.py) for a few seconds from a fixed seed, and proof that its
oracle catches a broken engine. CI also runs it for a minute from a fresh seed (.ci/run)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import save_tiny_model
from uci_fuzz import check_session, fuzz

import chessformer.engine.uci as uci_mod
from chessformer.engine.uci import UciEngine


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(save_tiny_model(tmp_path_factory.mktemp("fuzz"), "move", block_size=512))


def test_fuzz_finds_nothing(model: str) -> None:
    assert fuzz(8.0, seed=20261207, model=model) >= 3


def test_the_oracle_catches_a_broken_engine(model: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The checks can fail: an engine that echoes whole inputs, drops a readyok, plays an illegal
    move, or crashes on a command is caught."""
    long = ["isready", "x" * 5000]
    monkeypatch.setattr(UciEngine, "info_string", lambda self, t: self.write("info string " + t))
    monkeypatch.setattr(uci_mod, "shown", repr)
    with pytest.raises(AssertionError, match="long line"):
        check_session(model, long)
    monkeypatch.undo()
    check_session(model, long)
    real_handle = UciEngine.handle

    def lossy(self: UciEngine, line: str) -> bool:
        return True if line == "isready" else real_handle(self, line)

    monkeypatch.setattr(UciEngine, "handle", lossy)
    with pytest.raises(AssertionError, match="1 isready, 0 readyok"):
        check_session(model, ["isready"])
    monkeypatch.undo()
    monkeypatch.setattr(UciEngine, "_choose", lambda self, board, params: ("e2e5", None))
    with pytest.raises(AssertionError, match="bestmove e2e5 is not legal"):
        check_session(model, ["position startpos", "go"])
    monkeypatch.undo()

    def crash(self: UciEngine, line: str) -> bool:
        raise UnicodeEncodeError("utf-8", line, 0, 1, "surrogates not allowed")

    monkeypatch.setattr(UciEngine, "handle", crash)
    with pytest.raises(UnicodeEncodeError):
        check_session(model, ["\udcff"])
    assert Path(model).is_dir()
