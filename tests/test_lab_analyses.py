"""`chessformer lab diversity` and `lab favor` against hand-computed answers."""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path

import pytest
from conftest import save_tiny_model

from chessformer.data import prep_cli
from chessformer.lab import diversity, favor
from chessformer.lab.diversity import move_diversity, normalised_entropy
from chessformer.lab.sources import SourceError, SourceGame, iter_games
from chessformer.lab.uci import EnginePool

STOCKFISH = shutil.which("stockfish") or "/usr/games/stockfish"
needs_stockfish = pytest.mark.skipif(
    not os.access(STOCKFISH, os.X_OK), reason="stockfish not installed"
)

# 90 games 1.e4 e5, 60 games 1.d4 d5, 30 games 1.e4 c5: the start position is visited 180 times
# with moves {e4: 120, d4: 60}; after 1.e4 (120 visits): {e5: 90, c5: 30}; after 1.d4: 60 visits.
LINES = [["e2e4", "e7e5"]] * 90 + [["d2d4", "d7d5"]] * 60 + [["e2e4", "c7c5"]] * 30


def _expected(counts: list[int], legal: int) -> float:
    total = sum(counts)
    return -sum(c / total * math.log(c / total) for c in counts) / math.log(legal)


def _write_pgn(path: Path) -> None:
    sans = {"e2e4": "e4", "e7e5": "e5", "d2d4": "d4", "d7d5": "d5", "c7c5": "c5"}
    games = []
    for i, line in enumerate(LINES):
        tags = f'[Event "t"]\n[Round "{i}"]\n[White "a"]\n[Black "b"]\n[Result "1/2-1/2"]\n'
        games.append(f"{tags}\n1. {sans[line[0]]} {sans[line[1]]} 1/2-1/2\n")
    path.write_text("\n".join(games))


def test_normalised_entropy_by_hand() -> None:
    assert normalised_entropy([5], 20) == 0.0
    assert math.isclose(normalised_entropy([1] * 20, 20), 1.0)
    assert math.isclose(normalised_entropy([1, 1], 4), math.log(2) / math.log(4))


def test_diversity_counts_common_positions() -> None:
    games = [SourceGame(list(m)) for m in LINES]
    r = move_diversity(games, "x", min_visits=100)
    assert r.games == 180
    assert [p[1] for p in r.positions] == [180, 120]  # only these two are visited > 100 times
    start, after_e4 = r.positions
    assert math.isclose(start[3], _expected([120, 60], 20))
    assert math.isclose(after_e4[3], _expected([90, 30], 20))  # 20 legal replies to 1.e4
    assert math.isclose(r.mean, (start[3] + after_e4[3]) / 2)
    assert math.isclose(r.weighted, (180 * start[3] + 120 * after_e4[3]) / 300)
    assert move_diversity(games, "x", plies=1, min_visits=100).positions == [start]
    # from ply 1: the positions after 1.e4 (120 visits) and 1.d4 (60), not the start
    assert move_diversity(games, "x", from_ply=1, min_visits=59).positions[0] == after_e4
    assert len(move_diversity(games, "x", from_ply=1, min_visits=59).positions) == 2


def test_diversity_same_on_pgn_and_prepared_dataset(tmp_path: Path) -> None:
    pgn = tmp_path / "g.pgn"
    _write_pgn(pgn)
    data = tmp_path / "data"
    assert prep_cli.main([str(pgn), "--out", str(data), "--tokenizer", "move", "--quiet"]) == 0
    assert sum(1 for _ in iter_games(data)) == 180
    out = tmp_path / "d.json"
    assert (
        diversity.main([str(pgn), str(data), "--json", str(out), "--plot", str(tmp_path / "d.png")])
        == 0
    )
    rows = json.loads(out.read_text())
    assert rows[0]["positions"] == rows[1]["positions"]
    assert math.isclose(rows[0]["mean"], (_expected([120, 60], 20) + _expected([90, 30], 20)) / 2)
    assert (tmp_path / "d.png").stat().st_size > 0


def test_diversity_bad_input_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "empty").mkdir()
    assert diversity.main([str(tmp_path / "empty")]) == 2
    assert diversity.main([str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert "no manifest.json" in err and "no such file" in err and "Traceback" not in err
    with pytest.raises(SourceError):
        list(iter_games(tmp_path / "missing"))


def test_wdl_lines_keep_each_moves_last_report() -> None:
    lines = [
        "info depth 1 seldepth 1 multipv 1 score cp 30 wdl 100 850 50 nodes 20 pv e2e4 e7e5",
        "info depth 1 seldepth 1 multipv 2 score cp 10 wdl 60 880 60 nodes 20 pv d2d4",
        "info depth 2 seldepth 2 multipv 1 score cp 25 wdl 90 860 50 nodes 90 pv d2d4 d7d5",
        "info depth 2 seldepth 2 multipv 2 score cp 20 wdl 80 870 50 nodes 90 pv e2e4",
        "info depth 2 currmove e2e4 currmovenumber 1",
    ]
    assert favor.parse_wdl_lines(lines) == {"d2d4": (90 + 430) / 1000, "e2e4": (80 + 435) / 1000}


@needs_stockfish
def test_favor_rewards_and_model_expectations(tmp_path: Path) -> None:
    # scholar's mate: after 1.e4 e5 2.Qh5 Nc6 3.Bc4 Nf6 White mates with Qxf7 (WDL 1000 0 0);
    # Qh6 loses the queen for a pawn
    fools = ["e2e4", "e7e5", "d1h5", "b8c6", "f1c4", "g8f6"]
    pool = EnginePool(STOCKFISH, 2)
    try:
        rewards = favor.move_rewards(pool, [fools, ["e2e4"]], "go depth 4")
    finally:
        pool.close()
    r0, r1 = rewards
    assert r0 is not None and r1 is not None
    assert r0["h5f7"] == 1.0 and r0["h5h6"] < 0.05
    assert max(v for m, v in r0.items() if m != "h5f7") < 0.9
    assert len(r0) == 43 and len(r1) == 20 and all(0.0 <= v <= 1.0 for v in r1.values())
    model = save_tiny_model(tmp_path / "m")
    results = favor.analyse(str(model), [fools, ["e2e4"]], rewards, (0.001, 1.0))
    from chessformer.board import Board
    from chessformer.inference import InferenceEngine

    engine = InferenceEngine.from_checkpoint(model, max_batch=1)
    for res, r in zip(results, rewards, strict=True):
        assert r is not None
        board = Board()
        for m in res.moves:
            board.push(m)
        p = engine.move_probabilities(board, temperature=1.0)
        assert math.isclose(res.reward[1.0], sum(p[m] * r[m] for m in p), rel_tol=1e-6)
        best = max(p, key=lambda m: p[m])
        assert math.isclose(res.reward[0.001], r[best], abs_tol=1e-3)  # ~argmax at τ = 0.001
        assert res.spread >= 0.0
    summary = favor.summarise(results, (0.001, 1.0))
    assert summary["positions"] == 2 and summary["temperatures"]["1"]["mean_gain_pp"] == 0.0
