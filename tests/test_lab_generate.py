"""The lab's experts, game driver and resumable game files (python-chess is the oracle)."""

from __future__ import annotations

import io
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import chess
import chess.pgn
import pytest

from chessformer import _core
from chessformer.lab.experts import ExpertSpecError, SearchAsk, game_phase, parse_expert
from chessformer.lab.generate import GenerateConfig, generate, main
from chessformer.lab.store import GameStore, StoreError, read_pgn_zst

STOCKFISH = shutil.which("stockfish") or "/usr/games/stockfish"
needs_stockfish = pytest.mark.skipif(
    not os.access(STOCKFISH, os.X_OK), reason="stockfish not installed"
)


def _positions(n: int, seed: int = 3) -> list[_core.Board]:
    rng = random.Random(seed)
    out = []
    while len(out) < n:
        b = _core.Board()
        for _ in range(rng.randrange(1, 60)):
            moves = b.legal_moves_uci()
            if not moves:
                break
            b.push_uci(rng.choice(moves))
        if b.count_legal():
            out.append(b)
    return out


# ---- specs ----------------------------------------------------------------------------------
def test_spec_canonical_and_limits() -> None:
    e = parse_expert(" stockfish: eps=0.5 , depth=1")
    assert e.spec == "stockfish:depth=1,eps=0.5"
    assert e.go == "go depth 1" and e.eps == 0.5
    s = parse_expert("stockfish:skill=3")
    assert s.go == "go depth 4" and ("Skill Level", "3") in s.options
    assert parse_expert("stockfish").go == "go depth 1"
    assert parse_expert("stockfish:nodes=500").go == "go nodes 500"
    m = parse_expert("chessformer:model=runs/x,temperature=0.1")
    assert (m.model, m.temperature) == ("runs/x", 0.1)


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("gnuchess:depth=1", "unknown kind"),
        ("stockfish:eps=1.5", "outside"),
        ("stockfish:eps=half", "not a number"),
        ("stockfish:skill=21", "outside"),
        ("stockfish:depth=1,nodes=3", "one of depth"),
        ("stockfish:regions=3", "needs region"),
        ("stockfish:regions=3,region=3", "outside"),
        ("stockfish:phase=late", "not one of"),
        ("stockfish:temperature=1", "no key"),
        ("stockfish:eps", "not key=value"),
        ("stockfish:eps=0.1,eps=0.2", "twice"),
        ("chessformer:temperature=1", "needs model"),
    ],
)
def test_bad_specs_name_the_rule(spec: str, words: str) -> None:
    with pytest.raises(ExpertSpecError, match=words) as info:
        parse_expert(spec)
    assert repr(spec) in str(info.value)


def test_noise_rate_and_random_moves_are_legal() -> None:
    expert = parse_expert("stockfish:depth=1,eps=0.3")
    rng = random.Random(1)
    boards = _positions(400)
    random_moves = 0
    for b in boards:
        choice = expert.decide(b, rng)
        if isinstance(choice, str):
            random_moves += 1
            assert chess.Move.from_uci(choice) in chess.Board(b.fen()).legal_moves
        else:
            assert isinstance(choice, SearchAsk)
    assert 0.23 < random_moves / len(boards) < 0.37  # binomial(400, 0.3): sd 0.023


def test_complementary_regions_partition_positions() -> None:
    experts = [parse_expert(f"stockfish:regions=4,region={i}") for i in range(4)]
    rng = random.Random(2)
    owners = Counter()
    for b in _positions(800):
        searching = [i for i, e in enumerate(experts) if isinstance(e.decide(b, rng), SearchAsk)]
        assert len(searching) == 1  # exactly one expert plays Stockfish in each position
        owners[searching[0]] += 1
    assert all(150 < owners[i] < 250 for i in range(4)), owners


def test_shared_noise_repeats_the_same_mistake() -> None:
    a = parse_expert("stockfish:eps=0.5,noise=shared,salt=7")
    b = parse_expert("stockfish:depth=1,eps=0.5,noise=shared,salt=7")
    c = parse_expert("stockfish:eps=0.5,noise=shared,salt=8")
    same = differ = 0
    for board in _positions(300):
        ca, cb = a.decide(board, random.Random(1)), b.decide(board, random.Random(2))
        assert ca == cb or (isinstance(ca, SearchAsk) and isinstance(cb, SearchAsk))
        cc = c.decide(board, random.Random(3))
        if isinstance(ca, str):
            same += 1
            differ += ca != cc
    assert 100 < same < 200 and differ > same // 3  # another salt: other mistakes


def test_game_phase() -> None:
    assert game_phase(_core.Board()) == "opening"
    assert game_phase(_core.Board("4k3/8/8/8/8/8/4P3/R3K3 w - - 0 40")) == "endgame"
    mid = "r1bqkbnr/pppppppp/2n5/8/4P3/5N2/PPPP1PPP/RNBQKB1R w KQkq - 0 30"
    assert game_phase(_core.Board(mid)) == "middlegame"


