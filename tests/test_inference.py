"""The batched KV-cache inference engine: legality, batching, caching, sampling statistics."""

from __future__ import annotations

import random
import subprocess
import sys
import textwrap

import pytest
import torch

from chessformer.board import Board
from chessformer.inference import InferenceEngine
from chessformer.model.gpt import GPT, GPTConfig

VOCAB = {"move": 1974, "char": 32}


def tiny(tok: str, seed: int = 0, block: int = 512) -> GPT:
    torch.manual_seed(seed)
    return GPT(GPTConfig(vocab_size=VOCAB[tok], block_size=block, n_layer=2, n_head=2, n_embd=32))


def random_boards(n: int, seed: int, max_plies: int = 120) -> list[Board]:
    rng = random.Random(seed)
    out = []
    while len(out) < n:
        b = Board()
        for _ in range(rng.randrange(max_plies)):
            moves = list(b.legal_moves)
            if not moves:
                break
            b.push(rng.choice(moves))
        if any(True for _ in b.legal_moves):
            out.append(b)
    return out


@pytest.mark.parametrize("tok", ["move", "char"])
@pytest.mark.parametrize("temperature", [0.0, 1.0, 5.0])
def test_masked_moves_are_always_legal(tok: str, temperature: float) -> None:
    eng = InferenceEngine(tiny(tok), tok, max_batch=64, seed=3)
    boards = random_boards(256 if tok == "move" else 128, seed=int(temperature * 10) + len(tok))
    for i in range(0, len(boards), 64):
        batch = boards[i : i + 64]
        for b, c in zip(batch, eng.choose_moves(batch, temperature=temperature), strict=True):
            assert c.move is not None and b.is_legal(c.move), (b.fen(), c)
            assert 0.0 < c.probability <= 1.0


@pytest.mark.parametrize("tok", ["move", "char"])
def test_batched_equals_one_game_at_a_time(tok: str) -> None:
    model = tiny(tok)
    boards = random_boards(6, seed=11, max_plies=60)
    single = InferenceEngine(model, tok, max_batch=1)
    alone = [single.choose_moves([b], slots=[0], temperature=0)[0].move for b in boards]
    batched = InferenceEngine(model, tok, max_batch=8)
    together = [c.move for c in batched.choose_moves(boards, slots=[7, 1, 3, 0, 5, 2])]
    assert together == alone
    for b in boards[: 3 if tok == "move" else 1]:
        p1 = single.move_probabilities(b, slot=0)
        p2 = batched.move_probabilities(b, slot=4)
        assert p1.keys() == p2.keys()
        assert all(abs(p1[k] - p2[k]) < 1e-5 for k in p1)


@pytest.mark.parametrize("tok", ["move", "char"])
def test_greedy_is_deterministic_and_seeded_sampling_reproducible(tok: str) -> None:
    model = tiny(tok)

    def play(temperature: float, seed: int) -> list[str]:
        eng = InferenceEngine(model, tok, max_batch=1, seed=seed)
        b = Board()
        for _ in range(16):
            b.push(eng.choose_moves([b], temperature=temperature)[0].move)
        return [m.uci() for m in b.move_stack]

    assert play(0.0, 1) == play(0.0, 2)
    assert play(1.0, 5) == play(1.0, 5)
    assert play(1.0, 5) != play(1.0, 6)


def test_kv_cache_is_reused_when_the_game_extends() -> None:
    eng = InferenceEngine(tiny("move"), "move", max_batch=2)
    b = Board()
    b.push(eng.choose_moves([b], temperature=0)[0].move)
    b.push_san("e5") if b.is_legal("e7e5") else b.push(next(iter(b.legal_moves)))
    before = eng.tokens_processed
    eng.choose_moves([b], temperature=0)
    assert eng.tokens_processed - before == 2  # our previous move and the reply, nothing else
    # a different game in the same slot keeps only the common prefix (BOS)
    other = Board()
    other.push_san("d4")
    before = eng.tokens_processed
    eng.choose_moves([other], temperature=0)
    assert eng.tokens_processed - before == 1


