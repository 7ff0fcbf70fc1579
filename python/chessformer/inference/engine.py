"""Batched low-temperature inference: a KV-cache engine that plays many games at once.

    from chessformer.inference import InferenceEngine
    engine = InferenceEngine.from_checkpoint("runs/x")  # or InferenceEngine(model, tokenizer)
    choices = engine.choose_moves([board1, board2], temperature=0.001, seeds=[11, 12])
    choices[0].move, choices[0].probability

The engine owns a preallocated KV cache of ``max_batch`` slots; slot ``i`` holds one game's
tokens. ``choose_moves(boards, slots=...)`` tokenizes each board's game, keeps the longest prefix
already in the slot's cache (so a position that extends the previous one costs only its new
tokens), feeds the rest, and picks a move for every game in one batched forward pass per token.

The parts (docs/inference.md):

- ``forward``: the model's forward pass over the cache, one ``Forward`` per backend -- ``native``
  (the C++ forward; default for float32 on the CPU), ``triton`` (default on CUDA), ``torch``
  (the reference). ``backend=`` or ``$CHESSFORMER_BACKEND`` chooses.
- ``sampling``: masked, tempered Gumbel-max sampling (temperature 0 is exact argmax); without
  ``seeds`` the noise comes from the engine's seeded generator (reproducible for a given sequence
  of calls), with ``seeds`` from ``noise``'s counter-based hash of (seed, ply, draw) -- each
  game's draws independent of the batch, its slot and earlier calls.
- ``decoders``: per tokenizer, from boards to prompts and from logits to always-legal moves --
  ``move`` (logits restricted to the legal moves) and ``char`` (constrained decoding over the
  legal SANs' prefix trie, or ``decoding="paper"``, the paper's harness).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from chessformer import _core
from chessformer.board import Board
from chessformer.data.tokenizers import Tokenizer, get_tokenizer
from chessformer.inference.decoders import MoveChoice, Sampling, make_decoder
from chessformer.inference.decoders.move import MoveDecoder
from chessformer.inference.forward import (
    Feed,
    KVCache,
    Weights,
    asked_backend,
    build_forward,
    choose_backend,
)
from chessformer.inference.noise import game_key
from chessformer.inference.sampling import Sampler
from chessformer.model.gpt import GPT

__all__ = ["InferenceEngine", "MoveChoice"]


class InferenceEngine:
    """KV-cache decoding of a GPT for many concurrent games (see the module docstring).

    ``max_batch`` slots of ``max_seq`` tokens (default and at most the model's context);
    ``dtype`` defaults to bf16 on CUDA, fp32 elsewhere (``dtype=torch.bfloat16`` with
    ``backend="native"``: bf16 copies of the matrices, fp32 activations); ``threads``: native
    backend threads per matrix product; ``cuda_graphs``: replay the single-token step from CUDA
    graphs (Triton backend only); ``seed``: the unseeded generator's seed.
    """

    def __init__(
        self,
        model: GPT,
        tokenizer: Tokenizer | str,
        *,
        max_batch: int = 64,
        max_seq: int | None = None,
        device: str | torch.device | None = None,
        dtype: torch.dtype | None = None,
        backend: str | None = None,
        seed: int = 0,
        cuda_graphs: bool = False,
        threads: int = 1,
    ) -> None:
        self.tokenizer = get_tokenizer(tokenizer) if isinstance(tokenizer, str) else tokenizer
        if self.tokenizer.name not in ("char", "move"):
            raise ValueError(
                f"inference supports the char and move tokenizers, not {self.tokenizer.name!r}"
            )
        cfg = model.config
        if cfg.vocab_size < self.tokenizer.vocab_size:
            raise ValueError(
                f"model vocab_size {cfg.vocab_size} < tokenizer {self.tokenizer.name!r} "
                f"vocab_size {self.tokenizer.vocab_size}"
            )
        if threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads!r}")
        if cfg.board_aware and self.tokenizer.name != "move":
            raise ValueError(
                f"a board-aware model needs the move tokenizer, not {self.tokenizer.name!r}"
            )
        self.device = (
            torch.device(device) if device is not None else next(model.parameters()).device
        )
        if dtype is None:
            dtype = torch.bfloat16 if self.device.type == "cuda" else torch.float32
        self.dtype = dtype
        backend_name = choose_backend(self.device, dtype, backend)
        # native with bf16 asked: fp32 tensors (model, caches); the C++ forward reads bf16 copies
        # of the matrices
        native_bf16 = backend_name == "native" and dtype == torch.bfloat16
        if native_bf16:
            dtype = torch.float32
        self.model = model.to(self.device, dtype).eval()
        self.config = cfg
        self.max_batch = max_batch
        self.max_seq = min(max_seq or cfg.block_size, cfg.block_size)
        self.threads = threads
        self.cache = KVCache(
            cfg.n_layer,
            max_batch,
            cfg.n_head,
            self.max_seq,
            cfg.n_embd // cfg.n_head,
            dtype,
            self.device,
        )
        self.k_cache, self.v_cache = self.cache.k, self.cache.v  # per layer (B, H, T, D)
        # CUDA graphs of the single-token step, one per batch size (Triton backend on CUDA only)
        self.cuda_graphs = bool(
            cuda_graphs
            and self.device.type == "cuda"
            and backend_name == "triton"
            and not cfg.board_aware  # board features change every step's input
        )
        self.net = build_forward(
            backend_name,
            Weights.of(self.model),
            self.cache,
            native_bf16=native_bf16,
            threads=threads,
            cuda_graphs=self.cuda_graphs,
            forced=asked_backend(backend) == "native",
        )
        self.backend: str = self.net.backend  # "native" chosen by default may fall back to torch
        self.sampler = Sampler(self.device, triton=self.backend == "triton", seed=seed)
        self.board_features = cfg.board_features
        self.decoder = make_decoder(self, self.tokenizer)
        self.slot_tokens: list[list[int]] = [[] for _ in range(max_batch)]
        self.tokens_processed = 0  # for throughput reports
        self.forward_calls = 0

    @classmethod
    def from_checkpoint(cls, path: str | Path, **kwargs: Any) -> InferenceEngine:
        """Load a run or checkpoint folder of ``chessformer train``, or a nanoGPT ``.pt`` file."""
        from chessformer.model.checkpoint import load_model

        model, tokenizer_info = load_model(path)
        return cls(model, get_tokenizer(tokenizer_info), **kwargs)

    @property
    def generator(self) -> torch.Generator:
        """The unseeded sampler's generator."""
        return self.sampler.generator

    def seed(self, seed: int) -> None:
        self.sampler.seed(seed)

    def reset(self, slot: int | None = None) -> None:
        """Forget a slot's cached game (all slots when None); the memory is simply reused."""
        for s in range(self.max_batch) if slot is None else [slot]:
            self.slot_tokens[s] = []

    def stats(self) -> dict[str, Any]:
        return {
            "tokens": self.tokens_processed,
            "forward_calls": self.forward_calls,
            "backend": self.backend,
            "device": str(self.device),
        }

    # ---- slots and their cached prefixes ------------------------------------------------------
    def feed(
        self,
        slots: Sequence[int],
        chunks: Sequence[Sequence[int]],
        candidates: Sequence[Sequence[int]] | None = None,
        features: Sequence[np.ndarray] | None = None,
    ) -> torch.Tensor:
        """Feed ``chunks[i]`` (>= 1 token) to slot ``slots[i]`` after its cached tokens; logits
        (n, V) fp32 after each chunk's end. Rows of different lengths share the pass.

        ``candidates[i]``: the only logits of row i the caller reads (e.g. the legal moves); the
        native backend computes just those and leaves the others -inf, the other paths compute
        every logit. ``features[i]``: a board-aware model's features of chunk i's tokens
        (len, MAX_FEATURES); None: replayed from the slot's tokens (games from the start, not
        windowed).
        """
        lens = [len(c) for c in chunks]
        base = [len(self.slot_tokens[s]) for s in slots]
        for s, b, ln in zip(slots, base, lens, strict=True):
            if ln < 1:
                raise ValueError(f"slot {s}: nothing to feed")
            if b + ln > self.max_seq:
                raise ValueError(f"slot {s}: {b + ln} tokens exceed the context of {self.max_seq}")
        slots = list(slots)
        if features is None and self.config.board_aware:
            features = self._features(slots, chunks)
        logits = self.net(Feed(slots, chunks, lens, base, candidates, features))
        for s, c in zip(slots, chunks, strict=True):
            self.slot_tokens[s].extend(c)
        self.tokens_processed += sum(lens)
        self.forward_calls += 1
        return logits

    _forward = feed  # the name `chessformer bench inference` calls

    def _features(self, slots: Sequence[int], chunks: Sequence[Sequence[int]]) -> list[np.ndarray]:
        """Board features of each chunk's tokens (a board-aware model): the slot's game so far
        plus the chunk, replayed in C++ (docs/formats.md, "Board features")."""
        rows = [self.slot_tokens[s] + list(c) for s, c in zip(slots, chunks, strict=True)]
        width = max(len(r) for r in rows)
        arr = np.full((len(rows), width), self.tokenizer.pad_id, dtype=np.int64)
        for i, r in enumerate(rows):
            arr[i, : len(r)] = r
        feats, _, _, bad = _core.board_features(arr, self.config.board_features == "perspective")
        if bad:
            raise ValueError("board features: a fed token is not a legal move of its game")
        return [
            feats[i, len(r) - len(c) : len(r)]
            for i, (r, c) in enumerate(zip(rows, chunks, strict=True))
        ]

    def sync(self, slot: int, tokens: list[int]) -> list[int]:
        """Keep the slot's longest cached prefix of ``tokens``; return what must still be fed (>= 1
        token, since the logits of the last position are needed)."""
        cached = self.slot_tokens[slot]
        limit = min(len(cached), len(tokens) - 1)
        if limit == len(cached) and tokens[:limit] == cached:
            return tokens[limit:]  # the usual case: the game extends the cached one
        p = 0
        while p < limit and cached[p] == tokens[p]:
            p += 1
        del cached[p:]  # positions >= p are simply overwritten later
        return tokens[p:]

    # ---- public API ---------------------------------------------------------------------------
    def choose_moves(
        self,
        boards: Sequence[Board],
        *,
        temperature: float | Sequence[float] = 0.0,
        slots: Sequence[int] | None = None,
        decoding: str = "masked",
        top_k: int | None = None,
        top_p: float | None = None,
        searchmoves: Sequence[Sequence[str] | None] | None = None,
        seeds: Sequence[int] | None = None,
    ) -> list[MoveChoice]:
        """A move for each board (games in progress, each from the standard start position).

        ``slots[i]`` is the cache slot of game i (default: slot i); reuse a game's slot on every
        call to pay only for its new tokens. ``searchmoves[i]`` restricts game i's choice to
        those UCI moves. ``decoding`` is ``"masked"`` (never illegal) or ``"paper"`` (char only).

        ``seeds[i]`` (an int per game) gives game i its own random stream: its draws are a
        function of (seeds[i], the board's ply, the draw's index in this call) only, so a game's
        moves do not depend on which other games share the batch, on its slot or on earlier
        calls. Pass the same seed for a game on every call. Without ``seeds`` all games draw
        from the engine's generator (reproducible for a given sequence of calls).
        """
        n = len(boards)
        if n == 0:
            return []
        slots = list(range(n)) if slots is None else list(slots)
        if (
            len(slots) != n
            or len(set(slots)) != n
            or not all(0 <= s < self.max_batch for s in slots)
        ):
            raise ValueError(f"need {n} distinct slots in 0..{self.max_batch - 1}, got {slots!r}")
        temps = (
            [float(temperature)] * n if isinstance(temperature, int | float) else list(temperature)
        )
        if len(temps) != n or any(t < 0 or math.isnan(t) for t in temps):
            raise ValueError(f"temperatures must be {n} numbers >= 0, got {temperature!r}")
        if decoding not in ("masked", "paper"):
            raise ValueError(f"decoding must be 'masked' or 'paper', got {decoding!r}")
        if decoding == "paper" and self.tokenizer.name != "char":
            raise ValueError("paper decoding needs a char-tokenizer model")
        keys: list[tuple[int, int]] | None = None
        if seeds is not None:
            if len(seeds) != n:
                raise ValueError(f"need {n} seeds, got {len(seeds)}")
            keys = [game_key(s, b.ply) for s, b in zip(seeds, boards, strict=True)]
        sampling = Sampling(temps, top_k, top_p, keys, decoding)
        out = self.decoder.choose(boards, slots, self._restrictions(boards, searchmoves), sampling)
        return [c if c is not None else MoveChoice(None, 0.0, 0) for c in out]

    def move_probabilities(
        self, board: Board, *, slot: int = 0, temperature: float = 1.0
    ) -> dict[str, float]:
        """The model's distribution over the legal moves of ``board`` (UCI -> probability), at the
        given temperature; used for MultiPV. For char models each legal SAN is scored whole."""
        legal = list(board._board.legal_moves_uci())
        if not legal:
            return {}
        scores = self.decoder.legal_logits(board, slot, legal)
        t = max(temperature, 1e-6)
        probs = torch.softmax(scores.float() / t, dim=-1).tolist()
        return dict(sorted(zip(legal, probs, strict=True), key=lambda kv: -kv[1]))

    @torch.no_grad()
    def value_estimate(self, board: Board) -> tuple[float, float, float] | None:
        """The value head's (win, draw, loss) probabilities for the side to move of ``board``,
        or None when the model has none. One forward pass over the game (no cache)."""
        model = self.model
        if model.value_head is None or not isinstance(self.decoder, MoveDecoder):
            return None
        tokens, feats = self.decoder.windowed(board)
        assert feats is not None  # a value head implies board features
        idx = torch.tensor([tokens], device=self.device)
        f = torch.from_numpy(feats[None]).to(self.device)
        loss_draw_win = model.value(model.hidden(idx, features=f))[0, -1].tolist()
        return loss_draw_win[2], loss_draw_win[1], loss_draw_win[0]

    @staticmethod
    def _restrictions(
        boards: Sequence[Board], searchmoves: Sequence[Sequence[str] | None] | None
    ) -> list[set[str] | None]:
        """Per board: the legal moves ``searchmoves`` restricts it to, or None for all of them
        (also when the restriction names no legal move)."""
        out: list[set[str] | None] = [None] * len(boards)
        if searchmoves is None:
            return out
        for i, b in enumerate(boards):
            if searchmoves[i]:
                legal = set(b._board.legal_moves_uci())
                out[i] = (legal & set(searchmoves[i] or ())) or None
        return out
