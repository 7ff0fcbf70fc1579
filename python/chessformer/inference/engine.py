"""Batched low-temperature inference: a KV-cache engine that plays many games at once.

    from chessformer.inference import InferenceEngine
    engine = InferenceEngine.from_checkpoint("runs/x")  # or InferenceEngine(model, tokenizer)
    choices = engine.choose_moves([board1, board2], temperature=0.001, seeds=[11, 12])
    choices[0].move, choices[0].probability

The engine owns a preallocated KV cache of ``max_batch`` slots; slot ``i`` holds one game's
tokens. ``choose_moves(boards, slots=...)`` tokenizes each board's game, keeps the longest prefix
already in the slot's cache (so a position that extends the previous one costs only its new
tokens), feeds the rest, and picks a move for every game in one batched forward pass per token.

Moves are always legal:
- ``move`` tokenizer: the logits are restricted to the position's legal moves (the C++ batch API).
- ``char`` tokenizer: constrained decoding -- at each character only those that continue some
  legal SAN of the position are allowed (a prefix trie of the legal SANs); characters forced by
  the trie (and move numbers) are fed without sampling.
- ``decoding="paper"`` reproduces the paper's harness for ``char`` models: unconstrained
  characters until a space (at most 10), up to 5 resamples of an illegal move, then no move (the
  game is lost); a sampled result string (``1-0``, ``0-1``, ``1/2-1/2``) is a resignation (no
  move, ``resigned=True``) -- for side-by-side comparison.

Temperature 0 is exact argmax; sampling is Gumbel-max. Without ``seeds`` the noise comes from the
engine's seeded generator (reproducible for a given sequence of calls); with ``seeds`` each
game's noise is a counter-based hash of (its seed, its ply, the draw) -- independent of which
other games share the batch, of its slot and of earlier calls.

The hot path: a step where every row feeds one token (the usual decode step) runs a dedicated
single-token forward: one host-to-device copy of the step's indices, K/V written in place into
the cache, attention straight over the selected slots (on CUDA the Triton decode kernel takes
the slot indices; the torch path slices the cache when the slots are a contiguous range and
gathers only the rows and positions needed otherwise), and no device-to-host sync until the
sampled ids. ``cuda_graphs=True`` additionally captures that step in a CUDA graph per batch size
(Triton backend on CUDA only; off by default). On CUDA the attention, the residual-add +
LayerNorm and the masked sampler run as Triton kernels (``chessformer.kernels``); elsewhere the
PyTorch references run.

Backends (``backend=`` or ``$CHESSFORMER_BACKEND``; see docs/inference.md):

- ``native`` -- the default for float32 on the CPU: the whole forward pass is one C++ call
  (``chessformer._core.NativeGPT``, cpp/infer; GIL released) over numpy views of the parameters
  and of the KV cache (no copies): flat chunks and offsets, every weight row read once per call
  for all its tokens (AVX-512/AVX2 dot products, the next rows prefetched), fused residual adds,
  and on the move path only the legal moves' logits (the others are -inf). ``threads=N`` splits
  the products over N threads (default 1). ``dtype=torch.bfloat16`` with ``backend="native"``
  reads bf16 copies of the matrices (fp32 activations; opt-in). In a match (batch 1, weights
  cold after Stockfish's turn) a call costs about half the torch path's.
- ``triton`` -- the default on CUDA: PyTorch matmuls around the Triton kernels.
- ``torch`` -- PyTorch ops only (the reference); ``backend="torch"`` forces it anywhere.

On the CPU, sampling with known legal ids runs in numpy over those ids only, with exactly the
general path's noise, scores and tie-breaking (``_sample_host``).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate, chain
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from chessformer.board import Board, Move
from chessformer.data.tokenizers import Tokenizer, get_tokenizer
from chessformer.model.gpt import GPT

__all__ = ["InferenceEngine", "MoveChoice"]

NUM_MOVES = 1968
CHAR_VOCAB = " #+-.0123456789;=BKNOQRabcdefghx"
_CHAR_ID = {c: i for i, c in enumerate(CHAR_VOCAB)}
_CHAR_TABLE = bytes.maketrans(CHAR_VOCAB.encode(), bytes(range(len(CHAR_VOCAB))))


def _char_ids(text: str) -> list[int]:
    """Token ids of a transcript (``[_CHAR_ID[c] for c in text]``, at C speed)."""
    return list(text.encode("ascii").translate(_CHAR_TABLE))


MAX_SAN_CHARS = 10  # the paper samples at most 10 characters for a move
PAPER_ATTEMPTS = 5  # the paper resamples an illegal move up to 5 times
# Paper decoding: a result written in place of a move is a resignation. The paper's 32-character
# vocabulary has no "/", so only "1-0" and "0-1" can be written (a draw cannot be claimed).
RESULT_STRINGS = frozenset({"1-0", "0-1"})


@dataclass(frozen=True)
class MoveChoice:
    """The engine's move for one game. ``move`` is None when there is none to play: no legal
    move, the paper decoding failed five times, or it sampled a result string (``resigned``)."""

    move: Move | None
    probability: float  # of the chosen move under the sampling distribution (1.0 at tau = 0)
    attempts: int = 1  # paper decoding: samples drawn
    text: str = ""  # char models: the sampled SAN
    resigned: bool = False  # paper decoding: the model wrote a result ("1-0", "0-1", ...)


@dataclass
class _CharState:
    """One game's progress through constrained (or paper) character decoding."""

    pending: list[int]  # tokens to feed on the next forward pass
    sans: dict[str, str]  # legal SAN -> UCI (restricted by searchmoves)
    prompt_last: int = 0  # paper decoding: the prompt's last token, re-fed to resample
    prompt_len: int = 0
    typed: str = ""  # SAN characters chosen so far
    prob: float = 1.0
    attempt: int = 1
    cands: list[str] | None = None  # the SANs starting with ``cands_for`` (narrowed lazily)
    cands_for: str = ""

    def continuations(self) -> str:
        """The characters that continue ``typed`` in some SAN (a walk down the prefix trie:
        ``typed`` only grows, so the candidates are narrowed from the previous ones)."""
        if self.cands is None:
            self.cands, self.cands_for = list(self.sans), ""
        if self.cands_for != self.typed:
            self.cands = [s for s in self.cands if s.startswith(self.typed)]
            self.cands_for = self.typed
        k = len(self.typed)
        return "".join(sorted({s[k] for s in self.cands if len(s) > k}))


Out = list["MoveChoice | None"]

# ---- counter-based noise for per-game seeds ------------------------------------------------------
# 32-bit arithmetic held in int64 (numpy arrays or Python ints): products stay below 2**49, so
# the results are exact, with no reliance on integer overflow. It runs on the host over the
# allowed entries only (a few dozen a row), and the noise travels with the temperatures.
_M32 = 0xFFFFFFFF


