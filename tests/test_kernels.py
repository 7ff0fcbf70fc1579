"""Triton kernels in ``kernels/`` against their PyTorch references.

Without CUDA the kernels run in Triton's CPU interpreter: this module sets ``TRITON_INTERPRET=1``
before Triton is imported (the flag is read when ``@triton.jit`` decorates a function, Triton's
own ``tl.max``/``tl.sum`` included, so it must be set before the first ``import triton``), skips
the CPU cases with that reason if it came too late, and checks that every kernel really is an
interpreted function. Shapes are tiny because the interpreter is slow. With CUDA (and the flag
unset) the same tests run compiled kernels on the GPU.

    PYTHONPATH=python:. python -m pytest tests/test_kernels.py -p no:cacheprovider
"""

from __future__ import annotations

import importlib
import math
import os
from collections.abc import Iterator

import pytest
import torch

_PREVIOUS_INTERPRET = os.environ.get("TRITON_INTERPRET")
if not torch.cuda.is_available():
    os.environ["TRITON_INTERPRET"] = "1"  # before triton is imported, see the module docstring

triton = pytest.importorskip("triton")
from triton.runtime.interpreter import InterpretedFunction  # noqa: E402

# Triton's own library (tl.max, tl.sum, ...) is jit-decorated when triton is imported, so the
# flag only works if it was set by then; if another module imported triton first, say so.
INTERPRET = isinstance(triton.language.standard.max, InterpretedFunction)
if os.environ.get("TRITON_INTERPRET") == "1" and not INTERPRET:
    _WHY_NO_CPU = "triton was imported before TRITON_INTERPRET=1; export it or run this file alone"
else:
    _WHY_NO_CPU = "CPU needs TRITON_INTERPRET=1"


def _package() -> str:
    """``chessformer.kernels`` when installed, else the source tree's top-level ``kernels``."""
    try:
        importlib.import_module("chessformer.kernels")
    except ModuleNotFoundError:
        return "kernels"
    return "chessformer.kernels"


PKG = _package()


@pytest.fixture(scope="module", autouse=True)
def _restore_interpret_flag() -> Iterator[None]:
    yield
    if _PREVIOUS_INTERPRET is None:
        os.environ.pop("TRITON_INTERPRET", None)
    else:
        os.environ["TRITON_INTERPRET"] = _PREVIOUS_INTERPRET


attn = importlib.import_module(f"{PKG}.decode_attention")
ln = importlib.import_module(f"{PKG}.layernorm")
smp = importlib.import_module(f"{PKG}.sample")
mlp = importlib.import_module(f"{PKG}.fused_mlp")
backend = importlib.import_module(f"{PKG}.backend")

DEVICES = [
    pytest.param("cpu", marks=pytest.mark.skipif(not INTERPRET, reason=_WHY_NO_CPU)),
    pytest.param(
        "cuda",
        marks=pytest.mark.skipif(
            INTERPRET or not torch.cuda.is_available(), reason="needs CUDA, compiled kernels"
        ),
    ),
]
DTYPES = [torch.float32, torch.float16]
# Kernels and references both compute in fp32; differences are summation order plus, for fp16,
# one rounding of the output (half an ulp is 2**-11 relative).
TOL = {
    torch.float32: {"atol": 2e-5, "rtol": 2e-5},
    torch.float16: {"atol": 2e-3, "rtol": 2e-3},
}


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _randn(*shape: int, dtype: torch.dtype, device: str, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=_gen(seed)).to(device=device, dtype=dtype)


@pytest.mark.skipif(torch.cuda.is_available() and not INTERPRET, reason="compiled CUDA kernels")
def test_kernels_run_in_the_interpreter() -> None:
    assert INTERPRET, _WHY_NO_CPU  # without CUDA, every kernel test would otherwise skip
    for mod in (attn, ln, smp, mlp):
        kernels = [v for k, v in vars(mod).items() if k.startswith("_") and k.endswith("_kernel")]
        assert kernels
        assert all(isinstance(k, InterpretedFunction) for k in kernels), mod.__name__
    assert backend.get_backend("cpu", force="triton") == "triton"


