"""The native (C++) CPU backend of the inference engine against the PyTorch path: logits, moves,
the host sampler, and the refusal of bad input."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from conftest import generate_games

from chessformer import _core
from chessformer.board import Board
from chessformer.inference import InferenceEngine
from chessformer.model.gpt import GPT, GPTConfig


def model(
    n_layer: int = 2,
    n_head: int = 2,
    n_embd: int = 32,
    *,
    bias: bool = False,
    gelu: str = "none",
    tied: bool = True,
    block: int = 128,
    vocab: int = 1974,
    seed: int = 0,
) -> GPT:
    torch.manual_seed(seed)
    cfg = GPTConfig(
        vocab_size=vocab, block_size=block, n_layer=n_layer, n_head=n_head, n_embd=n_embd, bias=bias
    )
    m = GPT(cfg)
    with torch.no_grad():
        for p in m.parameters():  # larger than the init: LayerNorm gains, biases, attention vary
            p.add_(torch.randn_like(p) * 0.05)
        if not tied:
            m.lm_head.weight = torch.nn.Parameter(torch.randn(vocab, n_embd) * 0.05)
    for b in m.transformer.blocks():
        b.mlp.gelu = torch.nn.GELU(approximate=gelu)
    return m


def engines(m: GPT, max_batch: int = 8, **kw: object) -> tuple[InferenceEngine, InferenceEngine]:
    nat = InferenceEngine(m, "move", max_batch=max_batch, backend="native", **kw)  # type: ignore[arg-type]
    ref = InferenceEngine(m, "move", max_batch=max_batch, backend="torch")
    assert nat.backend == "native" and ref.backend == "torch"
    return nat, ref


def close(a: torch.Tensor, b: torch.Tensor) -> None:
    """Within 1e-4 of the reference's largest logit (fp32 sums in another order)."""
    assert a.shape == b.shape and a.dtype == torch.float32
    tol = 1e-4 * float(b.abs().max())
    torch.testing.assert_close(a, b, rtol=0, atol=tol)


SHAPES = [
    dict(n_layer=1, n_head=1, n_embd=16),
    dict(n_layer=3, n_head=3, n_embd=39, bias=True, gelu="tanh"),  # head dim 13
    dict(n_layer=2, n_head=5, n_embd=35, tied=False),  # head dim 7
    dict(n_layer=2, n_head=2, n_embd=64, bias=True, tied=False),
    dict(n_layer=2, n_head=4, n_embd=68, gelu="tanh"),  # head dim 17: a vector and a tail
]


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "-".join(f"{k}{v}" for k, v in s.items()))
def test_logits_match_torch_prefill_and_decode(shape: dict[str, object]) -> None:
    nat, ref = engines(model(**shape))  # type: ignore[arg-type]
    rng = random.Random(1)
    slots = [6, 1, 3, 0]
    # variable-length prefills, single-token steps, mixed chunks, a subset in another order
    calls: list[tuple[list[int], list[int]]] = [(slots, [rng.randrange(1, 20) for _ in slots])]
    calls += [(slots, [1] * 4)] * 3
    calls += [(slots, [3, 1, 5, 2]), ([3, 6], [1, 4]), ([0, 3, 1], [1, 1, 1])]
    for call_slots, lens in calls:
        chunks = [[rng.randrange(1974) for _ in range(n)] for n in lens]
        close(nat.feed(call_slots, chunks), ref.feed(call_slots, chunks))
    assert nat.slot_tokens == ref.slot_tokens
    for layer in range(len(nat.k_cache)):
        for s in slots:
            used = len(nat.slot_tokens[s])
            for a, b in ((nat.k_cache, ref.k_cache), (nat.v_cache, ref.v_cache)):
                torch.testing.assert_close(
                    a[layer][s, :, :used], b[layer][s, :, :used], atol=1e-5, rtol=1e-4
                )


def test_threads_and_candidates() -> None:
    m = model(2, 2, 48, bias=True)
    one = InferenceEngine(m, "move", max_batch=4, backend="native")
    two = InferenceEngine(m, "move", max_batch=4, threads=2, backend="native")
    rng = random.Random(2)
    for lens in ([9, 4, 1], [1, 1, 1], [2, 3, 1]):
        chunks = [[rng.randrange(1968) for _ in range(n)] for n in lens]
        cands = [sorted(rng.sample(range(1968), k)) for k in (1, 7, 30)]
        a = one.feed([2, 0, 3], chunks)
        b = two.feed([2, 0, 3], chunks, cands)
        for r, ids in enumerate(cands):
            torch.testing.assert_close(b[r, ids], a[r, ids], atol=1e-5, rtol=1e-5)
            rest = torch.ones(a.size(1), dtype=torch.bool)
            rest[ids] = False
            assert torch.isneginf(b[r, rest]).all()