def _mul32(x: Any, c: int) -> Any:
    """``x * c mod 2**32`` for 0 <= x < 2**32, without overflowing int64."""
    return (x * (c & 0xFFFF) + (((x * (c >> 16)) & 0xFFFF) << 16)) & _M32


def _mix32(x: Any) -> Any:
    """A bijective 32-bit integer hash (the 'lowbias32' constants of C. Wellons)."""
    x = x ^ (x >> 16)
    x = _mul32(x, 0x7FEB352D)
    x = x ^ (x >> 15)
    x = _mul32(x, 0x846CA68B)
    return x ^ (x >> 16)


def _game_key(seed: int, ply: int) -> tuple[int, int]:
    """Two 32-bit words identifying (seed, ply); mixed further on the device."""
    z = (int(seed) * 0x9E3779B97F4A7C15 + int(ply) * 0xC2B2AE3D27D4EB4F + 0x165667B1) & (2**64 - 1)
    return z & _M32, z >> 32


def _seeded_uniform(key_lo: np.ndarray, key_hi: np.ndarray, draw: int,
                    cols: np.ndarray) -> np.ndarray:  # fmt: skip
    """Uniforms in (0, 1) (float64, 24-bit) for entries ``cols`` of rows keyed (key_lo, key_hi)
    (int64 arrays of one shape) at draw number ``draw``: a pure function of those, so any subset
    of entries can be drawn and a row's values do not depend on the other rows."""
    ka = _mix32(_mix32(key_lo ^ _mix32(draw & _M32)) ^ key_hi)
    kb = _mix32(ka ^ 0x5BD1E995)
    x = _mix32(_mix32((cols + ka) & _M32) ^ kb)
    return ((x >> 8).astype(np.float64) + 0.5) * (1.0 / 2**24)


def _mix32_u64(x: np.ndarray) -> np.ndarray:
    """``_mix32`` of a uint64 array of 32-bit values (products of two 32-bit numbers fit in 64
    bits, so plain multiplication is exact)."""
    x = x ^ (x >> 16)
    x = (x * 0x7FEB352D) & _M32
    x = x ^ (x >> 15)
    x = (x * 0x846CA68B) & _M32
    return x ^ (x >> 16)


def _seeded_uniform_rows(key_lo: Sequence[int], key_hi: Sequence[int], draw: int,
                         rows: np.ndarray, cols: np.ndarray) -> np.ndarray:  # fmt: skip
    """``_seeded_uniform(key_lo[rows], key_hi[rows], draw, cols)`` with the per-row part of the
    hash done once a row on Python ints: the same values, a few numpy operations fewer."""
    d = _mix32(draw & _M32)
    ka = [_mix32(_mix32(lo ^ d) ^ hi) for lo, hi in zip(key_lo, key_hi, strict=True)]
    kb = np.asarray([_mix32(k ^ 0x5BD1E995) for k in ka], np.uint64)[rows]
    x = (cols.astype(np.uint64) + np.asarray(ka, np.uint64)[rows]) & _M32
    x = _mix32_u64(_mix32_u64(x) ^ kb)
    return ((x >> 8).astype(np.float64) + 0.5) * (1.0 / 2**24)


def _kernels() -> Any:
    from chessformer.kernels import backend

    return backend


def _add_norm(
    branch: torch.Tensor | None, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None,
    triton: bool,
) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """(LayerNorm(x + branch), x + branch): the residual add fused into the next LayerNorm (one
    Triton kernel on CUDA); ``branch`` None means nothing to add yet (the first block)."""
    if branch is None:
        return F.layer_norm(x, (x.size(-1),), w, b), x
    if triton:
        y, h = _kernels().add_layernorm(branch, x, w, bias=b, backend="triton")
        return y, h
    x = x + branch
    return F.layer_norm(x, (x.size(-1),), w, b), x


def _native_vectorised() -> bool:
    """Whether the C++ forward was built with SIMD dot products (a portable build without
    ``-march=native`` has only the scalar fallback, slower than PyTorch's BLAS: auto keeps
    torch)."""
    from chessformer import _core

    return _core.native_isa() != "scalar"


def _choose_backend(device: torch.device, dtype: torch.dtype, force: str | None) -> str:
    """``native`` (the C++ forward, when vectorised) for fp32 on the CPU unless ``force`` or
    ``$CHESSFORMER_BACKEND`` asks for another; else the kernels' choice (``triton``/``torch``).
    Forced ``native`` also takes bf16 (bf16 weights, fp32 activations: opt-in only)."""
    choice = (force or os.environ.get(_kernels().ENV_VAR) or "auto").lower()
    cpu = device.type == "cpu"
    if choice == "native":
        if not cpu or dtype not in (torch.float32, torch.bfloat16):
            raise ValueError(
                "the native backend runs float32 (or bfloat16 weights) on the CPU, not "
                f"{dtype} on {str(device)!r}"
            )
        return "native"
    if choice == "auto" and cpu and dtype == torch.float32 and _native_vectorised():
        return "native"
    return str(_kernels().get_backend(device, force))