# --- decode attention -------------------------------------------------------------------------

ATTN_CASES = [
    # (B, H, T_max, D, lengths, num_splits, block_t)
    (5, 2, 37, 16, [1, 5, 37, 16, 9], None, None),  # default heuristics: one pass
    (5, 2, 37, 16, [1, 5, 37, 16, 9], None, 8),  # one pass, several tiles, a ragged last tile
    (5, 2, 37, 16, [1, 5, 37, 16, 9], 3, 8),  # split + reduce; short rows leave chunks empty
    (3, 2, 70, 64, [1, 70, 33], 4, 8),  # paper head dim, very different lengths
    (2, 1, 9, 32, [9, 2], 9, 1),  # one position per chunk
]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("B", "H", "T_max", "D", "lengths", "num_splits", "block_t"), ATTN_CASES)
def test_decode_attention(
    device: str,
    dtype: torch.dtype,
    B: int,
    H: int,
    T_max: int,
    D: int,
    lengths: list[int],
    num_splits: int | None,
    block_t: int | None,
) -> None:
    q = _randn(B, H, D, dtype=dtype, device=device, seed=1)
    k = _randn(B, H, T_max, D, dtype=dtype, device=device, seed=2)
    v = _randn(B, H, T_max, D, dtype=dtype, device=device, seed=3)
    lens = torch.tensor(lengths, dtype=torch.int32, device=device)
    out = attn.decode_attention(q, k, v, lens, num_splits=num_splits, block_t=block_t)
    assert out.shape == (B, H, D) and out.dtype == dtype
    torch.testing.assert_close(out, attn.decode_attention_ref(q, k, v, lens), **TOL[dtype])


@pytest.mark.parametrize("device", DEVICES)
def test_decode_attention_strided_cache_and_edge_lengths(device: str) -> None:
    # A cache allocated for 48 positions viewed at 20: T stride != H stride / T_max.
    B, H, D = 3, 2, 16
    k = _randn(B, H, 48, D, dtype=torch.float32, device=device, seed=4)[:, :, :20]
    v = _randn(B, H, 48, D, dtype=torch.float32, device=device, seed=5)[:, :, :20]
    q = _randn(B, H, D, dtype=torch.float32, device=device, seed=6)
    lens = torch.tensor([0, 20, 25], dtype=torch.int64, device=device)  # empty, full, clamped
    for splits in (None, 3):
        out = attn.decode_attention(q, k, v, lens, 0.3, num_splits=splits, block_t=4)
        ref = attn.decode_attention_ref(q, k, v, lens, 0.3)
        torch.testing.assert_close(out, ref, **TOL[torch.float32])
        assert torch.all(out[0] == 0)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("splits", [None, 3])
def test_decode_attention_with_slot_indices(device: str, splits: int | None) -> None:
    # 5 query rows over a 4-row cache: rows out of order, one repeated, one row unused
    H, D, T_max = 2, 16, 20
    k = _randn(4, H, T_max, D, dtype=torch.float32, device=device, seed=7)
    v = _randn(4, H, T_max, D, dtype=torch.float32, device=device, seed=8)
    q = _randn(5, H, D, dtype=torch.float32, device=device, seed=9)
    slots = torch.tensor([3, 0, 2, 3, 0], dtype=torch.int64, device=device)
    lens = torch.tensor([5, 20, 1, 13, 0], dtype=torch.int32, device=device)
    out = attn.decode_attention(q, k, v, lens, slots=slots, num_splits=splits, block_t=4)
    gathered = attn.decode_attention_ref(q, k[slots], v[slots], lens)
    torch.testing.assert_close(out, gathered, **TOL[torch.float32])
    ref = attn.decode_attention_ref(q, k, v, lens, slots=slots)
    torch.testing.assert_close(ref, gathered, atol=0, rtol=0)
    assert torch.all(out[4] == 0)
    with pytest.raises(ValueError, match="slots"):
        attn.decode_attention(q, k, v, lens, slots=slots[:4])