def test_positions_up_to_the_context_end() -> None:
    nat, ref = engines(model(block=24), max_batch=2)
    prompt = list(range(5, 28))  # 23 tokens: the next one is the context's last position
    close(nat.feed([1], [prompt]), ref.feed([1], [prompt]))
    close(nat.feed([1], [[7]]), ref.feed([1], [[7]]))  # position 23 of 24
    with pytest.raises(ValueError, match="exceed the context"):
        nat.feed([1], [[8]])
    # the C++ check itself, below the engine's
    with pytest.raises(ValueError, match="outside the context of 24"):
        nat.net.cpp.forward([1, 2], [0, 2], [0], [23])


def test_greedy_moves_match_torch_on_the_bundled_model() -> None:
    from chessformer.engine.bundled import default_model_path

    path = default_model_path()
    if path is None:
        pytest.skip("no bundled model")
    nat = InferenceEngine.from_checkpoint(path, max_batch=4, backend="native")
    ref = InferenceEngine.from_checkpoint(path, max_batch=4, backend="torch")
    assert nat.backend == "native"
    games = [g for style in ("biased", "uniform") for g in generate_games(3, style, 2, 90)]
    compared = 0
    for start in range(0, 90, 5):  # every fifth prefix of four games, batched, in fixed slots
        boards, slots = [], []
        for k, g in enumerate(games):
            if start < len(g.moves):
                b = Board()
                for uci in g.moves[:start]:
                    b.push_uci(uci)
                boards.append(b)
                slots.append(k)
        a = nat.choose_moves(boards, slots=slots, temperature=0)
        b2 = ref.choose_moves(boards, slots=slots, temperature=0)
        assert [c.move for c in a] == [c.move for c in b2], start
        compared += len(boards)
        # and the distribution over the legal moves
        pa = nat.move_probabilities(boards[0], slot=slots[0])
        pb = ref.move_probabilities(boards[0], slot=slots[0])
        assert pa.keys() == pb.keys()
        assert max(abs(pa[k] - pb[k]) for k in pa) < 1e-4
    assert compared > 60


def test_sliding_window_games_match_torch() -> None:
    nat, ref = engines(model(block=48, seed=3), max_batch=1)
    rng = random.Random(5)
    b = Board()
    while b.ply < 120 and any(True for _ in b.legal_moves):
        ca = nat.choose_moves([b], temperature=0)[0]
        cb = ref.choose_moves([b], temperature=0)[0]
        assert ca.move == cb.move
        assert ca.move is not None
        b.push(ca.move)
        moves = list(b.legal_moves)
        if not moves:
            break
        b.push(rng.choice(moves))
    assert b.ply > 60  # the window slid (48 positions)
    assert nat.slot_tokens == ref.slot_tokens


@pytest.mark.parametrize("seeded", [False, True])
def test_host_sampler_equals_the_general_sampler(seeded: bool) -> None:
    """``Sampler.sample`` on the CPU takes the numpy path; ``top_k = V`` (which keeps every entry)
    forces the general one. Same ids (ties included), same probabilities, same generator use."""
    eng = InferenceEngine(model(1, 1, 16), "move", max_batch=8)
    rng = np.random.default_rng(0)
    n, V = 6, 1974
    for trial in range(40):
        # coarse logits: many exact ties among the legal entries
        logits = torch.from_numpy(rng.integers(-8, 8, (n, V)).astype(np.float32) / 4)
        legal = [
            sorted(rng.choice(V, rng.integers(1, 60), replace=False).tolist()) for _ in range(n)
        ]
        temps = [0.0, 1.0, 0.5, 2.0, 0.0, 1e-3]
        words = rng.integers(0, 2**32, (2, n)).tolist()
        keys = (words[0], words[1], trial) if seeded else None
        eng.seed(trial)
        fast = eng.sampler.sample(logits, legal, temps, None, None, keys)
        after_fast = torch.rand(3, generator=eng.generator)
        eng.seed(trial)
        slow = eng.sampler.sample(logits, legal, temps, V, None, keys)
        after_slow = torch.rand(3, generator=eng.generator)
        assert fast[0] == slow[0]
        np.testing.assert_allclose(fast[1], slow[1], rtol=1e-5)
        assert torch.equal(after_fast, after_slow)
        assert all(i in ids for i, ids in zip(fast[0], legal, strict=True))