def test_char_prompt_and_cache_reuse() -> None:
    eng = InferenceEngine(tiny("char"), "char", max_batch=1)
    b = Board()
    for san in ("e4", "e5", "Nf3"):
        b.push_san(san)
    tokens, legal = eng.decoder.prompt(b)
    assert "".join(" #+-.0123456789;=BKNOQRabcdefghx"[t] for t in tokens) == ";1.e4 e5 2.Nf3 "
    assert legal["Nc6"] == "b8c6"
    c = eng.choose_moves([b], temperature=0)[0]
    b.push(c.move)
    b.push(next(iter(b.legal_moves)))
    before = eng.tokens_processed
    eng.choose_moves([b], temperature=0)
    # only the new characters (our SAN's tail, the reply, the move number) were fed
    assert eng.tokens_processed - before < 20


def test_searchmoves_restricts_the_choice() -> None:
    eng = InferenceEngine(tiny("move"), "move", max_batch=2)
    for _ in range(10):
        c = eng.choose_moves([Board()], temperature=2.0, searchmoves=[["a2a3", "h2h4"]])[0]
        assert c.move is not None and c.move.uci() in ("a2a3", "h2h4")


def _chi_square_p(observed: list[int], expected: list[float]) -> float:
    stat = sum((o - e) ** 2 / e for o, e in zip(observed, expected, strict=True))
    dof = len(observed) - 1
    return float(torch.special.gammaincc(torch.tensor(dof / 2.0), torch.tensor(stat / 2.0)))


def _assert_follows(counts: dict[str, int], probs: dict[str, float], draws: int) -> None:
    """Chi-square test of sampled move counts against the model's probabilities; rare moves are
    merged so that every expected count is >= 5."""
    obs: list[int] = []
    exp: list[float] = []
    o_rest, e_rest = 0, 0.0
    for uci, p in probs.items():
        if p * draws >= 5:
            obs.append(counts[uci])
            exp.append(p * draws)
        else:
            o_rest += counts[uci]
            e_rest += p * draws
    if e_rest > 0:
        obs.append(o_rest)
        exp.append(e_rest)
    assert _chi_square_p(obs, exp) > 1e-3


def test_samples_follow_the_softmax_at_temperature_one() -> None:
    model = tiny("move", seed=4)
    eng = InferenceEngine(model, "move", max_batch=64, seed=9)
    board = Board()
    board.push_san("e4")
    probs = eng.move_probabilities(board, slot=0, temperature=1.0)
    counts = dict.fromkeys(probs, 0)
    draws = 0
    for _ in range(60):
        for c in eng.choose_moves([board] * 64, temperature=1.0):
            assert c.move is not None
            counts[c.move.uci()] += 1
            draws += 1
    _assert_follows(counts, probs, draws)


def test_paper_decoding_resamples_then_gives_up() -> None:
    eng = InferenceEngine(tiny("char", seed=2), "char", max_batch=4, seed=1)
    boards = random_boards(4, seed=5, max_plies=20)
    for b, c in zip(
        boards, eng.choose_moves(boards, temperature=1.0, decoding="paper"), strict=True
    ):
        # a random network almost never writes a legal SAN: five attempts, then no move
        if c.move is None:
            assert c.attempts == 5 or c.resigned
        else:
            assert b.is_legal(c.move) and 1 <= c.attempts <= 5
    with pytest.raises(ValueError, match="char"):
        InferenceEngine(tiny("move"), "move").choose_moves([Board()], decoding="paper")


def _play(
    eng: InferenceEngine,
    boards: list[Board],
    slots: list[int],
    seeds: list[int],
    plies: int,
    tau: float = 1.0,
    decoding: str = "masked",
) -> list[list[str]]:
    """Each game: the engine's move, then the opponent's first legal move, ``plies`` times."""
    boards = [b.copy() for b in boards]
    for _ in range(plies):
        live = [i for i, b in enumerate(boards) if any(True for _ in b.legal_moves)]
        if not live:
            break
        choices = eng.choose_moves(
            [boards[i] for i in live],
            slots=[slots[i] for i in live],
            temperature=tau,
            seeds=[seeds[i] for i in live],
            decoding=decoding,
        )
        for i, c in zip(live, choices, strict=True):
            if c.move is None:
                continue
            boards[i].push(c.move)
            if any(True for _ in boards[i].legal_moves):
                boards[i].push(next(iter(boards[i].legal_moves)))
    return [[m.uci() for m in b.move_stack] for b in boards]


