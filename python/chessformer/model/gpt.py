"""The chessformer GPT: a decoder-only transformer, architecture- and name-compatible with nanoGPT.

Learned positions, pre-LN blocks (LayerNorm without bias), causal self-attention through
``F.scaled_dot_product_attention``, a 4x GELU MLP, no biases, and the token embedding tied to the
output head. Parameter names are nanoGPT's (``transformer.h.0.attn.c_attn.weight`` ...), so its
checkpoints map over with no renaming (see ``chessformer.model.convert``).

Training calls ``model(idx, targets)``. This module is the one definition of the model; the
inference engine's forward passes (``chessformer.inference.forward``) read its parameters and
run the same computation incrementally over their own KV cache (tested against ``model(idx)``).

    from chessformer.model.gpt import GPT, CONFIGS
    model = GPT(CONFIGS["tiny"])
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from chessformer import _core

FEATURES_VOCAB: int = _core.FEATURES_VOCAB  # board feature ids, padding included (C++ core)
FEATURE_PAD: int = _core.FEATURE_PAD
LEGAL_MASK_MOVES = 1968  # the move vocabulary's moves: ids below this are masked by legality
VALUE_WEIGHT = 0.25  # the value loss's weight beside the move loss (docs/training.md)


BOARD_FEATURE_MODES = ("none", "absolute", "perspective")


@dataclass(frozen=True)
class GPTConfig:
    vocab_size: int = 32  # the paper's characters; the dataset manifest sets it per tokenizer
    block_size: int = 1023  # context length: the paper packs 1024-char rows (input + 1 target)
    n_layer: int = 16  # depth of the paper's ~50M model
    n_head: int = 8  # head size n_embd / n_head = 64
    n_embd: int = 512  # residual width; the MLP is 4x this
    dropout: float = 0.0  # the paper trains without dropout (plenty of data)
    bias: bool = False  # no biases in Linear/LayerNorm: nanoGPT's faster, as-good choice
    # board-aware input (``move`` tokenizer only): each token also adds the embedding-bag sum of the
    # position it leaves (docs/formats.md, "Board features"). "none" (nanoGPT's model), "absolute"
    # or "perspective" (seen from the side to move, as NNUE)
    board_features: str = "none"
    # a win/draw/loss head on every position (needs board_features): the value estimate
    value_head: bool = False
    # the move loss over the legal moves only (``move`` tokenizer): logits of illegal moves are
    # masked before the softmax, as inference always does, so no capacity goes into learning the
    # rules (docs/training.md, "Legal softmax")
    legal_softmax: bool = False

    def __post_init__(self) -> None:
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd {self.n_embd} is not divisible by n_head {self.n_head}")
        for f in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
            if getattr(self, f) < 1:
                raise ValueError(f"{f} must be positive, got {getattr(self, f)!r}")
        if self.board_features not in BOARD_FEATURE_MODES:
            raise ValueError(
                f"board_features {self.board_features!r} is not one of {BOARD_FEATURE_MODES}"
            )
        if self.value_head and self.board_features == "none":
            raise ValueError("value_head needs board_features ('absolute' or 'perspective')")

    @property
    def board_aware(self) -> bool:
        return self.board_features != "none"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> GPTConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})

    def with_(self, **changes: Any) -> GPTConfig:
        return replace(self, **changes)


CONFIGS: dict[str, GPTConfig] = {
    # the paper's model (~50M parameters, 25.2M of them per 8 layers)
    "paper-50m": GPTConfig(n_layer=16, n_head=8, n_embd=512, block_size=1023),
    # ~10.6M parameters: experiments on one consumer GPU
    "small": GPTConfig(n_layer=6, n_head=6, n_embd=384, block_size=1023),
    # ~0.1M parameters: tests and CPU smoke runs
    "tiny": GPTConfig(n_layer=2, n_head=2, n_embd=64, block_size=256),
}


def mask_illegal(logits: torch.Tensor, legal: torch.Tensor) -> torch.Tensor:
    """``logits`` (..., vocab) with the moves not set in the packed mask ``legal`` (..., bytes)
    pushed to -1e4 (special tokens, ids >= LEGAL_MASK_MOVES, are never masked)."""
    bits = torch.arange(8, device=legal.device, dtype=torch.uint8)
    unpacked = (legal.unsqueeze(-1) >> bits) & 1  # (..., bytes, 8), little bit order
    allowed = unpacked.flatten(-2)[..., :LEGAL_MASK_MOVES].bool()  # (..., 1968)
    moves = logits[..., :LEGAL_MASK_MOVES].masked_fill(~allowed, -1e4)
    return torch.cat([moves, logits[..., LEGAL_MASK_MOVES:]], dim=-1)


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.n_head, self.n_embd, self.dropout = cfg.n_head, cfg.n_embd, cfg.dropout
        self.c_attn = nn.Linear(cfg.n_embd, 3 * cfg.n_embd, bias=cfg.bias)  # q, k, v in that order
        self.c_proj = nn.Linear(cfg.n_embd, cfg.n_embd, bias=cfg.bias)
        self.resid_dropout = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        hs = C // self.n_head
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)  # 3 x (B, T, C)
        q = q.view(B, T, self.n_head, hs).transpose(1, 2)  # (B, nh, T, hs)
        k = k.view(B, T, self.n_head, hs).transpose(1, 2)  # (B, nh, T, hs)
        v = v.view(B, T, self.n_head, hs).transpose(1, 2)  # (B, nh, T, hs)
        y = F.scaled_dot_product_attention(
            q, k, v, dropout_p=self.dropout if self.training else 0.0, is_causal=True
        )  # (B, nh, T, hs)
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # (B, T, C)
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):
    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.c_fc = nn.Linear(cfg.n_embd, 4 * cfg.n_embd, bias=cfg.bias)
        self.gelu = nn.GELU()  # exact erf GELU, as nanoGPT (tanh approximation would change logits)
        self.c_proj = nn.Linear(4 * cfg.n_embd, cfg.n_embd, bias=cfg.bias)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))  # (B, T, C)


class Block(nn.Module):
    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(cfg.n_embd, bias=cfg.bias)
        self.attn = CausalSelfAttention(cfg)
        self.ln_2 = nn.LayerNorm(cfg.n_embd, bias=cfg.bias)
        self.mlp = MLP(cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    """The trunk; a typed stand-in for nanoGPT's ModuleDict with the same child names."""

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.wte = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        self.wpe = nn.Embedding(cfg.block_size, cfg.n_embd)
        # the board of each token: a sum over its feature ids (padding contributes nothing)
        self.wbe = (
            nn.EmbeddingBag(FEATURES_VOCAB, cfg.n_embd, mode="sum", padding_idx=FEATURE_PAD)
            if cfg.board_aware
            else None
        )
        self.drop = nn.Dropout(cfg.dropout)
        self.h = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.n_embd, bias=cfg.bias)

    def blocks(self) -> list[Block]:
        return [b for b in self.h if isinstance(b, Block)]


