"""The GPT: shapes, configs, KV-cache decoding, and agreement with nanoGPT's math."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from chessformer.model.gpt import CONFIGS, GPT, GPTConfig


def _tiny(**kw: object) -> GPT:
    torch.manual_seed(0)
    return GPT(CONFIGS["tiny"].with_(**kw)).eval()


def test_named_configs_sizes() -> None:
    with torch.device("meta"):  # no memory, no init cost
        paper = GPT(CONFIGS["paper-50m"])
        small = GPT(CONFIGS["small"])
    c = paper.config
    assert (c.n_layer, c.n_head, c.n_embd, c.block_size, c.vocab_size) == (16, 8, 512, 1023, 32)
    assert 49e6 < paper.num_params() < 52e6
    assert 9e6 < small.num_params() < 12e6
    assert not any(n.endswith(".bias") for n, _ in paper.named_parameters())


def test_forward_shapes_and_ignored_targets() -> None:
    model = _tiny(vocab_size=1974)  # any config with any tokenizer's vocabulary
    x = torch.randint(0, 1974, (3, 17))
    y = x.clone()
    logits, loss = model(x, y)
    assert logits.shape == (3, 17, 1974) and loss is not None
    y2 = y.clone()
    y2[:, 10:] = -1
    _, loss2 = model(x, y2)
    ref = F.cross_entropy(logits[:, :10].reshape(-1, 1974), y[:, :10].reshape(-1))
    torch.testing.assert_close(loss2, ref)
    with pytest.raises(ValueError, match="block_size"):
        model(torch.zeros(1, 257, dtype=torch.long))


def test_tied_embedding_and_config_validation() -> None:
    model = _tiny()
    assert model.lm_head.weight is model.transformer.wte.weight
    with pytest.raises(ValueError, match="divisible"):
        GPTConfig(n_embd=65, n_head=2)


def _reference_logits(
    sd: dict[str, torch.Tensor], cfg: GPTConfig, idx: torch.Tensor
) -> torch.Tensor:
    """nanoGPT's forward written out from its state-dict names: explicit softmax attention."""
    B, T = idx.shape
    nh, C = cfg.n_head, cfg.n_embd

    def ln(x: torch.Tensor, name: str) -> torch.Tensor:
        return F.layer_norm(x, (C,), sd[f"{name}.weight"], sd.get(f"{name}.bias"), 1e-5)

    x = sd["transformer.wte.weight"][idx] + sd["transformer.wpe.weight"][:T]
    mask = torch.tril(torch.ones(T, T, dtype=torch.bool))
    for i in range(cfg.n_layer):
        p = f"transformer.h.{i}"
        q, k, v = (ln(x, f"{p}.ln_1") @ sd[f"{p}.attn.c_attn.weight"].T).split(C, dim=2)
        q, k, v = (t.view(B, T, nh, C // nh).transpose(1, 2) for t in (q, k, v))
        att = (q @ k.transpose(-2, -1)) / math.sqrt(C // nh)
        att = att.masked_fill(~mask, float("-inf")).softmax(-1)
        y = (att @ v).transpose(1, 2).reshape(B, T, C)
        x = x + y @ sd[f"{p}.attn.c_proj.weight"].T
        h = F.gelu(ln(x, f"{p}.ln_2") @ sd[f"{p}.mlp.c_fc.weight"].T)
        x = x + h @ sd[f"{p}.mlp.c_proj.weight"].T
    return ln(x, "transformer.ln_f") @ sd["lm_head.weight"].T


def test_matches_nanogpt_reference_math() -> None:
    model = _tiny()
    idx = torch.randint(0, 32, (2, 40))
    with torch.no_grad():
        ours, _ = model(idx)
        ref = _reference_logits(model.state_dict(), model.config, idx)
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=1e-5)


def test_optimizer_decays_only_matrices() -> None:
    model = _tiny()
    opt = model.configure_optimizer(3e-4, 0.1, (0.9, 0.95))
    decay, no_decay = opt.param_groups
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert all(p.dim() == 2 for p in decay["params"])
    assert all(p.dim() == 1 for p in no_decay["params"])
    n = sum(p.numel() for g in opt.param_groups for p in g["params"])
    assert n == model.num_params(non_embedding=False)