def test_row_hashed_uniforms_equal_the_reference() -> None:
    from chessformer.inference.noise import seeded_uniform, seeded_uniform_rows

    rng = np.random.default_rng(1)
    for draw in (0, 1, 7, 2**32 + 3):
        lo = rng.integers(0, 2**32, 5).tolist()
        hi = rng.integers(0, 2**32, 5).tolist()
        rows = np.sort(rng.integers(0, 5, 300))
        cols = rng.integers(0, 1974, 300)
        want = seeded_uniform(np.asarray(lo)[rows], np.asarray(hi)[rows], draw, cols)
        assert np.array_equal(seeded_uniform_rows(lo, hi, draw, rows, cols), want)


def test_bad_input_is_refused() -> None:
    m = model(1, 2, 16, block=32)
    eng = InferenceEngine(m, "move", max_batch=2, backend="native")
    f = eng.net.cpp.forward
    cases = [
        (([1974], [0, 1], [0], [0]), "token 1974 is not in 0..1973"),
        (([-1], [0, 1], [0], [0]), "token -1"),
        (([5], [0, 1], [2], [0]), "slot 2 is not in 0..1"),
        (([5, 6], [0, 1, 2], [1, 1], [0, 0]), "slot 1 appears twice"),
        (([5], [0, 1], [0], [-1]), "outside the context"),
        (([5, 6], [0, 2, 2], [0, 1], [0, 0]), "chunk 1 is empty"),
        (([5, 6], [0, 2], [0], [0, 0]), "need base"),
        (([5, 6], [0, 1], [0], [0]), "offsets end at 1 but there are 2 tokens"),
        (([], [0], [], []), "no slots"),
        (([[5]], [0, 1], [0], [0]), "must be 1-D"),
        ((["x"], [0, 1], [0], [0]), "tokens must be integers"),
        (([5], [0, 1], [0.5], [0]), "slots must be integers"),
    ]
    for args, msg in cases:
        with pytest.raises(ValueError, match=msg):
            f(*args)
    with pytest.raises(ValueError, match="candidate id 1974"):
        f([5], [0, 1], [0], [0], [3, 1974], [0, 2])
    with pytest.raises(ValueError, match="cand_offsets"):
        f([5], [0, 1], [0], [0], [3], None)
    with pytest.raises(ValueError, match="threads"):
        f([5], [0, 1], [0], [0], None, None, 0)
    # construction: dtype, shape, layout, writeable caches
    tr = m.transformer
    b0 = tr.h[0]

    def build(**over: object) -> None:
        layer = {
            "ln1_w": b0.ln_1.weight,
            "ln1_b": None,
            "attn_w": b0.attn.c_attn.weight,
            "attn_b": None,
            "proj_w": b0.attn.c_proj.weight,
            "proj_b": None,
            "ln2_w": b0.ln_2.weight,
            "ln2_b": None,
            "fc_w": b0.mlp.c_fc.weight,
            "fc_b": None,
            "mproj_w": b0.mlp.c_proj.weight,
            "mproj_b": None,
        }
        arrays: dict[str, object] = {
            k: (v.detach().numpy() if isinstance(v, torch.Tensor) else v) for k, v in layer.items()
        }
        cache = np.zeros((2, 2, 32, 8), np.float32)
        args: dict[str, object] = {
            "wte": tr.wte.weight.detach().numpy(),
            "wpe": tr.wpe.weight.detach().numpy(),
            "lnf_w": tr.ln_f.weight.detach().numpy(),
            "lnf_b": None,
            "head": tr.wte.weight.detach().numpy(),
            "layers": [arrays],
            "k_caches": [cache],
            "v_caches": [cache.copy()],
            "n_head": 2,
        }
        for k, v in over.items():
            if k in arrays or k == "gelu":
                arrays[k] = v
            else:
                args[k] = v
        _core.NativeGPT(**args)  # type: ignore[arg-type]

    build()  # the baseline is accepted
    w = b0.attn.c_attn.weight.detach().numpy()
    ro = np.zeros((2, 2, 32, 8), np.float32)
    ro.flags.writeable = False
    for over, msg in [
        ({"attn_w": w.astype(np.float64)}, "attn_w must be float32"),
        ({"attn_w": w[:, :8]}, r"attn_w must have shape \(48, 16\)"),
        ({"proj_w": np.asfortranarray(b0.attn.c_proj.weight.detach().numpy())}, "C-contiguous"),
        ({"attn_w": w.tolist()}, "numpy array"),
        ({"n_head": 3}, "not a multiple of n_head 3"),
        ({"k_caches": [np.zeros((2, 2, 32, 4), np.float32)]}, "k_cache"),
        ({"v_caches": [ro]}, "writeable"),
        ({"gelu": "fast"}, "gelu must be"),
        ({"layers": []}, "no layers"),
    ]:
        with pytest.raises(ValueError, match=msg):
            build(**over)
    with pytest.raises(ValueError, match="native backend runs float32"):
        InferenceEngine(m, "move", dtype=torch.float16, backend="native")
    with pytest.raises(ValueError, match="threads"):
        InferenceEngine(m, "move", threads=0)
    # the torch backend stays selectable, also through the environment
    assert InferenceEngine(m, "move", dtype=torch.bfloat16).backend == "torch"