def test_decode_attention_rejects_bad_shapes() -> None:
    q = torch.zeros(2, 1, 12)
    k = torch.zeros(2, 1, 5, 12)
    with pytest.raises(ValueError, match="power of two"):
        attn.decode_attention(q, k, k, torch.ones(2, dtype=torch.int32))
    with pytest.raises(ValueError, match="lengths"):
        attn.decode_attention(q[..., :8], k[..., :8], k[..., :8], torch.ones(3))


# --- layernorm --------------------------------------------------------------------------------


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(5, 123), (2, 3, 64)])
@pytest.mark.parametrize("with_weight", [True, False])
def test_add_layernorm(
    device: str, dtype: torch.dtype, shape: tuple[int, ...], with_weight: bool
) -> None:
    x = _randn(*shape, dtype=dtype, device=device, seed=7)
    r = _randn(*shape, dtype=dtype, device=device, seed=8) * 3 + 1
    w = _randn(shape[-1], dtype=dtype, device=device, seed=9) if with_weight else None
    y, h = ln.add_layernorm(x, r, w)
    y_ref, h_ref = ln.add_layernorm_ref(x, r, w)
    torch.testing.assert_close(h, h_ref, atol=0, rtol=0)  # one fp32 add, one rounding: exact
    torch.testing.assert_close(y, y_ref, **TOL[dtype])
    torch.testing.assert_close(ln.layernorm(x, w, 1e-6), ln.layernorm_ref(x, w, 1e-6), **TOL[dtype])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_add_layernorm_with_bias(device: str, dtype: torch.dtype) -> None:
    """The bias (nanoGPT's ``bias=True``) against F.layer_norm directly, not the reference."""
    x = _randn(6, 45, dtype=dtype, device=device, seed=12)
    r = _randn(6, 45, dtype=dtype, device=device, seed=13)
    w = _randn(45, dtype=dtype, device=device, seed=14)
    b = _randn(45, dtype=dtype, device=device, seed=15) * 2
    y, h = ln.add_layernorm(x, r, w, 1e-5, b)
    h32 = (x.float() + r.float()).to(dtype).float()
    torch.testing.assert_close(h.float(), h32, atol=0, rtol=0)
    expect = torch.nn.functional.layer_norm(h32, (45,), w.float(), b.float(), 1e-5)
    torch.testing.assert_close(y.float(), expect, **TOL[dtype])
    assert (y.float() - ln.add_layernorm(x, r, w)[0].float() - b.float()).abs().max() < 0.05
    y1 = ln.layernorm(x, w, 1e-5, b)
    expect1 = torch.nn.functional.layer_norm(x.float(), (45,), w.float(), b.float())
    torch.testing.assert_close(y1.float(), expect1, **TOL[dtype])


@pytest.mark.parametrize("device", DEVICES)
def test_add_layernorm_mixed_dtypes(device: str) -> None:
    x = _randn(4, 40, dtype=torch.float16, device=device, seed=10)
    r = _randn(4, 40, dtype=torch.float32, device=device, seed=11)
    y, h = ln.add_layernorm(x, r)
    y_ref, h_ref = ln.add_layernorm_ref(x, r)
    assert y.dtype == h.dtype == torch.float32
    torch.testing.assert_close(h, h_ref, **TOL[torch.float32])
    torch.testing.assert_close(y, y_ref, **TOL[torch.float32])


# --- fused MLP --------------------------------------------------------------------------------


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("with_bias", [True, False])
def test_linear_gelu(device: str, dtype: torch.dtype, with_bias: bool) -> None:
    x = _randn(5, 70, dtype=dtype, device=device, seed=12)
    w = _randn(83, 70, dtype=dtype, device=device, seed=13) / 8
    b = _randn(83, dtype=dtype, device=device, seed=14) if with_bias else None
    torch.testing.assert_close(mlp.linear_gelu(x, w, b), mlp.linear_gelu_ref(x, w, b), **TOL[dtype])


# --- sampler ----------------------------------------------------------------------------------