class InferenceEngine:
    """KV-cache decoding of a GPT for many concurrent games (see the module docstring)."""

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
        self.device = (
            torch.device(device) if device is not None else next(model.parameters()).device
        )
        if dtype is None:
            dtype = torch.bfloat16 if self.device.type == "cuda" else torch.float32
        self.dtype = dtype
        self.backend: str = _choose_backend(self.device, dtype, backend)
        # native with bf16 asked: fp32 tensors (model, caches); the C++ forward reads bf16 copies
        # of the matrices
        self._native_bf16 = self.backend == "native" and dtype == torch.bfloat16
        if self._native_bf16:
            dtype = torch.float32
        self.model = model.to(self.device, dtype).eval()
        self.config = cfg
        self.max_batch = max_batch
        self.max_seq = min(max_seq or cfg.block_size, cfg.block_size)
        if threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads!r}")
        self.threads = threads  # native backend: threads splitting each matrix product
        self.n_head = cfg.n_head
        self.head_dim = cfg.n_embd // cfg.n_head
        shape = (max_batch, cfg.n_head, self.max_seq, self.head_dim)
        # (B, H, T, D) per layer: a row's positions are contiguous (the decode kernel's layout)
        self.k_cache = [
            torch.zeros(shape, dtype=dtype, device=self.device) for _ in range(cfg.n_layer)
        ]
        self.v_cache = [
            torch.zeros(shape, dtype=dtype, device=self.device) for _ in range(cfg.n_layer)
        ]
        # (B * H * T, D) views: row (slot * H + h) * T + pos; new K/V are index_copy_'d in place
        self._k_flat = [c.view(-1, self.head_dim) for c in self.k_cache]
        self._v_flat = [c.view(-1, self.head_dim) for c in self.v_cache]
        self._head_offsets = torch.arange(cfg.n_head, device=self.device) * self.max_seq  # (H,)
        self._key_pos = torch.arange(self.max_seq, device=self.device)  # (T,)
        # the parameters each step reads, fetched once (nn.Module attribute lookups and calls
        # are a large part of a small model's step on the host); Parameters, so later in-place
        # changes of the model's weights are seen
        tr: Any = self.model.transformer
        self._embed = (tr.wte.weight, tr.wpe.weight, tr.ln_f.weight, tr.ln_f.bias)
        self._head = self.model.lm_head.weight
        self._layers = [
            (b.ln_1.weight, b.ln_1.bias, b.attn.c_attn.weight, b.attn.c_attn.bias,
             b.attn.c_proj.weight, b.attn.c_proj.bias, b.ln_2.weight, b.ln_2.bias,
             b.mlp.c_fc.weight, b.mlp.c_fc.bias, b.mlp.c_proj.weight, b.mlp.c_proj.bias,
             getattr(b.mlp.gelu, "approximate", "none"))
            for b in tr.h
        ]  # fmt: skip
        self.slot_tokens: list[list[int]] = [[] for _ in range(max_batch)]
        self.generator = torch.Generator(device="cpu").manual_seed(seed)
        self._seed = seed
        self._step = 0
        self.tokens_processed = 0  # for throughput reports
        self.forward_calls = 0
        # CUDA graphs of the single-token step, one per batch size (see _graph_decode)
        self.cuda_graphs = bool(
            cuda_graphs and self.device.type == "cuda" and self.backend == "triton"
        )
        self._graphs: dict[int, tuple[Any, torch.Tensor, torch.Tensor]] = {}
        self._native = None
        if self.backend == "native":
            try:
                self._native = self._native_model()
            except ValueError:
                if (backend or os.environ.get(_kernels().ENV_VAR) or "").lower() == "native":
                    raise
                # chosen by default but the model does not fit the C++ forward (e.g. a
                # non-contiguous weight): the PyTorch path takes anything
                self.backend = "torch"

    def _native_model(self) -> Any:
        """The C++ forward over numpy views of the parameters and KV caches (no copies; in-place
        changes of the weights are seen, as on the other paths)."""
        from chessformer import _core

        def view(t: torch.Tensor | None) -> np.ndarray | None:
            return None if t is None else t.detach().numpy()

        tr: Any = self.model.transformer
        layers = [
            {"ln1_w": view(b.ln_1.weight), "ln1_b": view(b.ln_1.bias),
             "attn_w": view(b.attn.c_attn.weight), "attn_b": view(b.attn.c_attn.bias),
             "proj_w": view(b.attn.c_proj.weight), "proj_b": view(b.attn.c_proj.bias),
             "ln2_w": view(b.ln_2.weight), "ln2_b": view(b.ln_2.bias),
             "fc_w": view(b.mlp.c_fc.weight), "fc_b": view(b.mlp.c_fc.bias),
             "mproj_w": view(b.mlp.c_proj.weight), "mproj_b": view(b.mlp.c_proj.bias),
             "gelu": getattr(b.mlp.gelu, "approximate", "none"),
             "eps1": float(b.ln_1.eps), "eps2": float(b.ln_2.eps)}
            for b in tr.h
        ]  # fmt: skip
        return _core.NativeGPT(
            view(tr.wte.weight),
            view(tr.wpe.weight),
            view(tr.ln_f.weight),
            view(tr.ln_f.bias),
            view(self.model.lm_head.weight),
            layers,
            [c.numpy() for c in self.k_cache],
            [c.numpy() for c in self.v_cache],
            n_head=self.n_head,
            eps=float(tr.ln_f.eps),
            bf16=self._native_bf16,
        )

    # ---- construction ---------------------------------------------------------------------------
    @classmethod
    def from_checkpoint(cls, path: str | Path, **kwargs: Any) -> InferenceEngine:
        """Load a run or checkpoint folder of ``chessformer train``, or a nanoGPT ``.pt`` file."""
        from chessformer.model.checkpoint import load_model

        model, tokenizer_info = load_model(path)
        return cls(model, get_tokenizer(tokenizer_info), **kwargs)

    def seed(self, seed: int) -> None:
        self.generator.manual_seed(seed)
        self._seed = seed
        self._step = 0

    def reset(self, slot: int | None = None) -> None:
        """Forget a slot's cached game (all slots when None); the memory is simply reused."""
        for s in range(self.max_batch) if slot is None else [slot]:
            self.slot_tokens[s] = []

    # ---- host -> device -------------------------------------------------------------------------
    def _to_device(self, values: list[int] | np.ndarray, dtype: torch.dtype) -> torch.Tensor:
        """One tensor from a host list or array, on the device: one copy, asynchronous on CUDA
        (from pinned memory, which the caching host allocator keeps until the copy has run)."""
        if isinstance(values, np.ndarray):
            host = torch.from_numpy(values).to(dtype)
            if self.device.type != "cuda":
                return host
            return host.pin_memory().to(self.device, non_blocking=True)
        if self.device.type != "cuda":
            return torch.tensor(values, dtype=dtype)
        host = torch.tensor(values, dtype=dtype, pin_memory=True)
        return host.to(self.device, non_blocking=True)

    # ---- the forward pass -----------------------------------------------------------------------
    @torch.no_grad()
    def _forward(self, slots: Sequence[int], chunks: Sequence[Sequence[int]],
                 candidates: Sequence[Sequence[int]] | None = None) -> torch.Tensor:  # fmt: skip
        """Feed ``chunks[i]`` (>= 1 token) to slot ``slots[i]``; logits (n, V) fp32 after each
        chunk's end.

        Rows of different lengths share the pass: chunks are padded to the longest and every query
        attends to its own slot's cached prefix plus its chunk so far. When every chunk is one
        token the single-token step runs instead.

        ``candidates[i]``: the only logits of row i the caller reads (e.g. the legal moves); the
        native backend computes just those and leaves the others -inf, the other paths compute
        every logit.
        """
        lens = [len(c) for c in chunks]
        base = [len(self.slot_tokens[s]) for s in slots]
        for s, b, ln in zip(slots, base, lens, strict=True):
            if ln < 1:
                raise ValueError(f"slot {s}: nothing to feed")
            if b + ln > self.max_seq:
                raise ValueError(f"slot {s}: {b + ln} tokens exceed the context of {self.max_seq}")
        slots = list(slots)
        if self._native is not None:
            logits = self._native_forward(slots, chunks, lens, base, candidates)
        else:
            logits = self._tensor_forward(slots, chunks, lens, base)
        for s, c in zip(slots, chunks, strict=True):
            self.slot_tokens[s].extend(c)
        self.tokens_processed += sum(lens)
        self.forward_calls += 1
        return logits

    def _tensor_forward(self, slots: list[int], chunks: Sequence[Sequence[int]], lens: list[int],
                        base: list[int]) -> torch.Tensor:  # fmt: skip
        """The torch/triton forward of ``_forward`` (arguments checked there)."""
        n = len(slots)
        inv: list[int] | None = None
        span: tuple[int | None, int] = (None, 0)  # torch path, see _span
        if self.backend != "triton":
            order = sorted(range(n), key=slots.__getitem__)
            if order != list(range(n)):
                # rows sorted by slot (so a permuted contiguous range is still a slice); the
                # logits come back in the caller's order
                inv = [0] * n
                for r, i in enumerate(order):
                    inv[i] = r
                slots = [slots[i] for i in order]
                chunks = [chunks[i] for i in order]
                lens = [lens[i] for i in order]
                base = [base[i] for i in order]
            span = self._span(slots)
        if max(lens) == 1:
            return self._decode(slots, [c[0] for c in chunks], base, span, inv)
        return self._prefill(slots, chunks, lens, base, inv)

    def _native_forward(
        self, slots: list[int], chunks: Sequence[Sequence[int]], lens: list[int], base: list[int],
        candidates: Sequence[Sequence[int]] | None,
    ) -> torch.Tensor:  # fmt: skip
        """The C++ forward (GIL released): flat tokens and offsets, K/V written in place, logits
        (n, V) in the caller's order; only ``candidates`` (when given) are computed."""
        assert self._native is not None
        flat = list(chain.from_iterable(chunks))
        offsets = [0, *accumulate(lens)]
        cand = cand_off = None
        if candidates is not None:
            cand = list(chain.from_iterable(candidates))
            cand_off = [0, *accumulate(len(c) for c in candidates)]
        out = self._native.forward(flat, offsets, slots, base, cand, cand_off, self.threads)
        return torch.from_numpy(out)

    def _decode(self, slots: list[int], tokens: list[int], base: list[int],
                span: tuple[int | None, int], inv: list[int] | None) -> torch.Tensor:  # fmt: skip
        """The single-token step: row i feeds ``tokens[i]`` at position ``base[i]`` of its slot."""
        n = len(slots)
        packed = self._to_device(slots + tokens + base + (inv or []), torch.long)
        if self.cuda_graphs:
            return self._graph_decode(packed, n)
        return self._decode_core(packed, n, span, max(base) + 1, inv is not None)

    def _decode_core(self, packed: torch.Tensor, n: int, span: tuple[int | None, int], S: int,
                     reorder: bool) -> torch.Tensor:  # fmt: skip
        """The single-token forward from the packed (slots, tokens, positions[, inverse order])
        device tensor; no host syncs, no allocation that depends on values (graph-capturable on
        the Triton path)."""
        slot_t, tok, pos = packed[:n], packed[n : 2 * n], packed[2 * n : 3 * n]
        H, D, C = self.n_head, self.head_dim, self.config.n_embd
        triton = self.backend == "triton"
        kb = _kernels()
        wte, wpe, lnf_w, lnf_b = self._embed
        x = F.embedding(tok, wte) + F.embedding(pos, wpe)  # (n, C)
        # cache row of (row i, head h): (slot_i * H + h) * T + pos_i
        widx = ((slot_t * (H * self.max_seq) + pos)[:, None] + self._head_offsets).view(-1)
        if triton:
            lengths = (pos + 1).to(torch.int32)  # (n,) the new token included
            slot32 = slot_t.to(torch.int32)
        else:
            mask = (self._key_pos[:S][None, :] <= pos[:, None])[:, None, None]  # (n, 1, 1, S)
            rows, mask = self._attention_rows(slot_t, span, mask)
        h = None  # pending residual branch output, fused into the next LayerNorm
        for layer, (l1w, l1b, aw, ab, pw, pb, l2w, l2b, fw, fb, mw, mb, gelu) in enumerate(
            self._layers
        ):
            y, x = _add_norm(h, x, l1w, l1b, triton)
            qkv = F.linear(y, aw, ab)  # (n, 3C)
            q = qkv[:, :C].view(n, H, D)
            self._k_flat[layer].index_copy_(0, widx, qkv[:, C : 2 * C].reshape(n * H, D))
            self._v_flat[layer].index_copy_(0, widx, qkv[:, 2 * C :].reshape(n * H, D))
            if triton:
                # flash-decoding kernel straight over the selected slots: nothing gathered
                kc, vc = self.k_cache[layer], self.v_cache[layer]
                o = kb.decode_attention(q, kc, vc, lengths, slots=slot32, backend="triton")
            else:
                o = self._attend(q[:, :, None], layer, S, span, rows, mask)  # (n, H, 1, D)
            a = F.linear(o.reshape(n, C), pw, pb)
            y, x = _add_norm(a, x, l2w, l2b, triton)
            h = F.linear(F.gelu(F.linear(y, fw, fb), approximate=gelu), mw, mb)
        assert h is not None
        x = x + h
        if reorder:
            x = x.index_select(0, packed[3 * n : 4 * n])
        return F.linear(F.layer_norm(x, (C,), lnf_w, lnf_b), self._head).float()  # (n, V)

    def _graph_decode(self, packed: torch.Tensor, n: int) -> torch.Tensor:
        """The single-token step replayed from a CUDA graph captured for batch size ``n``.

        The graph reads only ``static_in`` (refilled each call), the weights and the KV cache
        (fixed addresses for the engine's lifetime); every shape in the step depends on ``n``
        alone on the Triton path, so the same graph is valid for any slots, tokens and positions.
        The first call for a given ``n`` runs the step eagerly (its result is returned; this also
        compiles the kernels) and then captures it -- capture records without executing.
        """
        entry = self._graphs.get(n)
        if entry is not None:
            graph, static_in, static_out = entry
            static_in.copy_(packed)
            graph.replay()
            return static_out.clone()
        static_in = packed.clone()
        main = torch.cuda.current_stream(self.device)
        side = torch.cuda.Stream(self.device)
        side.wait_stream(main)
        with torch.cuda.stream(side):
            out = self._decode_core(static_in, n, (None, 0), 0, False)  # the real step
        main.wait_stream(side)
        out.record_stream(main)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            static_out = self._decode_core(static_in, n, (None, 0), 0, False)
        self._graphs[n] = (graph, static_in, static_out)
        return out

    def _prefill(
        self, slots: list[int], chunks: Sequence[Sequence[int]], lens: list[int], base: list[int],
        inv: list[int] | None,
    ) -> torch.Tensor:  # fmt: skip
        """Chunks of any lengths, as one flat batch of their tokens (no padding) through every
        layer but attention. Attention: on the Triton path every token is a row of the decode
        kernel (length: its position + 1, over its slot); on the torch path rows are grouped by
        chunk length (powers of two) and each group is padded to its longest chunk for SDPA --
        a padding query repeats one of the row's real tokens and its output is dropped."""
        n = len(slots)
        H, D, C = self.n_head, self.head_dim, self.config.n_embd
        tok: list[int] = []
        pos: list[int] = []
        wrow: list[int] = []  # cache rows (slot * H) * T_max + position of the tokens
        start: list[int] = []  # flat index of each row's first token
        for c, b, ln, s in zip(chunks, base, lens, slots, strict=True):
            start.append(len(tok))
            tok.extend(c)
            pos.extend(range(b, b + ln))
            r = s * H * self.max_seq
            wrow.extend(range(r + b, r + b + ln))
        nv = len(tok)
        last = [start[i] + lens[i] - 1 for i in range(n)]
        if inv is not None:
            last = [last[r] for r in inv]  # the caller's order
        ints = tok + pos + wrow + last
        triton = self.backend == "triton"
        # torch path, per group: (rows, Tg, S, span, offsets of its slots, pad index, kept index,
        # number kept)
        groups: list[tuple[int, int, int, tuple[int | None, int], int, int | None, int | None,
                           int]] = []  # fmt: skip
        perm_off: int | None = None
        if triton:
            ints += [s for s, ln in zip(slots, lens, strict=True) for _ in range(ln)]
        else:
            by_len: dict[int, list[int]] = {}
            for i, ln in enumerate(lens):
                by_len.setdefault((ln - 1).bit_length(), []).append(i)
            single = len(by_len) == 1
            order: list[int] = []  # flat tokens in group order
            for rows in by_len.values():
                g, Tg = len(rows), max(lens[i] for i in rows)
                g_slots = [slots[i] for i in rows]
                padded = any(lens[i] < Tg for i in rows)
                pad: list[int] = []
                kept: list[int] = []
                for j, i in enumerate(rows):
                    ln = lens[i]
                    pad.extend(range(start[i], start[i] + ln))
                    pad.extend([start[i] + ln - 1] * (Tg - ln))
                    kept.extend(range(j * Tg, j * Tg + ln))
                    order.extend(range(start[i], start[i] + ln))
                S = max(base[i] + lens[i] for i in rows)
                off = len(ints)
                ints += g_slots
                pad_off = kept_off = None
                if padded or not single:
                    pad_off = len(ints)
                    ints += pad
                if padded:
                    kept_off = len(ints)
                    ints += kept
                groups.append((g, Tg, S, self._span(g_slots), off, pad_off, kept_off, len(kept)))
            if not single:
                perm = [0] * nv
                for k, f in enumerate(order):
                    perm[f] = k
                perm_off = len(ints)
                ints += perm
        packed = self._to_device(ints, torch.long)
        tok_t, pos_t, wrow_t = packed[:nv], packed[nv : 2 * nv], packed[2 * nv : 3 * nv]
        last_t = packed[3 * nv : 3 * nv + n]
        widx = (wrow_t[:, None] + self._head_offsets).view(-1)  # (nv * H,)
        kb = _kernels()
        plan: list[Any] = []  # torch path: per group (g, Tg, S, span, rows, pad, kept, mask)
        perm_t = packed[perm_off : perm_off + nv] if perm_off is not None else None
        if triton:
            lengths = (pos_t + 1).to(torch.int32)  # (nv,)
            slot_q = packed[3 * nv + n : 4 * nv + n].to(torch.int32)  # each token's slot
        else:
            for g, Tg, S, g_span, off, pad_off, kept_off, n_kept in groups:
                pad_t = packed[pad_off : pad_off + g * Tg] if pad_off is not None else None
                kept_t = packed[kept_off : kept_off + n_kept] if kept_off is not None else None
                posg = pos_t if pad_t is None else pos_t.index_select(0, pad_t)
                mask = (self._key_pos[:S][None, None, :] <= posg.view(g, Tg, 1))[:, None]
                rows_t, mask = self._attention_rows(packed[off : off + g], g_span, mask)
                plan.append((g, Tg, S, g_span, rows_t, pad_t, kept_t, mask))
        wte, wpe, lnf_w, lnf_b = self._embed
        x = F.embedding(tok_t, wte) + F.embedding(pos_t, wpe)  # (nv, C)
        h = None
        for layer, (l1w, l1b, aw, ab, pw, pb, l2w, l2b, fw, fb, mw, mb, gelu) in enumerate(
            self._layers
        ):
            y, x = _add_norm(h, x, l1w, l1b, triton)
            qkv = F.linear(y, aw, ab)  # (nv, 3C)
            self._k_flat[layer].index_copy_(0, widx, qkv[:, C : 2 * C].reshape(nv * H, D))
            self._v_flat[layer].index_copy_(0, widx, qkv[:, 2 * C :].reshape(nv * H, D))
            q = qkv[:, :C].view(nv, H, D)
            if triton:
                kc, vc = self.k_cache[layer], self.v_cache[layer]
                o = kb.decode_attention(q, kc, vc, lengths, slots=slot_q, backend="triton")
                o = o.view(nv, C)
            else:
                outs = []
                for g, Tg, S, g_span, rows_t, pad_t, kept_t, mask in plan:
                    qg = q if pad_t is None else q.index_select(0, pad_t)
                    qg = qg.view(g, Tg, H, D).transpose(1, 2)  # (g, H, Tg, D)
                    og = self._attend(qg, layer, S, g_span, rows_t, mask)
                    og = og.transpose(1, 2).reshape(g * Tg, C)
                    outs.append(og if kept_t is None else og.index_select(0, kept_t))
                o = outs[0] if perm_t is None else torch.cat(outs).index_select(0, perm_t)
            a = F.linear(o, pw, pb)
            y, x = _add_norm(a, x, l2w, l2b, triton)
            h = F.linear(F.gelu(F.linear(y, fw, fb), approximate=gelu), mw, mb)
        assert h is not None
        x = (x + h).index_select(0, last_t)  # (n, C), the caller's order
        return F.linear(F.layer_norm(x, (C,), lnf_w, lnf_b), self._head).float()  # (n, V)

    # ---- torch-path attention over a subset of the slots --------------------------------------
    @staticmethod
    def _span(sorted_slots: list[int]) -> tuple[int | None, int]:
        """How the torch path reaches the caches of these (sorted, distinct) slots: ``(lo, span)``
        -- attend over the view of slots lo..lo+span-1 (queries placed at their slots when the
        range has gaps), or ``(None, 0)`` -- gather the rows (when the range is > 3x the rows,
        a gather, which copies, reads less than the whole range)."""
        lo, span = sorted_slots[0], sorted_slots[-1] - sorted_slots[0] + 1
        return (lo, span) if span <= 3 * len(sorted_slots) else (None, 0)

    def _attention_rows(self, slot_t: torch.Tensor, span: tuple[int | None, int],
                        mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
        """Per call: the index ``_attend`` uses for these slots and the mask ``(g, 1, T, S)``
        widened to the span's rows (rows of other slots see position 0 only; dropped)."""
        lo, width = span
        g = slot_t.size(0)
        if lo is None:
            return slot_t, mask
        rows = slot_t - lo
        if width == g:
            return rows, mask
        wide = torch.zeros((width, *mask.shape[1:]), dtype=torch.bool, device=mask.device)
        wide[..., 0] = True
        return rows, wide.index_copy_(0, rows, mask)

    def _attend(self, q: torch.Tensor, layer: int, S: int, span: tuple[int | None, int],
                rows: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:  # fmt: skip
        """SDPA of ``q`` (g, H, T, D) -- row i at slot ``slot_i`` -- over positions < S of the
        slots' caches; ``rows``/``mask`` from ``_attention_rows``."""
        kc, vc = self.k_cache[layer], self.v_cache[layer]
        lo, width = span
        if lo is None:
            ks = kc[:, :, :S].index_select(0, rows)  # (g, H, S, D): only the rows needed
            vs = vc[:, :, :S].index_select(0, rows)
            return F.scaled_dot_product_attention(q, ks, vs, attn_mask=mask)
        ks, vs = kc[lo : lo + width, :, :S], vc[lo : lo + width, :, :S]  # views, no copy
        if width == q.size(0):
            return F.scaled_dot_product_attention(q, ks, vs, attn_mask=mask)
        wide = q.new_zeros((width, *q.shape[1:])).index_copy_(0, rows, q)
        return F.scaled_dot_product_attention(wide, ks, vs, attn_mask=mask).index_select(0, rows)

    def _sync(self, slot: int, tokens: list[int]) -> list[int]:
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

    def _sample(
        self, logits: torch.Tensor, legal: Sequence[Sequence[int]] | None, temps: Sequence[float],
        top_k: int | None, top_p: float | None,
        keys: tuple[list[int], list[int], int] | None = None,
    ) -> tuple[list[int], list[float]]:  # fmt: skip
        """Masked, tempered sampling of each row; returns ids and their probabilities.

        ``legal[r]``: the ids row r may take (None: all). ``keys``: per-row seed words and the
        draw number for seeded noise (see ``_seeded_uniform``, evaluated on the host at the
        allowed entries only); None uses the engine's generator. The one device-to-host sync is
        the final copy of the ids and probabilities.
        """
        n, V = logits.shape
        dev = logits.device
        if (
            dev.type == "cpu" and legal is not None and all(legal)
            and not (top_k is not None and top_k > 0) and not (top_p is not None and 0 < top_p < 1)
        ):  # fmt: skip
            return self._sample_host(logits, legal, temps, keys)
        flat: torch.Tensor | None = None
        flat_host: list[int] | None = None
        if legal is not None:
            flat_host = [r * V + j for r, ids in enumerate(legal) for j in ids]
            flat = self._to_device(flat_host, torch.long)
            allowed = torch.zeros(n * V, dtype=torch.bool, device=dev).index_fill_(0, flat, True)
            logits = logits.float().masked_fill(~allowed.view(n, V), -math.inf)
        else:
            logits = logits.float()
        if keys is None:
            tau = self._to_device(np.asarray(temps, dtype=np.float32), torch.float32)  # (n,)
        else:
            # per-row counter-based Gumbel noise at the allowed entries, drawn on the host
            idx_np = np.arange(n * V) if flat_host is None else np.asarray(flat_host, np.int64)
            rows_np = idx_np // V
            key_lo = np.asarray(keys[0], np.int64)[rows_np]
            key_hi = np.asarray(keys[1], np.int64)[rows_np]
            gumbel = -np.log(-np.log(_seeded_uniform(key_lo, key_hi, keys[2], idx_np % V)))
            floats = np.concatenate([np.asarray(temps), gumbel]).astype(np.float32)
            tau_noise = self._to_device(floats, torch.float32)
            tau, noise = tau_noise[:n], tau_noise[n:]
        if top_k is not None and top_k > 0:
            kth = torch.topk(logits, min(top_k, logits.size(-1)), dim=-1).values[:, -1:]
            logits = logits.masked_fill(logits < kth, -math.inf)
        probs = torch.softmax(logits / tau.clamp_min(1e-6)[:, None], dim=-1)  # (n, V)
        if top_p is not None and 0 < top_p < 1:
            sp, si = probs.sort(dim=-1, descending=True)
            drop = (sp.cumsum(-1) - sp) > top_p  # keep the smallest prefix reaching top_p
            logits = logits.masked_fill(torch.zeros_like(drop).scatter(1, si, drop), -math.inf)
            probs = torch.softmax(logits / tau.clamp_min(1e-6)[:, None], dim=-1)
        self._step += 1
        if keys is not None:
            # Gumbel-max over the allowed entries: exact argmax at tau = 0 (the noise is finite)
            idx = flat if flat is not None else torch.arange(n * V, device=dev)
            score = torch.full((n * V,), -math.inf, device=dev)
            score.index_copy_(0, idx, logits.view(-1)[idx] + tau[idx // V] * noise)
            ids = score.view(n, V).argmax(dim=-1)
        else:
            seed = int(torch.randint(0, 2**31 - 1, (1,), generator=self.generator))
            if self.backend == "triton":
                ids = _kernels().sample(logits, torch.isfinite(logits), tau, seed, backend="triton")
            else:
                # Gumbel-max on the CPU generator: exact argmax at tau = 0, softmax(l / tau) else
                u = torch.rand(logits.shape, generator=self.generator).clamp_min(1e-20).to(dev)
                score = logits + tau[:, None] * -torch.log(-torch.log(u))
                ids = score.argmax(dim=-1)
        p = torch.where(tau <= 0, 1.0, probs.gather(1, ids[:, None])[:, 0])
        res = torch.stack([ids.double(), p.double()]).tolist()  # the one sync
        return [int(i) for i in res[0]], res[1]

    def _sample_host(
        self, logits: torch.Tensor, legal: Sequence[Sequence[int]], temps: Sequence[float],
        keys: tuple[list[int], list[int], int] | None,
    ) -> tuple[list[int], list[float]]:  # fmt: skip
        """``_sample`` on the CPU without top-k/top-p, in numpy over the allowed entries only (a
        few dozen a row instead of every logit). Same results as the general path: the same
        float32 noise (the engine generator's full-shape draw, or ``_seeded_uniform``), the same
        float32 score ``logit + tau * noise``, ties to the lowest id, and the chosen id's
        probability under softmax(logits / tau) over the allowed entries."""
        n, V = logits.shape
        lens = [len(ids) for ids in legal]
        cols = np.fromiter(chain.from_iterable(legal), np.int64, sum(lens))
        rows = np.repeat(np.arange(n), lens)
        starts = np.asarray([0, *accumulate(lens)][:-1], np.int64)
        lg = (logits if logits.dtype == torch.float32 else logits.float()).detach().numpy()
        lg = lg[rows, cols]  # (m,) float32
        tau = np.asarray(temps, np.float64).astype(np.float32)
        self._step += 1
        if keys is None:
            # the same draws as the general path (the generator advances alike: the Triton
            # kernel's seed, then the uniforms); the logs of the allowed entries only, in torch
            # (numpy's float32 log rounds differently)
            torch.randint(0, 2**31 - 1, (1,), generator=self.generator)
            u = torch.rand((n, V), generator=self.generator).clamp_min(1e-20)
            picked = u.view(-1).index_select(0, torch.from_numpy(rows * V + cols))
            noise = (-torch.log(-torch.log(picked))).numpy()
        else:
            u64 = _seeded_uniform_rows(keys[0], keys[1], keys[2], rows, cols)
            noise = (-np.log(-np.log(u64))).astype(np.float32)
        score = lg + tau[rows] * noise  # float32, rounded as on the general path
        # per row: the best score, ties to the lowest id
        best = np.lexsort((cols, -score, rows))[starts]
        ids = cols[best]
        z = lg / np.maximum(tau, np.float32(1e-6))[rows]
        top = np.maximum.reduceat(z, starts)
        e = np.exp(z - top[rows])
        p = e[best] / np.add.reduceat(e, starts)
        return ids.tolist(), np.where(tau <= 0, 1.0, p.astype(np.float64)).tolist()

    # ---- public API -----------------------------------------------------------------------------
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
            keys = [_game_key(s, b.ply) for s, b in zip(seeds, boards, strict=True)]
        restrict = self._restrictions(boards, searchmoves)
        out: Out = [None] * n
        if self.tokenizer.name == "move":
            self._choose_move_tokens(boards, slots, temps, restrict, out, top_k, top_p, keys)
        else:
            self._choose_char(boards, slots, temps, restrict, out, top_k, top_p, keys, decoding)
        return [c if c is not None else MoveChoice(None, 0.0, 0) for c in out]

    def move_probabilities(
        self, board: Board, *, slot: int = 0, temperature: float = 1.0
    ) -> dict[str, float]:
        """The model's distribution over the legal moves of ``board`` (UCI -> probability), at the
        given temperature; used for MultiPV. For char models each legal SAN is scored whole."""
        legal = list(board._board.legal_moves_uci())
        if not legal:
            return {}
        if self.tokenizer.name == "move":
            from chessformer.moves import move_to_id

            tokens = self._prompt_move(board)
            cand = [move_to_id(u) for u in legal]
            logits = self._forward([slot], [self._sync(slot, tokens)], [cand])[0]
            lp = logits[torch.tensor(cand, device=logits.device)]
        else:
            lp = self._score_sans(board, slot, legal)
        t = max(temperature, 1e-6)
        probs = torch.softmax(lp.float() / t, dim=-1).tolist()
        return dict(sorted(zip(legal, probs, strict=True), key=lambda kv: -kv[1]))

    # ---- move tokenizer -------------------------------------------------------------------------
    def _window_cut(self, n: int, head: int) -> int:
        """Where a too-long game's window starts (an extension beyond the paper, whose games end
        at move 89): the start moves in steps of half the context, so consecutive calls keep
        the same window -- and its KV cache -- until it fills up again."""
        room = self.max_seq - MAX_SAN_CHARS - 2 - head
        if n <= room + head:
            return 0
        stride = max(1, room // 2)
        return head + ((n - head - room) // stride + 1) * stride

    def _window(self, tokens: list[int], head: list[int]) -> list[int]:
        cut = self._window_cut(len(tokens), len(head))
        return tokens if cut == 0 else head + tokens[cut:]

    def _prompt_move(self, board: Board) -> list[int]:
        tokens = self.tokenizer.encode(board).tolist()
        return self._window(tokens, tokens[:1])

    def _choose_move_tokens(
        self, boards: Sequence[Board], slots: list[int], temps: list[float],
        restrict: list[set[str] | None], out: Out, top_k: int | None, top_p: float | None,
        keys: list[tuple[int, int]] | None,
    ) -> None:  # fmt: skip
        from chessformer import _core
        from chessformer.moves import MOVE_VOCAB, move_to_id

        ids_np, offsets = _core.legal_move_ids([b._board for b in boards])  # one C++ call
        all_ids, offs = ids_np.tolist(), offsets.tolist()
        legal: list[list[int]] = []
        for i, only in enumerate(restrict):
            legal.append(
                all_ids[offs[i] : offs[i + 1]]
                if only is None
                else sorted(move_to_id(u) for u in only)
            )
        todo = [i for i in range(len(boards)) if legal[i]]
        if not todo:
            return
        chunks = [self._sync(slots[i], self._prompt_move(boards[i])) for i in todo]
        cands = [legal[i] for i in todo]
        logits = self._forward([slots[i] for i in todo], chunks, cands)  # (n, V)
        ids, probs = self._sample(
            logits, cands, [temps[i] for i in todo], top_k, top_p,
            self._draw_keys(keys, todo, 0),
        )  # fmt: skip
        for r, i in enumerate(todo):
            out[i] = MoveChoice(Move.from_uci(MOVE_VOCAB[ids[r]]), probs[r])

    # ---- char tokenizer -------------------------------------------------------------------------
    def _prompt_char(self, board: Board) -> tuple[list[int], dict[str, str]]:
        """Tokens up to where the next SAN starts (";1.e4 e5 2."), and SAN -> UCI of legal moves."""
        from chessformer import _core
        from chessformer.board import STARTING_FEN

        if board._board.start_fen() == STARTING_FEN:
            text = _core.char_transcript(board._board)
        else:
            # A game set up from a FEN: number the moves from its move number (off the paper's
            # distribution, but the model still sees the moves played since the setup).
            replay = Board(board._board.start_fen(), chess960=board.chess960)
            parts = []
            for mv in board.move_stack:
                san = replay.san(mv)
                parts.append(f"{replay.fullmove_number}.{san}" if replay.turn else san)
                replay.push(mv)
            text = ";" + " ".join(parts)
        if len(text) > 1:
            text += " "
        if board.turn:
            text += f"{board.fullmove_number}."
        tokens = _char_ids(text)
        cut = self._window_cut(len(text), 1)
        if cut:
            # keep ';' and restart the window at a White move number at or after the cut
            j = cut
            while j < len(text) and not (text[j - 1] == " " and text[j].isdigit()):
                j += 1
            tokens = [_CHAR_ID[";"], *_char_ids(text[j:])]
        # one C++ call each: SANs and UCIs of the legal moves, in the same order
        legal = dict(zip(board._board.sans(), board._board.legal_moves_uci(), strict=True))
        return tokens, legal

    def _choose_char(
        self, boards: Sequence[Board], slots: list[int], temps: list[float],
        restrict: list[set[str] | None], out: Out, top_k: int | None, top_p: float | None,
        keys: list[tuple[int, int]] | None, decoding: str,
    ) -> None:  # fmt: skip
        state: dict[int, _CharState] = {}
        for i, b in enumerate(boards):
            tokens, legal = self._prompt_char(b)
            r = restrict[i]
            sans = legal if r is None else {san: uci for san, uci in legal.items() if uci in r}
            if not sans:
                continue  # no legal move: out[i] stays None
            state[i] = _CharState(
                self._sync(slots[i], tokens), sans, prompt_last=tokens[-1], prompt_len=len(tokens)
            )
        if decoding == "paper":
            self._decode_char_paper(boards, slots, temps, state, out, keys)
        else:
            self._decode_char_masked(slots, temps, state, out, top_k, top_p, keys)

    def _decode_char_masked(
        self, slots: list[int], temps: list[float], state: dict[int, _CharState], out: Out,
        top_k: int | None, top_p: float | None, keys: list[tuple[int, int]] | None,
    ) -> None:  # fmt: skip
        active = list(state)
        draw = 0
        while active:
            still = []
            for i in active:
                st = state[i]
                # characters forced by the trie need no sampling: feed them with the next pass
                nxt = st.continuations()
                while len(nxt) == 1 and st.typed not in st.sans:
                    st.typed += nxt
                    st.pending.append(_CHAR_ID[nxt])
                    nxt = st.continuations()
                if st.typed in st.sans and not nxt:
                    # done; the SAN's last character is fed with the next call's tokens
                    out[i] = MoveChoice(Move.from_uci(st.sans[st.typed]), st.prob, 1, st.typed)
                else:
                    still.append(i)
            active = still
            if not active:
                break
            logits = self._forward([slots[i] for i in active], [state[i].pending for i in active])
            legal = [[_CHAR_ID[c] for c in state[i].continuations()] for i in active]
            k = self._draw_keys(keys, active, draw)
            ids, probs = self._sample(logits, legal, [temps[i] for i in active], top_k, top_p, k)
            draw += 1
            for r, i in enumerate(active):
                st = state[i]
                st.typed += CHAR_VOCAB[ids[r]]
                st.prob *= probs[r]
                st.pending = [ids[r]]

    def _decode_char_paper(
        self, boards: Sequence[Board], slots: list[int], temps: list[float],
        state: dict[int, _CharState], out: Out, keys: list[tuple[int, int]] | None,
    ) -> None:  # fmt: skip
        """The paper's decoding: free characters up to a space (<= 10); resample if illegal; a
        result string resigns."""
        active = list(state)
        draw = 0
        while active:
            logits = self._forward([slots[i] for i in active], [state[i].pending for i in active])
            k = self._draw_keys(keys, active, draw)
            ids, probs = self._sample(logits, None, [temps[i] for i in active], None, None, k)
            draw += 1
            still = []
            for r, i in enumerate(active):
                st = state[i]
                c = CHAR_VOCAB[ids[r]] if ids[r] < len(CHAR_VOCAB) else "?"
                if c not in " ;" and len(st.typed) < MAX_SAN_CHARS:
                    st.typed += c
                    st.prob *= probs[r]
                    st.pending = [ids[r]]
                    still.append(i)
                    continue
                if st.typed in RESULT_STRINGS:  # the model wrote a result: it resigns
                    out[i] = MoveChoice(None, st.prob, st.attempt, st.typed, resigned=True)
                    continue
                move: Move | None = None
                try:
                    move = boards[i].parse_san(st.typed) if st.typed else None
                except ValueError:
                    move = None
                if move is not None and move.uci() in st.sans.values():
                    out[i] = MoveChoice(move, st.prob, st.attempt, st.typed)
                elif st.attempt >= PAPER_ATTEMPTS:
                    out[i] = MoveChoice(None, 0.0, st.attempt, st.typed)
                else:
                    # resample from the prompt: forget the sampled characters' cache entries
                    del self.slot_tokens[slots[i]][st.prompt_len - 1 :]
                    st.pending = [st.prompt_last]
                    st.typed, st.prob, st.attempt = "", 1.0, st.attempt + 1
                    still.append(i)
            active = still

    @staticmethod
    def _draw_keys(keys: list[tuple[int, int]] | None, rows: list[int],
                   draw: int) -> tuple[list[int], list[int], int] | None:  # fmt: skip
        if keys is None:
            return None
        return [keys[i][0] for i in rows], [keys[i][1] for i in rows], draw

    def _score_sans(self, board: Board, slot: int, legal_uci: list[str]) -> torch.Tensor:
        """Log-probability of each legal move's SAN (char models), teacher-forced in one batch
        that uses free slots as scratch (slot ``slot``'s cache is left as it was)."""
        tokens, legal = self._prompt_char(board)
        uci_to_san = {u: s for s, u in legal.items()}
        prefix_logits = self._forward([slot], [self._sync(slot, tokens)])[0]
        scores = []
        for uci in legal_uci:
            san = uci_to_san[uci] + " "
            ids = [_CHAR_ID[c] for c in san]
            lp = float(torch.log_softmax(prefix_logits, -1)[ids[0]])
            if len(ids) > 1:
                saved = list(self.slot_tokens[slot])
                logits_seq = self._teacher_force(slot, ids[:-1])
                lp += float(
                    torch.log_softmax(logits_seq, -1)
                    .gather(1, torch.tensor(ids[1:], device=logits_seq.device)[:, None])
                    .sum()
                )
                self.slot_tokens[slot] = saved
            scores.append(lp)
        return torch.tensor(scores)

    def _teacher_force(self, slot: int, ids: list[int]) -> torch.Tensor:
        """Logits after each of ``ids`` fed one at a time to ``slot`` (small, for scoring)."""
        rows = []
        for t in ids:
            rows.append(self._forward([slot], [[t]])[0])
        return torch.stack(rows)  # (len(ids), V)

    # ---- helpers --------------------------------------------------------------------------------
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

    @staticmethod
    def _allowed_moves(
        boards: Sequence[Board], searchmoves: Sequence[Sequence[str] | None] | None
    ) -> list[set[str]]:
        allowed = []
        for i, b in enumerate(boards):
            legal = set(b._board.legal_moves_uci())
            if searchmoves is not None and searchmoves[i]:
                restricted = legal & set(searchmoves[i] or ())
                legal = restricted or legal
            allowed.append(legal)
        return allowed

    def stats(self) -> dict[str, Any]:
        return {"tokens": self.tokens_processed, "forward_calls": self.forward_calls,
                "backend": self.backend, "device": str(self.device)}  # fmt: skip


def masked_argmax_ids(logits: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Reference for tests: argmax over legal entries of each row."""
    return np.where(mask, logits, -np.inf).argmax(axis=-1)