def test_bf16_weights_are_opt_in_and_match_pre_rounded_weights() -> None:
    """dtype=bfloat16 with backend="native": bf16 copies of the matrices, fp32 everything else --
    the logits of an fp32 model whose matrices were rounded to bf16 beforehand."""
    # not by default (a model of its own: the torch path converts the model in place)
    assert InferenceEngine(model(1, 1, 16), "move", dtype=torch.bfloat16).backend == "torch"
    m = model(2, 3, 48, bias=True, tied=False)
    half = InferenceEngine(m, "move", max_batch=2, dtype=torch.bfloat16, backend="native")
    assert half.backend == "native" and half.net.cpp.info()["bf16_weights"]
    assert half.k_cache[0].dtype == torch.float32
    rounded = model(2, 3, 48, bias=True, tied=False)
    with torch.no_grad():
        for name, p in rounded.named_parameters():
            if name.endswith(("c_attn.weight", "c_proj.weight", "c_fc.weight", "lm_head.weight")):
                p.copy_(p.to(torch.bfloat16).float())
    ref = InferenceEngine(rounded, "move", max_batch=2)
    exact = InferenceEngine(m, "move", max_batch=2)
    rng = random.Random(4)
    for lens in ([7, 3], [1, 1], [2, 1]):
        chunks = [[rng.randrange(1968) for _ in range(n)] for n in lens]
        a, b, c = (e.feed([1, 0], chunks) for e in (half, ref, exact))
        close(a, b)
        assert (a - c).abs().max() > 1e-4 * c.abs().max()  # the rounding is real


def test_a_model_the_native_path_cannot_borrow_falls_back_to_torch_by_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CHESSFORMER_BACKEND", raising=False)
    m = model(1, 2, 16)
    w = m.transformer.h[0].attn.c_attn.weight
    m.transformer.h[0].attn.c_attn.weight = torch.nn.Parameter(w.detach().t().contiguous().t())
    assert not m.transformer.h[0].attn.c_attn.weight.is_contiguous()
    with pytest.raises(ValueError, match="attn_w must be C-contiguous"):
        InferenceEngine(m, "move", backend="native")
    eng = InferenceEngine(m, "move")
    assert eng.backend == "torch" and not hasattr(eng.net, "cpp")
    assert eng.choose_moves([Board()], temperature=0)[0].move is not None


def test_backend_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    m = model(1, 1, 16)
    monkeypatch.delenv("CHESSFORMER_BACKEND", raising=False)
    # the default on the CPU: native when its dot products are vectorised (a portable build's
    # scalar fallback is slower than PyTorch)
    auto = "native" if _core.native_isa() in ("avx512", "avx2") else "torch"
    assert _core.native_isa() in ("avx512", "avx2", "scalar")
    assert InferenceEngine(m, "move").backend == auto
    monkeypatch.setenv("CHESSFORMER_BACKEND", "torch")
    assert InferenceEngine(m, "move").backend == "torch"
    assert InferenceEngine(m, "move", backend="native").backend == "native"
    monkeypatch.setenv("CHESSFORMER_BACKEND", "native")
    assert InferenceEngine(m, "move").backend == "native"


def test_the_gil_is_released_during_the_forward() -> None:
    """Another Python thread keeps running while a long prefill is in C++."""
    import threading
    import time

    eng = InferenceEngine(model(4, 4, 256, block=512), "move", max_batch=4, backend="native")
    chunks = [[(7 * i + s) % 1968 for i in range(400)] for s in range(4)]
    started = threading.Event()
    wall: list[float] = []

    def work() -> None:
        started.set()
        t = time.perf_counter()
        eng.feed([0, 1, 2, 3], chunks)
        wall.append(time.perf_counter() - t)

    th = threading.Thread(target=work)
    th.start()
    started.wait()
    ticks = 0
    while th.is_alive():
        time.sleep(0.002)
        ticks += 1
    th.join()
    # with the GIL held, the loop could not run until the forward returned
    assert wall and ticks >= min(10, int(wall[0] / 0.002) // 4), (ticks, wall)