def _sampler_inputs(
    B: int, V: int, device: str, dtype: torch.dtype, seed: int, p_legal: float = 0.4
) -> tuple[torch.Tensor, torch.Tensor]:
    g = _gen(seed)
    logits = (torch.randn(B, V, generator=g) * 2).to(device=device, dtype=dtype)
    legal = (torch.rand(B, V, generator=g) < p_legal).to(device)
    return logits, legal


def _masks(legal: torch.Tensor, packed: bool) -> torch.Tensor:
    return smp.pack_mask(legal) if packed else legal


def test_pack_mask_little_bit_order() -> None:
    legal = torch.zeros(2, 11, dtype=torch.bool)
    legal[0, 0] = legal[0, 9] = legal[1, 7] = legal[1, 10] = True
    packed = smp.pack_mask(legal)
    assert packed.tolist() == [[0b00000001, 0b00000010], [0b10000000, 0b00000100]]
    assert torch.equal(smp.unpack_mask(packed, 11), legal)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("packed", [False, True])
@pytest.mark.parametrize(("block_v", "block_b"), [(None, None), (32, 1), (64, 4)])
def test_sample_temperature_zero_is_argmax(
    device: str, dtype: torch.dtype, packed: bool, block_v: int | None, block_b: int | None
) -> None:
    B, V = 5, 123
    logits, legal = _sampler_inputs(B, V, device, dtype, seed=15)
    legal[1] = False  # no legal entry -> -1
    legal[2, 3] = legal[2, 100] = True
    logits[2] = -5
    logits[2, 3] = logits[2, 100] = 4  # a tie across vocabulary tiles: the first index wins
    tau = torch.zeros(B, device=device)
    ids, lp = smp.sample(
        logits, _masks(legal, packed), tau, 123, True, block_v=block_v, block_b=block_b
    )
    ref_ids, ref_lp = smp.sample_ref(logits, _masks(legal, packed), tau, 7, True)
    assert ids.dtype == torch.int64
    assert torch.equal(ids, ref_ids)
    assert ids[1] == -1 and ids[2] == 3
    masked = logits.float().masked_fill(~legal, -math.inf)
    assert torch.equal(ids[legal.any(1)], masked.argmax(1)[legal.any(1)])
    torch.testing.assert_close(lp, ref_lp)  # 0, and -inf for the empty row


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("packed", [False, True])
def test_sample_never_returns_masked_ids(device: str, dtype: torch.dtype, packed: bool) -> None:
    B, V = 64, 123
    logits, legal = _sampler_inputs(B, V, device, dtype, seed=16, p_legal=0.1)
    legal[0] = False
    legal[1] = False
    legal[1, 122] = True  # the single legal id is the last, in the ragged last byte
    tau = torch.tensor([0.0, 0.5, 1.0, 4.0, 100.0, 1e-3, 2.0, 1.0] * 8, device=device)
    for seed in range(3):
        ids, lp = smp.sample(logits, _masks(legal, packed), tau, seed, True, block_v=64)
        assert ids[0] == -1 and lp[0] == -math.inf and ids[1] == 122
        rows = torch.arange(1, B, device=device)
        assert bool(legal[rows, ids[1:]].all())
        # The log-prob is that of the chosen id under the tempered masked softmax.
        probs = smp.sample_probs_ref(logits, legal, tau)
        expect = probs.gather(1, ids.clamp_min(0)[:, None])[:, 0].log()
        expect = torch.where(tau > 0, expect, torch.zeros_like(expect))
        # Triton's exp/log on the GPU are approximate (seen on an H100: 2e-4 off)
        tol = 1e-3 if device == "cuda" else 1e-4
        torch.testing.assert_close(lp[1:], expect[1:], atol=tol, rtol=tol)


@pytest.mark.parametrize("device", DEVICES)
def test_sample_same_seed_same_samples(device: str) -> None:
    logits, legal = _sampler_inputs(16, 50, device, torch.float32, seed=17, p_legal=0.8)
    tau = torch.ones(16, device=device)
    a = smp.sample(logits, legal, tau, 42)
    assert torch.equal(a, smp.sample(logits, legal, tau, 42))
    assert torch.equal(a, smp.sample(logits, smp.pack_mask(legal), tau, 42))
    assert not torch.equal(a, smp.sample(logits, legal, tau, 43))