# ---- games and files ------------------------------------------------------------------------
def _check_games(path: Path, n: int) -> list[chess.pgn.Game]:
    """Every game parses, is legal, ends as its result says; rounds are 1..n once each."""
    text = read_pgn_zst(path)
    stream = io.StringIO(text)
    games = []
    while (game := chess.pgn.read_game(stream)) is not None:
        assert not game.errors, game.errors
        games.append(game)
    assert [int(g.headers["Round"]) for g in games] == list(range(1, n + 1))
    for g in games:
        board = g.end().board()
        result = g.headers["Result"]
        if g.headers["LabEnd"] == "move cap":
            assert result == "1/2-1/2" and not board.is_game_over()
        else:
            assert board.is_game_over() and board.result() == result
    return games


def test_random_games_without_stockfish(tmp_path: Path) -> None:
    cfg = GenerateConfig(("random",), 30, seed=5, opening_plies=2, max_plies=120)
    out = tmp_path / "r.pgn.zst"
    assert generate(cfg, out, progress=False) == 30
    games = _check_games(out, 30)
    assert any(g.headers["LabEnd"] == "move cap" for g in games)
    # same seed, same games (random experts only: no engine in the loop)
    again = tmp_path / "r2.pgn.zst"
    generate(cfg, again, progress=False)
    strip = lambda t: "\n".join(x for x in t.splitlines() if not x.startswith("[Date"))  # noqa: E731
    assert strip(read_pgn_zst(again)) == strip(read_pgn_zst(out))


def test_store_cuts_a_torn_frame_and_refuses_other_configs(tmp_path: Path) -> None:
    cfg = GenerateConfig(("random",), 10, seed=1, max_plies=40)
    out = tmp_path / "g.pgn.zst"
    generate(cfg, out, progress=False)
    size = out.stat().st_size
    with open(out, "ab") as f:  # a frame torn by a kill after the last progress record
        f.write(b"\x28\xb5\x2f\xfd garbage")
    bigger = GenerateConfig(("random",), 14, seed=1, max_plies=40)
    assert generate(bigger, out, progress=False) == 14
    assert out.stat().st_size > size
    _check_games(out, 14)
    with pytest.raises(StoreError, match="another configuration"):
        GameStore(out, GenerateConfig(("random",), 14, seed=2).identity())
    (tmp_path / "plain.pgn.zst").write_bytes(b"not ours")
    with pytest.raises(StoreError, match="without"):
        GameStore(tmp_path / "plain.pgn.zst", cfg.identity())


def test_cli_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--experts", "stockfish:eps=2", "--games", "3", "--out", str(tmp_path / "x")])
    assert code == 2
    err = capsys.readouterr().err
    assert "eps=2 is outside" in err and "Traceback" not in err


@needs_stockfish
def test_stockfish_experts_survive_kill_9(tmp_path: Path) -> None:
    out = tmp_path / "sf.pgn.zst"
    experts = ["stockfish:depth=1,eps=0.5", "stockfish:skill=0", "stockfish:regions=2,region=1"]
    cmd = [sys.executable, "-m", "chessformer", "lab", "generate", "--experts", *experts]
    cmd += ["--out", str(out), "--engines", "2", "--concurrency", "8", "--quiet"]
    proc = subprocess.Popen([*cmd, "--games", "400"], stderr=subprocess.DEVNULL)
    progress = out.with_name(out.name + ".progress.json")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # kill once the first frames are on disk
        if progress.exists() and '"games": 0' not in progress.read_text():
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    subprocess.run([*cmd, "--games", "200"], check=True, stderr=subprocess.DEVNULL, timeout=120)
    games = _check_games(out, 200)
    assert {g.headers["White"] for g in games} == {parse_expert(e).spec for e in experts}


def test_pool_restarts_a_dying_engine_and_loses_no_search(tmp_path: Path) -> None:
    # a UCI engine that answers two searches, then dies: every search must still be answered
    fake = tmp_path / "dying-engine"
    fake.write_text(
        f"#!{sys.executable}\n"
        "import sys\n"
        "answered = 0\n"
        "for line in sys.stdin:\n"
        "    cmd = line.split()\n"
        "    if cmd == ['uci']: print('uciok', flush=True)\n"
        "    elif cmd == ['isready']: print('readyok', flush=True)\n"
        "    elif cmd[:1] == ['go']:\n"
        "        if answered == 2: sys.exit(3)\n"
        "        answered += 1\n"
        "        print('info depth 1 score cp 0 pv e2e4', flush=True)\n"
        "        print('bestmove e2e4', flush=True)\n"
    )
    fake.chmod(0o755)
    from chessformer.lab.uci import EnginePool, Search

    pool = EnginePool(str(fake), 2, depth=2, timeout=10)
    try:
        for i in range(9):
            pool.submit(Search(i, _core.Board().fen()))
        got = []
        deadline = time.monotonic() + 30
        while len(got) < 9 and time.monotonic() < deadline:
            got += pool.poll(1.0)
    finally:
        pool.close()
    assert sorted(r.token for r in got) == list(range(9))
    assert all(r.move == "e2e4" for r in got)
    assert pool.restarts >= 2