@pytest.mark.parametrize("tok", ["move", "char"])
def test_seeded_games_do_not_depend_on_the_batch(tok: str) -> None:
    model = tiny(tok, seed=3)
    starts = random_boards(4, seed=17, max_plies=30)
    seeds = [101, 202, 303, 404]
    alone = [
        _play(InferenceEngine(model, tok, max_batch=1, seed=i), [b], [0], [s], 6)[0]
        for i, (b, s) in enumerate(zip(starts, seeds, strict=True))
    ]
    # together, in other slots, with an engine generator in another state: the same games
    eng = InferenceEngine(model, tok, max_batch=8, seed=99)
    eng.choose_moves(random_boards(8, seed=1), temperature=1.0)  # other games ran before
    assert _play(eng, starts, [6, 2, 5, 0], seeds, 6) == alone
    # only the first two, in yet other slots
    eng2 = InferenceEngine(model, tok, max_batch=4)
    assert _play(eng2, starts[:2], [3, 1], seeds[:2], 6) == alone[:2]
    # and the seed matters
    other = _play(InferenceEngine(model, tok, max_batch=4), starts, [0, 1, 2, 3], [7, 8, 9, 10], 6)
    assert other != alone
    with pytest.raises(ValueError, match="seeds"):
        eng.choose_moves(starts, seeds=[1])


def test_seeded_paper_decoding_does_not_depend_on_the_batch() -> None:
    model = tiny("char", seed=2)
    starts = random_boards(3, seed=5, max_plies=20)
    alone = [
        _play(InferenceEngine(model, "char", max_batch=1), [b], [0], [s], 2, decoding="paper")
        for b, s in zip(starts, [5, 6, 7], strict=True)
    ]
    eng = InferenceEngine(model, "char", max_batch=4)
    together = _play(eng, starts, [3, 0, 2], [5, 6, 7], 2, decoding="paper")
    assert together == [a[0] for a in alone]


def test_seeded_samples_follow_the_softmax_at_temperature_one() -> None:
    model = tiny("move", seed=4)
    eng = InferenceEngine(model, "move", max_batch=64)
    board = Board()
    board.push_san("e4")
    probs = eng.move_probabilities(board, slot=0, temperature=1.0)
    counts = dict.fromkeys(probs, 0)
    draws = 0
    for k in range(60):
        seeds = list(range(k * 64, (k + 1) * 64))
        for c in eng.choose_moves([board] * 64, temperature=1.0, seeds=seeds):
            assert c.move is not None
            counts[c.move.uci()] += 1
            draws += 1
    _assert_follows(counts, probs, draws)


def _scripted_char_model(follow: dict[str, str]) -> GPT:
    """A char model whose next character depends only on the current one: ``follow[c]`` after
    ``c`` (blocks silenced, one-hot embeddings, an untied head)."""
    from chessformer.data.tokenizers import CHAR_VOCAB

    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=32, block_size=256, n_layer=2, n_head=2, n_embd=32))
    with torch.no_grad():
        tr = model.transformer
        tr.wte.weight.copy_(torch.eye(32) * 4.0)
        tr.wpe.weight.zero_()
        for block in tr.blocks():
            block.attn.c_proj.weight.zero_()
            block.mlp.c_proj.weight.zero_()
        head = torch.zeros(32, 32)
        for c, nxt in follow.items():
            head[CHAR_VOCAB.index(nxt), CHAR_VOCAB.index(c)] = 20.0
        model.lm_head.weight = torch.nn.Parameter(head)  # untie from wte
    return model