def _chi_square_p(counts: torch.Tensor, probs: torch.Tensor) -> float:
    """p-value of Pearson's chi-square test of ``counts`` against ``probs`` (support of probs)."""
    support = probs > 0
    assert int(counts[~support].sum()) == 0
    n = counts.sum()
    expected = n * probs[support]
    stat = ((counts[support] - expected) ** 2 / expected).sum()
    df = torch.tensor(float(support.sum() - 1), dtype=torch.float64)
    return float(torch.special.gammaincc(df / 2, stat / 2))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(("tau", "packed"), [(1.0, False), (0.7, True)])
def test_sample_matches_softmax_frequencies(device: str, tau: float, packed: bool) -> None:
    # One row of logits repeated N times: the rows are N independent draws (counter = row*V+j).
    N, V = 20000, 13
    row = torch.tensor([1.0, 0.5, 2.0, -1.0, 0.0, 3.0, 1.5, -0.5, 0.2, 2.5, -2.0, 0.8, 1.1])
    legal = torch.ones(V, dtype=torch.bool)
    legal[[2, 7, 11]] = False
    logits = row.expand(N, V).to(device)
    mask = _masks(legal.expand(N, V).contiguous(), packed).to(device)
    temp = torch.full((N,), tau, device=device)
    probs = smp.sample_probs_ref(logits[:1], mask[:1], temp[:1])[0].double().cpu()

    ids = smp.sample(logits, mask, temp, seed=2024).cpu()
    counts = torch.bincount(ids, minlength=V).double()
    assert _chi_square_p(counts, probs) > 1e-3

    ref_ids = smp.sample_ref(logits, mask, temp, seed=2024).cpu()  # the reference's Gumbel-max
    assert _chi_square_p(torch.bincount(ref_ids, minlength=V).double(), probs) > 1e-3


# --- backend ----------------------------------------------------------------------------------


def test_get_backend_selection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(backend.ENV_VAR, raising=False)
    assert backend.get_backend("cpu") == "torch"
    assert backend.get_backend(torch.device("cpu"), force="torch") == "torch"
    if torch.cuda.is_available():
        assert backend.get_backend("cuda") == "triton"
        assert backend.get_backend("cuda", force="torch") == "torch"
    monkeypatch.setenv(backend.ENV_VAR, "torch")
    assert backend.get_backend("cuda") == "torch"
    monkeypatch.setenv(backend.ENV_VAR, "TRITON")
    assert backend.get_backend("cpu", force="torch") == "torch"  # the argument wins
    monkeypatch.setenv(backend.ENV_VAR, "cuda-please")
    with pytest.raises(ValueError, match="cuda-please"):
        backend.get_backend("cpu")
    monkeypatch.setenv(backend.ENV_VAR, "auto")
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    with pytest.raises(RuntimeError, match="TRITON_INTERPRET"):
        backend.get_backend("cpu", force="triton")


@pytest.mark.parametrize("device", DEVICES)
def test_backend_dispatch(device: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(backend.ENV_VAR, raising=False)
    q = _randn(3, 2, 16, dtype=torch.float32, device=device, seed=18)
    k = _randn(3, 2, 11, 16, dtype=torch.float32, device=device, seed=19)
    lens = torch.tensor([1, 11, 4], dtype=torch.int32, device=device)
    x = _randn(3, 24, dtype=torch.float32, device=device, seed=20)
    logits, legal = _sampler_inputs(3, 24, device, torch.float32, seed=21)
    tau = torch.zeros(3, device=device)
    w = _randn(24, 24, dtype=torch.float32, device=device, seed=22)
    results = {}
    for name in ("triton", "torch"):
        results[name] = (
            backend.decode_attention(q, k, k, lens, backend=name),
            *backend.add_layernorm(x, x, backend=name),
            backend.layernorm(x, backend=name),
            backend.sample(logits, legal, tau, 0, backend=name),
            backend.linear_gelu(x, w, backend=name),
        )
    for got, ref in zip(results["triton"], results["torch"], strict=True):
        torch.testing.assert_close(got, ref, **TOL[torch.float32])
