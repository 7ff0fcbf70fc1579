"""`chessformer lab run`: experiment files, presets, the joint fit, a tiny run end to end."""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path

import pytest

from chessformer.lab.experiment import (
    ExperimentError,
    load_experiment,
    parse_experiment,
    preset_names,
)
from chessformer.lab.rating import joint_fit
from chessformer.lab.run import main
from chessformer.lab.store import read_pgn_zst

STOCKFISH = shutil.which("stockfish") or "/usr/games/stockfish"
needs_stockfish = pytest.mark.skipif(
    not os.access(STOCKFISH, os.X_OK), reason="stockfish not installed"
)

TINY = """
name = "tiny"
seed = 5
experts = ["stockfish:depth=1,eps=0.5"]
[generate]
games = 60
max_plies = 120
[train]
config = "tiny"
max_steps = 2
set = ["batch_size=2", "grad_accum=1", "eval_interval=0", "eval_batches=1", "warmup_steps=1",
       "ckpt_interval=0", "model.block_size=128"]
[rate]
ladder = ["stockfish:skill=0", "stockfish:skill=1"]
games = 2
[match]
temperatures = [0.001, 1.0]
games = 2
max_plies = 60
"""


def test_presets_load() -> None:
    names = preset_names()
    assert {"denoising", "complementary", "no-diversity", "stockfish-skill"} <= set(names)
    from chessformer.model.gpt import CONFIGS
    from chessformer.model.train import TrainConfig, apply_sets

    for name in names:
        exp = load_experiment(name)
        assert exp.experts and exp.anchors
        assert exp.temperatures == (0.001, 0.01, 0.1, 0.3, 0.5, 0.75, 1.0, 1.5)
        # what the train stage passes to `chessformer train` is accepted by it
        train, _ = apply_sets(TrainConfig(), CONFIGS[exp.train_config], exp.train_sets)
        assert train.max_steps == 100_000  # max_steps comes from [train] max_steps, set last
    skill = load_experiment("stockfish-skill")
    assert skill.anchors == {
        "stockfish:skill=1": 1554.0,
        "stockfish:skill=2": 1759.0,
        "stockfish:skill=3": 1867.0,
    }


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("experts = []", "at least one expert"),
        ('experts = ["stockfish:eps=3"]', "eps=3 is outside"),
        ('experts = ["random"]\nmax_steps = 3', "unknown key max_steps"),
        ('experts = ["random"]\n[train]\nmax_step = 3', r"\[train\] max_step"),
        ('experts = ["random"]\n[generate]\ngames = -1', "must be >= 1"),
        ('experts = ["random"]\n[generate]\ngames = "many"', "must be an integer"),
        ('experts = ["random"]\n[match]\ntemperatures = [-1]', "temperatures"),
        ('experts = ["random"]\n[rate]\nladder = ["stockfish:skill=0"]', "anchors"),
        ('experts = ["random"]\n[rate]\nanchors = { "stockfish:skill=4" = 2006 }', "ladder"),
        ("experts = [", "not valid TOML"),
        ('experts = ["random"]\n[train]\nset = ["max_steps=5"]', "give \\[train\\] max_steps"),
    ],
)
def test_bad_experiment_names_key_and_rule(text: str, words: str) -> None:
    with pytest.raises(ExperimentError, match=words) as info:
        parse_experiment(text, "x.toml")
    assert str(info.value).startswith("x.toml: ")


def test_unknown_preset_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["no-such-preset", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "no-such-preset" in err and "denoising" in err and "Traceback" not in err


def test_joint_fit_recovers_elo_differences() -> None:
    # Independent oracle: the Elo logistic expectation. A scores 0.75 against anchor X (1500):
    # 1500 + 400 log10(3) = 1690.8; B scores 0.25 against A: 1690.8 - 190.8 = 1500.
    games = [("A", "X", 1.0)] * 300 + [("A", "X", 0.0)] * 100
    games += [("B", "A", 1.0)] * 100 + [("B", "A", 0.0)] * 300
    ratings, note = joint_fit(games, {"X": 1500.0})
    assert note == ""
    assert math.isclose(ratings["A"].rating, 1500 + 400 * math.log10(3), abs_tol=0.5)
    assert math.isclose(ratings["B"].rating, 1500.0, abs_tol=0.5)


def test_joint_fit_falls_back_to_a_prior_when_the_mle_does_not_exist() -> None:
    # a chain where everyone beats everyone below: no finite MLE for the chain's free players
    games = [("S0", "S1", 0.0), ("E", "S0", 0.0), ("M", "E", 0.5), ("M", "E", 0.0)]
    ratings, note = joint_fit(games, {"S1": 1554.0})
    assert "virtual draw" in note
    assert ratings["S0"].rating > ratings["E"].rating > ratings["M"].rating


@needs_stockfish
def test_tiny_experiment_end_to_end_and_resume(tmp_path: Path) -> None:
    exp = tmp_path / "tiny.toml"
    exp.write_text(TINY)
    out = tmp_path / "out"
    assert main([str(exp), "--out", str(out), "--quiet", "--engines", "2"]) == 0
    for name in ("calibrate.pgn.zst", "games.pgn.zst", "matches.pgn.zst", "report.md"):
        assert (out / name).exists(), name
    tags = read_pgn_zst(out / "games.pgn.zst")
    assert '[WhiteElo "?"]' not in tags and "[WhiteElo " in tags  # measured in calibration
    ratings = json.loads((out / "ratings.json").read_text())
    assert ratings["stockfish:skill=1"]["rating"] == 1554.0
    for t in ("0.001", "1"):
        assert f"chessformer:model=run,temperature={t}" in ratings
    report = (out / "report.md").read_text()
    assert "| 0.001 |" in report and "transcendence margin" in report
    stages = {p.stem: json.loads(p.read_text()) for p in (out / "stages").glob("*.json")}
    assert set(stages) == {"calibrate", "generate", "prep", "train", "match", "report"}
    # a rerun skips every stage; a changed stage is refused, not silently redone
    assert main([str(exp), "--out", str(out), "--quiet"]) == 0
    assert json.loads((out / "stages" / "train.json").read_text()) == stages["train"]
    exp.write_text(TINY.replace("max_steps = 2", "max_steps = 3"))
    assert main([str(exp), "--out", str(out), "--quiet"]) == 2


def test_paper_glicko2_takes_both_colours_in_order() -> None:
    from chessformer.arena.ratings import rate_games
    from chessformer.lab.rating import paper_glicko2

    games = [("M", "X", 1.0), ("X", "M", 1.0), ("Y", "X", 0.5), ("M", "X", 0.5), ("X", "M", 0.0)]
    got = paper_glicko2(games, "M", {"X": 1400.0})
    want = rate_games([("X", 1.0), ("X", 0.0), ("X", 0.5), ("X", 1.0)], {"X": 1400.0})
    assert got is not None and got.games == 4 and got.points == 2.5
    assert math.isclose(got.rating, want.rating) and math.isclose(
        got.upper - got.lower, 2 * 1.96 * want.rd
    )
    # a single draw against a 1500 opponent from the paper's start (1500) leaves 1500
    one = paper_glicko2([("M", "Z", 0.5)], "M", {"Z": 1500.0})
    assert one is not None and math.isclose(one.rating, 1500.0, abs_tol=1e-9)
    assert paper_glicko2(games, "nobody", {"X": 1400.0}) is None
