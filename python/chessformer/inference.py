"""Batched low-temperature inference: a KV-cache engine that plays many games at once.

    from chessformer.inference import InferenceEngine
    engine = InferenceEngine.from_checkpoint("runs/x")  # or InferenceEngine(model, tokenizer)
    choices = engine.choose_moves([board1, board2], temperature=0.001)
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
  game is lost) -- for side-by-side comparison.

Temperature 0 is exact argmax; sampling is Gumbel-max with a seeded generator (reproducible).
On CUDA the attention of single-token steps, the residual-add + LayerNorm and the masked sampler
run as Triton kernels (``chessformer.kernels``); elsewhere the PyTorch references run.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from chessformer.board import Board, Move
from chessformer.model import GPT
from chessformer.tokenizers import Tokenizer, get_tokenizer

__all__ = ["InferenceEngine", "MoveChoice"]

NUM_MOVES = 1968
CHAR_VOCAB = " #+-.0123456789;=BKNOQRabcdefghx"
_CHAR_ID = {c: i for i, c in enumerate(CHAR_VOCAB)}
MAX_SAN_CHARS = 10  # the paper samples at most 10 characters for a move
PAPER_ATTEMPTS = 5  # the paper resamples an illegal move up to 5 times


@dataclass(frozen=True)
class MoveChoice:
    """The engine's move for one game. ``move`` is None when there is none to play: no legal
    move, or the paper decoding failed five times (the game is lost)."""

    move: Move | None
    probability: float  # of the chosen move under the sampling distribution (1.0 at tau = 0)
    attempts: int = 1  # paper decoding: samples drawn
    text: str = ""  # char models: the sampled SAN


@dataclass
class _CharState:
    """One game's progress through constrained (or paper) character decoding."""

    pending: list[int]  # tokens to feed on the next forward pass
    sans: dict[str, str]  # legal SAN -> UCI (restricted by searchmoves)
    prompt_len: int = 0
    typed: str = ""  # SAN characters chosen so far
    prob: float = 1.0
    attempt: int = 1

    def continuations(self) -> set[str]:
        k = len(self.typed)
        return {s[k] for s in self.sans if len(s) > k and s.startswith(self.typed)}


Allowed = list[set[str]]
Out = list["MoveChoice | None"]


