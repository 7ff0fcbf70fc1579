"""What every tokenizer's decoder shares: the chosen move, the sampling request, the engine
services a decoder uses, and the sliding context window."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from chessformer.board import Board, Move
from chessformer.inference.sampling import Keys, Sampler

MAX_SAN_CHARS = 10  # the paper samples at most 10 characters for a move


@dataclass(frozen=True)
class MoveChoice:
    """The engine's move for one game. ``move`` is None when there is none to play: no legal
    move, the paper decoding failed five times, or it sampled a result string (``resigned``)."""

    move: Move | None
    probability: float  # of the chosen move under the sampling distribution (1.0 at tau = 0)
    attempts: int = 1  # paper decoding: samples drawn
    text: str = ""  # char models: the sampled SAN
    resigned: bool = False  # paper decoding: the model wrote a result ("1-0", "0-1", ...)


Out = list["MoveChoice | None"]  # per game; None: no move (no legal one)


@dataclass(frozen=True)
class Sampling:
    """How one ``choose_moves`` call samples: per game a temperature and (with seeds) its noise
    key ``noise.game_key(seed, ply)``; top-k/top-p for all; ``decoding`` "masked" or "paper"."""

    temps: list[float]
    top_k: int | None = None
    top_p: float | None = None
    keys: list[tuple[int, int]] | None = None
    decoding: str = "masked"

    def temps_of(self, games: Sequence[int]) -> list[float]:
        return [self.temps[i] for i in games]

    def keys_of(self, games: Sequence[int], draw: int) -> Keys | None:
        """The sampler's keys for these games' ``draw``-th draw of the call (None: unseeded)."""
        if self.keys is None:
            return None
        return [self.keys[i][0] for i in games], [self.keys[i][1] for i in games], draw


class Session(Protocol):
    """The engine's services a decoder uses (``InferenceEngine`` provides them)."""

    max_seq: int
    slot_tokens: list[list[int]]
    sampler: Sampler
    board_features: str  # the model's GPTConfig.board_features ("none": not board-aware)

    def feed(
        self,
        slots: Sequence[int],
        chunks: Sequence[Sequence[int]],
        candidates: Sequence[Sequence[int]] | None = None,
        features: Sequence[np.ndarray] | None = None,
    ) -> torch.Tensor: ...

    def sync(self, slot: int, tokens: list[int]) -> list[int]: ...


class Decoder(ABC):
    """Turns boards into prompts and the model's logits into legal moves, for one tokenizer."""

    def __init__(self, session: Session) -> None:
        self.session = session

    @abstractmethod
    def choose(
        self,
        boards: Sequence[Board],
        slots: list[int],
        restrict: list[set[str] | None],
        sampling: Sampling,
    ) -> Out:
        """A move per board (None where it has no legal move); game i uses slot ``slots[i]``
        and only the UCI moves ``restrict[i]`` (all legal ones when None)."""

    @abstractmethod
    def legal_logits(self, board: Board, slot: int, legal_uci: list[str]) -> torch.Tensor:
        """A score per legal move (logits or log-probabilities; softmax gives the model's
        distribution over them)."""

    def window_cut(self, n: int, head: int) -> int:
        """Where a too-long game's window starts (an extension beyond the paper, whose games end
        at move 89): the start moves in steps of half the context, so consecutive calls keep
        the same window -- and its KV cache -- until it fills up again."""
        room = self.session.max_seq - MAX_SAN_CHARS - 2 - head
        if n <= room + head:
            return 0
        stride = max(1, room // 2)
        return head + ((n - head - room) // stride + 1) * stride