def test_paper_decoding_resigns_on_a_result_string() -> None:
    # after ' ' or '.' (where a move starts) the model writes "1-0", then a space
    model = _scripted_char_model({" ": "1", ".": "1", "1": "-", "-": "0", "0": " "})
    eng = InferenceEngine(model, "char", max_batch=2, seed=0)
    white, black = Board(), Board()
    black.push_san("e4")
    for tau in (0.0, 1.0):
        for c in eng.choose_moves([white, black], temperature=tau, decoding="paper"):
            assert c.move is None and c.resigned and c.attempts == 1 and c.text == "1-0", c
            assert 0.9 < c.probability <= 1.0
    for c in eng.choose_moves([white, black], decoding="paper", seeds=[1, 2]):
        assert c.resigned
    # an illegal SAN is resampled, then the game is lost -- not a resignation
    model = _scripted_char_model({" ": "Q", ".": "Q", "Q": "h", "h": "5", "5": " "})
    eng = InferenceEngine(model, "char", max_batch=1)
    c = eng.choose_moves([white], temperature=0.0, decoding="paper")[0]
    assert c.move is None and not c.resigned and c.attempts == 5 and c.text == "Qh5"
    # masked decoding never resigns: the result characters are not legal
    c = eng.choose_moves([white], temperature=0.0)[0]
    assert c.move is not None and white.is_legal(c.move) and not c.resigned


@pytest.mark.parametrize("tok", ["move", "char"])
def test_forward_paths_agree(tok: str) -> None:
    """Prefill and single-token steps over contiguous, permuted and scattered slots give the
    logits of one row at a time."""
    model = tiny(tok, seed=6)
    rng = random.Random(0)
    V = VOCAB[tok] if tok == "char" else 1968
    prompts = [[rng.randrange(V) for _ in range(rng.randrange(1, 12))] for _ in range(5)]
    steps = [[rng.randrange(V) for _ in range(5)] for _ in range(3)]
    ref = InferenceEngine(model, tok, max_batch=1)
    expect = []
    for r in range(5):
        ref.reset()
        rows = [ref.feed([0], [prompts[r]])[0]]
        for s in steps:
            rows.append(ref.feed([0], [[s[r]]])[0])
        rows.append(ref.feed([0], [[1, 2, 3][: r % 3 + 1]])[0])  # a multi-token chunk
        expect.append(torch.stack(rows))
    # a range, a permuted range, a range with gaps, scattered (gathered) slots
    for slots in ([0, 1, 2, 3, 4], [4, 2, 0, 3, 1], [9, 3, 6, 0, 12], [0, 20, 63, 40, 45]):
        eng = InferenceEngine(model, tok, max_batch=64)
        got = [eng.feed(slots, prompts)]
        for s in steps:
            got.append(eng.feed(slots, [[t] for t in s]))
        got.append(eng.feed(slots, [[1, 2, 3][: r % 3 + 1] for r in range(5)]))
        for r in range(5):
            torch.testing.assert_close(
                torch.stack([g[r] for g in got]), expect[r], atol=1e-5, rtol=1e-5
            )
        lengths = [len(p) + 4 + r % 3 for r, p in enumerate(prompts)]
        assert [len(eng.slot_tokens[s]) for s in slots] == lengths


@pytest.mark.parametrize("backend", ["torch", "native"])
def test_incremental_forward_matches_the_models_full_forward(backend: str) -> None:
    """The engine's forward over its KV cache (a prefill, a chunk after a cached prefix, then one
    token at a time; two games in scattered slots) gives the logits of the model's own full
    forward (model/gpt.py, the one definition of the model), biases included."""
    torch.manual_seed(4)
    m = GPT(GPTConfig(vocab_size=32, block_size=64, n_layer=2, n_head=2, n_embd=32, bias=True))
    with torch.no_grad():
        for name, p in m.named_parameters():
            if name.endswith(".bias"):
                p.normal_(0.0, 0.5)
        idx = torch.randint(0, 32, (2, 24), generator=torch.Generator().manual_seed(5))
        want = m(idx)[0]  # (2, 24, V)
    rows = idx.tolist()
    eng = InferenceEngine(m, "char", max_batch=8, backend=backend)
    assert eng.backend == backend
    slots = [5, 1]
    got = [eng.feed(slots, [r[:7] for r in rows]), eng.feed(slots, [r[7:10] for r in rows])]
    got += [eng.feed(slots, [[r[t]] for r in rows]) for t in range(10, 24)]
    ends = [6, 9, *range(10, 24)]  # the position of each call's logits
    torch.testing.assert_close(torch.stack(got, 1), want[:, ends], atol=1e-4, rtol=1e-4)