def _kernels() -> Any:
    from chessformer.kernels import backend

    return backend


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
        self.model = model.to(self.device, dtype).eval()
        self.config = cfg
        self.max_batch = max_batch
        self.max_seq = min(max_seq or cfg.block_size, cfg.block_size)
        self.backend = _kernels().get_backend(self.device, backend)
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
        self.slot_tokens: list[list[int]] = [[] for _ in range(max_batch)]
        self.generator = torch.Generator(device="cpu").manual_seed(seed)
        self._seed = seed
        self._step = 0
        self.tokens_processed = 0  # for throughput reports
        self.forward_calls = 0

    # ---- construction ---------------------------------------------------------------------------
    @classmethod
    def from_checkpoint(cls, path: str | Path, **kwargs: Any) -> InferenceEngine:
        """Load a run or checkpoint folder of ``chessformer train``, or a nanoGPT ``.pt`` file."""
        from chessformer.checkpoint import load_model

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

    # ---- the forward pass -----------------------------------------------------------------------
    @torch.no_grad()
    def _forward(self, slots: list[int], chunks: list[list[int]]) -> torch.Tensor:
        """Feed ``chunks[i]`` (>= 1 token) to slot ``slots[i]``; logits after each chunk's end.

        Rows of different lengths share the pass: chunks are padded to the longest and every query
        attends to its own slot's cached prefix plus its chunk so far.
        """
        n = len(slots)
        lens = [len(c) for c in chunks]
        T = max(lens)
        base = [len(self.slot_tokens[s]) for s in slots]
        for s, b, ln in zip(slots, base, lens, strict=True):
            if b + ln > self.max_seq:
                raise ValueError(f"slot {s}: {b + ln} tokens exceed the context of {self.max_seq}")
        dev = self.device
        idx = torch.zeros((n, T), dtype=torch.long)
        for i, c in enumerate(chunks):
            idx[i, : len(c)] = torch.tensor(c, dtype=torch.long)
        idx = idx.to(dev)
        base_t = torch.tensor(base, dtype=torch.long, device=dev)  # (n,)
        lens_t = torch.tensor(lens, dtype=torch.long, device=dev)  # (n,)
        t_ar = torch.arange(T, device=dev)  # (T,)
        pos = base_t[:, None] + t_ar[None, :]  # (n, T)
        valid = t_ar[None, :] < lens_t[:, None]  # (n, T)
        pos_c = torch.where(valid, pos, torch.zeros_like(pos))  # padded queries write nowhere new
        slot_t = torch.tensor(slots, dtype=torch.long, device=dev)
        rows = slot_t[:, None].expand(n, T)[valid]  # (N_valid,)
        cols = pos[valid]  # (N_valid,)
        S = int(max(b + ln for b, ln in zip(base, lens, strict=True)))
        # query t of row i sees cache positions <= base_i + t; padded queries see position 0 only
        key_pos = torch.arange(S, device=dev)  # (S,)
        attn_mask = key_pos[None, None, :] <= pos_c[:, :, None]  # (n, T, S)
        attn_mask = attn_mask[:, None]  # (n, 1, T, S)
        single = T == 1 and self.backend == "triton"
        kb = _kernels()

        tr: Any = self.model.transformer  # nn.ModuleDict: attribute types are opaque to mypy
        x = tr.wte(idx) + tr.wpe(pos_c)  # (n, T, C)
        h = None  # pending residual branch output, fused into the next LayerNorm
        for layer, block in enumerate(tr.h):
            if h is None:
                y = F.layer_norm(x, (x.size(-1),), block.ln_1.weight, block.ln_1.bias)
            elif self.backend == "triton":
                y, x = kb.add_layernorm(h, x, block.ln_1.weight, backend="triton")
            else:
                x = x + h
                y = F.layer_norm(x, (x.size(-1),), block.ln_1.weight, block.ln_1.bias)
            attn = block.attn
            q, k, v = attn.c_attn(y).split(self.config.n_embd, dim=2)  # 3 x (n, T, C)
            q = q.view(n, T, self.n_head, self.head_dim).transpose(1, 2)  # (n, H, T, D)
            k = k.view(n, T, self.n_head, self.head_dim).transpose(1, 2)  # (n, H, T, D)
            v = v.view(n, T, self.n_head, self.head_dim).transpose(1, 2)  # (n, H, T, D)
            kc, vc = self.k_cache[layer], self.v_cache[layer]
            kc[rows, :, cols] = k.transpose(1, 2)[valid]  # (N_valid, H, D)
            vc[rows, :, cols] = v.transpose(1, 2)[valid]
            if single:
                # one new token per row: flash-decoding kernel straight over the slots' caches
                o = kb.decode_attention(
                    q[:, :, 0],
                    kc[slot_t],
                    vc[slot_t],
                    (base_t + 1).to(torch.int32),
                    backend="triton",
                )[:, :, None]  # (n, H, 1, D)
            else:
                o = F.scaled_dot_product_attention(
                    q, kc[slot_t, :, :S], vc[slot_t, :, :S], attn_mask=attn_mask
                )  # (n, H, T, D)
            o = o.transpose(1, 2).reshape(n, T, self.config.n_embd)  # (n, T, C)
            a = attn.c_proj(o)
            if self.backend == "triton":
                y, x = kb.add_layernorm(a, x, block.ln_2.weight, backend="triton")
            else:
                x = x + a
                y = F.layer_norm(x, (x.size(-1),), block.ln_2.weight, block.ln_2.bias)
            h = block.mlp.c_proj(block.mlp.gelu(block.mlp.c_fc(y)))
        assert h is not None
        x = x + h
        last = x[torch.arange(n, device=dev), lens_t - 1]  # (n, C)
        logits = self.model.lm_head(tr.ln_f(last))  # (n, V)
        for s, c in zip(slots, chunks, strict=True):
            self.slot_tokens[s].extend(c)
        self.tokens_processed += sum(lens)
        self.forward_calls += 1
        return logits.float()

    def _sync(self, slot: int, tokens: list[int]) -> list[int]:
        """Keep the slot's longest cached prefix of ``tokens``; return what must still be fed (>= 1
        token, since the logits of the last position are needed)."""
        cached = self.slot_tokens[slot]
        p = 0
        limit = min(len(cached), len(tokens) - 1)
        while p < limit and cached[p] == tokens[p]:
            p += 1
        del cached[p:]  # positions >= p are simply overwritten later
        return tokens[p:]

    def _sample(
        self, logits: torch.Tensor, mask: torch.Tensor, temps: Sequence[float], top_k: int | None,
        top_p: float | None,
    ) -> tuple[list[int], list[float]]:  # fmt: skip
        """Masked, tempered sampling of each row; returns ids and their probabilities."""
        logits = logits.float().masked_fill(~mask, -math.inf)
        if top_k is not None and top_k > 0:
            kth = torch.topk(logits, min(top_k, logits.size(-1)), dim=-1).values[:, -1:]
            logits = logits.masked_fill(logits < kth, -math.inf)
        tau = torch.tensor(temps, dtype=torch.float32, device=logits.device)  # (n,)
        probs = torch.softmax(logits / tau.clamp_min(1e-6)[:, None], dim=-1)  # (n, V)
        if top_p is not None and 0 < top_p < 1:
            sp, si = probs.sort(dim=-1, descending=True)
            drop = (sp.cumsum(-1) - sp) > top_p  # keep the smallest prefix reaching top_p
            logits = logits.masked_fill(torch.zeros_like(drop).scatter(1, si, drop), -math.inf)
            probs = torch.softmax(logits / tau.clamp_min(1e-6)[:, None], dim=-1)
        self._step += 1
        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=self.generator))
        if self.backend == "triton":
            ids = _kernels().sample(logits, torch.isfinite(logits), tau, seed, backend="triton")
        else:
            # Gumbel-max on the CPU generator: exact argmax at tau = 0, softmax(l / tau) otherwise
            u = (
                torch.rand(logits.shape, generator=self.generator)
                .clamp_min(1e-20)
                .to(logits.device)
            )
            score = logits + tau[:, None] * -torch.log(-torch.log(u))
            ids = score.argmax(dim=-1)
        ids_l = ids.tolist()
        p_l = [
            1.0 if t <= 0 else float(probs[i, j])
            for i, (j, t) in enumerate(zip(ids_l, temps, strict=True))
        ]
        return ids_l, p_l

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
    ) -> list[MoveChoice]:
        """A move for each board (games in progress, each from the standard start position).

        ``slots[i]`` is the cache slot of game i (default: slot i); reuse a game's slot on every
        call to pay only for its new tokens. ``searchmoves[i]`` restricts game i's choice to
        those UCI moves. ``decoding`` is ``"masked"`` (never illegal) or ``"paper"`` (char only).
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
        allowed = self._allowed_moves(boards, searchmoves)
        out: list[MoveChoice | None] = [None] * n
        todo = [i for i in range(n) if allowed[i]]
        for i in range(n):
            if not allowed[i]:
                out[i] = MoveChoice(None, 0.0, 0)
        if todo:
            if self.tokenizer.name == "move":
                self._choose_move_tokens(boards, slots, temps, allowed, todo, out, top_k, top_p)
            elif decoding == "masked":
                self._choose_char_masked(boards, slots, temps, allowed, todo, out, top_k, top_p)
            else:
                self._choose_char_paper(boards, slots, temps, allowed, todo, out)
        return [c if c is not None else MoveChoice(None, 0.0, 0) for c in out]

    def move_probabilities(
        self, board: Board, *, slot: int = 0, temperature: float = 1.0
    ) -> dict[str, float]:
        """The model's distribution over the legal moves of ``board`` (UCI -> probability), at the
        given temperature; used for MultiPV. For char models each legal SAN is scored whole."""
        legal = [m.uci() for m in board.legal_moves]
        if not legal:
            return {}
        if self.tokenizer.name == "move":
            tokens = self._prompt_move(board)
            logits = self._forward([slot], [self._sync(slot, tokens)])[0]
            from chessformer.moves import move_to_id

            ids = torch.tensor([move_to_id(u) for u in legal], device=logits.device)
            lp = logits[ids]
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
        self, boards: Sequence[Board], slots: list[int], temps: list[float], allowed: Allowed,
        todo: list[int], out: Out, top_k: int | None, top_p: float | None,
    ) -> None:  # fmt: skip
        from chessformer.moves import MOVE_VOCAB, move_to_id

        chunks = [self._sync(slots[i], self._prompt_move(boards[i])) for i in todo]
        logits = self._forward([slots[i] for i in todo], chunks)  # (n, V)
        mask = torch.zeros_like(logits, dtype=torch.bool)
        for r, i in enumerate(todo):
            mask[r, [move_to_id(u) for u in allowed[i]]] = True
        ids, probs = self._sample(logits, mask, [temps[i] for i in todo], top_k, top_p)
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
        tokens = [_CHAR_ID[c] for c in text]
        cut = self._window_cut(len(text), 1)
        if cut:
            # keep ';' and restart the window at a White move number at or after the cut
            j = cut
            while j < len(text) and not (text[j - 1] == " " and text[j].isdigit()):
                j += 1
            tokens = [_CHAR_ID[";"]] + [_CHAR_ID[c] for c in text[j:]]
        # one C++ call each: SANs and UCIs of the legal moves, in the same order
        legal = dict(zip(board._board.sans(), board._board.legal_moves_uci(), strict=True))
        return tokens, legal

    def _choose_char_masked(
        self, boards: Sequence[Board], slots: list[int], temps: list[float], allowed: Allowed,
        todo: list[int], out: Out, top_k: int | None, top_p: float | None,
    ) -> None:  # fmt: skip
        state: dict[int, _CharState] = {}
        for i in todo:
            tokens, legal = self._prompt_char(boards[i])
            sans = {san: uci for san, uci in legal.items() if uci in allowed[i]}
            state[i] = _CharState(self._sync(slots[i], tokens), sans)
        active = list(todo)
        while active:
            still = []
            for i in active:
                st = state[i]
                # characters forced by the trie need no sampling: feed them with the next pass
                nxt = st.continuations()
                while len(nxt) == 1 and st.typed not in st.sans:
                    c = nxt.pop()
                    st.typed += c
                    st.pending.append(_CHAR_ID[c])
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
            mask = torch.zeros_like(logits, dtype=torch.bool)
            for r, i in enumerate(active):
                for c in state[i].continuations():
                    mask[r, _CHAR_ID[c]] = True
            ids, probs = self._sample(logits, mask, [temps[i] for i in active], top_k, top_p)
            for r, i in enumerate(active):
                st = state[i]
                st.typed += CHAR_VOCAB[ids[r]]
                st.prob *= probs[r]
                st.pending = [ids[r]]

    def _choose_char_paper(
        self, boards: Sequence[Board], slots: list[int], temps: list[float], allowed: Allowed,
        todo: list[int], out: Out,
    ) -> None:  # fmt: skip
        """The paper's decoding: free characters up to a space (<= 10); resample if illegal."""
        state: dict[int, _CharState] = {}
        for i in todo:
            tokens, legal = self._prompt_char(boards[i])
            sans = {san: uci for san, uci in legal.items() if uci in allowed[i]}
            state[i] = _CharState(self._sync(slots[i], tokens), sans, prompt_len=len(tokens))
        active = list(todo)
        full = torch.ones((1, self.config.vocab_size), dtype=torch.bool)
        while active:
            logits = self._forward([slots[i] for i in active], [state[i].pending for i in active])
            ids, probs = self._sample(logits, full.expand(len(active), -1).to(logits.device),
                                      [temps[i] for i in active], None, None)  # fmt: skip
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
                move: Move | None = None
                try:
                    move = boards[i].parse_san(st.typed) if st.typed else None
                except ValueError:
                    move = None
                if move is not None and move.uci() in allowed[i]:
                    out[i] = MoveChoice(move, st.prob, st.attempt, st.typed)
                elif st.attempt >= PAPER_ATTEMPTS:
                    out[i] = MoveChoice(None, 0.0, st.attempt, st.typed)
                else:
                    # resample from the prompt: forget the sampled characters' cache entries
                    del self.slot_tokens[slots[i]][st.prompt_len - 1 :]
                    st.pending = [self._prompt_char(boards[i])[0][-1]]
                    st.typed, st.prob, st.attempt = "", 1.0, st.attempt + 1
                    still.append(i)
            active = still

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
                    .gather(1, torch.tensor(ids[1:])[:, None])
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
    def _allowed_moves(
        boards: Sequence[Board], searchmoves: Sequence[Sequence[str] | None] | None
    ) -> list[set[str]]:
        allowed = []
        for i, b in enumerate(boards):
            legal = {m.uci() for m in b.legal_moves}
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