class GPT(nn.Module):
    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.config = cfg
        self.transformer = Transformer(cfg)
        self.lm_head = nn.Linear(cfg.n_embd, cfg.vocab_size, bias=False)
        # tied: the output projection reuses the input embedding (fewer parameters, as good here)
        self.lm_head.weight = self.transformer.wte.weight
        # win / draw / loss logits of the side to move (classes 0 loss, 1 draw, 2 win)
        self.value_head = nn.Linear(cfg.n_embd, 3, bias=True) if cfg.value_head else None
        self.value_weight = VALUE_WEIGHT
        self.loss_parts: dict[str, torch.Tensor] = {}
        self.apply(self._init_weights)
        # GPT-2's scaled init: each residual branch's output projection shrinks with depth so the
        # residual stream's variance stays ~constant over 2 * n_layer additions
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * cfg.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear | nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def num_params(self, non_embedding: bool = True) -> int:
        """Parameter count; positions excluded by default (the token table is the tied head)."""
        n = sum(p.numel() for p in self.parameters())
        return n - self.transformer.wpe.weight.numel() if non_embedding else n

    def flops_per_token(self, seq_len: int | None = None) -> float:
        """Training FLOPs per token: 6N for the matmuls of forward + backward, plus attention's
        12·L·d·T (PaLM appendix B)."""
        c, t = self.config, seq_len or self.config.block_size
        return 6 * self.num_params() + 12 * c.n_layer * c.n_embd * t

    def forward(
        self,
        idx: torch.Tensor,
        targets: torch.Tensor | None = None,
        features: torch.Tensor | None = None,
        value_targets: torch.Tensor | None = None,
        legal: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits (B, T, vocab) and, given targets (B, T; -1 = ignore), the mean cross-entropy.

        ``features`` (B, T, F) int: a board-aware model's feature ids per token (required there).
        ``value_targets`` (B, T; 0 loss, 1 draw, 2 win, -1 ignore): with a value head, the loss
        adds ``value_weight`` x the value cross-entropy; both parts are kept in ``loss_parts``.
        ``legal`` (B, T, LEGAL_MASK_BYTES) uint8: bit-packed legal moves of each token's position
        (chessformer._core.board_legal_masks); with it, illegal moves' logits are masked.
        """
        x = self.hidden(idx, features)  # (B, T, C)
        logits = self.lm_head(x)  # (B, T, vocab)
        if legal is not None:
            logits = mask_illegal(logits, legal)
        if targets is None:
            return logits, None
        loss = F.cross_entropy(
            logits.float().view(-1, logits.size(-1)), targets.reshape(-1), ignore_index=-1
        )
        if value_targets is not None and self.value_head is not None:
            v = value_targets.reshape(-1).long()
            value_sum = F.cross_entropy(
                self.value_head(x).float().view(-1, 3), v, ignore_index=-1, reduction="sum"
            )
            value_loss = value_sum / (v >= 0).sum().clamp(min=1)  # no sync, 0 when none scored
            self.loss_parts = {"move": loss.detach(), "value": value_loss.detach()}
            loss = loss + self.value_weight * value_loss
        return logits, loss

    def hidden(
        self,
        idx: torch.Tensor,
        features: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The final LayerNorm's output (B, T, C): what the move and value heads read."""
        T = idx.size(1)
        if idx.size(1) > self.config.block_size:
            raise ValueError(f"sequence length {T} exceeds block_size {self.config.block_size}")
        pos = torch.arange(T, device=idx.device)  # (T,)
        x = self.transformer.wte(idx) + self.transformer.wpe(pos)  # (B, T, C)
        wbe = self.transformer.wbe
        if wbe is not None:
            if features is None:
                raise ValueError("this model is board-aware: pass the tokens' board features")
            B, _, F_ = features.shape
            x = x + wbe(features.reshape(B * T, F_).long()).view(B, T, -1)
        x = self.transformer.drop(x)
        for block in self.transformer.blocks():
            x = block(x)  # (B, T, C)
        return self.transformer.ln_f(x)

    def value(self, hidden: torch.Tensor) -> torch.Tensor:
        """Win / draw / loss probabilities (..., 3) of the side to move, from `hidden`'s output."""
        if self.value_head is None:
            raise ValueError("this model has no value head")
        return torch.softmax(self.value_head(hidden).float(), dim=-1)

    def configure_optimizer(
        self, lr: float, weight_decay: float, betas: tuple[float, float], fused: bool = False
    ) -> torch.optim.AdamW:
        """AdamW with weight decay on 2-D weights (matmuls, embeddings) only, not gains/biases."""
        params = {n: p for n, p in self.named_parameters() if p.requires_grad}  # tied: listed once
        decay = [p for p in params.values() if p.dim() >= 2]
        no_decay = [p for p in params.values() if p.dim() < 2]
        groups = [
            {"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ]
        return torch.optim.AdamW(groups, lr=lr, betas=betas, fused=fused or None)