def test_bad_arguments_are_refused() -> None:
    eng = InferenceEngine(tiny("move"), "move", max_batch=2)
    with pytest.raises(ValueError, match="slots"):
        eng.choose_moves([Board(), Board()], slots=[0, 0])
    with pytest.raises(ValueError, match="temperatures"):
        eng.choose_moves([Board()], temperature=-1.0)
    mate = Board()
    for san in ("f3", "e5", "g4", "Qh4#"):
        mate.push_san(san)
    assert eng.choose_moves([mate])[0].move is None


def test_long_games_slide_the_window() -> None:
    eng = InferenceEngine(tiny("move", block=64), "move", max_batch=1)
    b = Board()
    rng = random.Random(0)
    while b.ply < 150 and any(True for _ in b.legal_moves):
        c = eng.choose_moves([b], temperature=1.0)[0]
        assert c.move is not None and b.is_legal(c.move)
        b.push(c.move)
        moves = list(b.legal_moves)
        if not moves:
            break
        b.push(rng.choice(moves))
    assert len(eng.slot_tokens[0]) <= 64


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_triton_backend_matches_torch_on_cuda() -> None:
    pytest.importorskip("triton")
    for tok in ("move", "char"):
        model = tiny(tok).cuda()
        boards = random_boards(8, seed=21, max_plies=40)
        tri = InferenceEngine(model, tok, max_batch=8, backend="triton", dtype=torch.float32)
        ref = InferenceEngine(model, tok, max_batch=8, backend="torch", dtype=torch.float32)
        for _ in range(3):
            a = [c.move for c in tri.choose_moves(boards, temperature=0)]
            b = [c.move for c in ref.choose_moves(boards, temperature=0)]
            assert a == b
            for board, mv in zip(boards, a, strict=True):
                board.push(mv)
                if any(True for _ in board.legal_moves):
                    board.push(next(iter(board.legal_moves)))
            boards = [b for b in boards if any(True for _ in b.legal_moves)]


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA runs the compiled kernels instead")
def test_triton_backend_matches_torch_under_the_interpreter() -> None:
    pytest.importorskip("triton")
    script = textwrap.dedent(
        """
        import os
        os.environ["TRITON_INTERPRET"] = "1"
        import torch
        from chessformer import Board
        from chessformer.inference import InferenceEngine
        from chessformer.model.gpt import GPT, GPTConfig
        for tok, V in (("move", 1974), ("char", 32)):
            torch.manual_seed(0)
            m = GPT(GPTConfig(vocab_size=V, block_size=128, n_layer=2, n_head=2, n_embd=32))
            boards = [Board(), Board()]
            boards[1].push_san("e4")
            tri = InferenceEngine(m, tok, max_batch=4, backend="triton")
            ref = InferenceEngine(m, tok, max_batch=4, backend="torch")
            for _ in range(3):
                # the kernel reads scattered slots in place; the torch path slices a range
                a = [c.move for c in tri.choose_moves(boards, temperature=0, slots=[3, 1])]
                b = [c.move for c in ref.choose_moves(boards, temperature=0, slots=[1, 2])]
                assert a == b, (tok, a, b)
                for board, mv in zip(boards, a):
                    board.push(mv)
                    board.push(next(iter(board.legal_moves)))
            assert tri.backend == "triton"
        # a model with biases (nanoGPT's bias=True), random, against its own forward pass
        torch.manual_seed(1)
        m = GPT(GPTConfig(vocab_size=32, block_size=64, n_layer=2, n_head=2, n_embd=32, bias=True))
        with torch.no_grad():
            for name, p in m.named_parameters():
                if name.endswith(".bias"):
                    p.normal_(0.0, 0.5)
        tri = InferenceEngine(m, "char", max_batch=2, backend="triton")
        ids = [15, 1, 27, 4, 3, 20, 5]
        got = torch.stack([tri.feed([0], [ids[:5]])[0], tri.feed([0], [ids[5:6]])[0]])
        want = m(torch.tensor([ids[:6]]))[0][0, [4, 5]].float()
        err = (got - want).abs().max().item()
        assert err < 1e-4, err
        print("ok")
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0 and proc.stdout.strip().endswith("ok"), proc.stderr[-2000:]
