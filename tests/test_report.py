"""`chessformer report` and the match results format (chessformer.arena.report)."""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from chessformer import cli
from chessformer.arena.ratings import STOCKFISH_ANCHORS, fit_bradley_terry, rate_games
from chessformer.arena.report import main
from chessformer.arena.results import (
    GameRecord,
    ResultsFormatError,
    append_result,
    model_score,
    read_results,
)

TEMPS = (0.001, 0.1, 1.0)


def _games(model: str, seed: int, n_per_level: int = 10) -> list[GameRecord]:
    """A synthetic series: each temperature plays levels 1, 3, 5; strength falls with τ."""
    rng = np.random.default_rng(seed)
    out = []
    for temperature in TEMPS:
        strength = 1700.0 - 300.0 * temperature
        index = 0
        for level in (1, 3, 5):
            anchor = STOCKFISH_ANCHORS[level]
            for _ in range(n_per_level):
                color = "white" if index % 2 == 0 else "black"
                p = 1.0 / (1.0 + 10 ** (-(strength - anchor) / 400))
                u = rng.random()
                score = 1.0 if u < p - 0.1 else (0.5 if u < p + 0.1 else 0.0)
                white = score if color == "white" else 1.0 - score
                result = {1.0: "1-0", 0.0: "0-1", 0.5: "1/2-1/2"}[white]
                out.append(
                    GameRecord(
                        model=model,
                        temperature=temperature,
                        opponent="stockfish",
                        opponent_level=level,
                        opponent_rating=anchor,
                        model_color=color,
                        result=result,
                        score=score,
                        termination="checkmate" if score != 0.5 else "move_limit",
                        plies=int(rng.integers(20, 180)),
                        seed=int(rng.integers(1 << 31)),
                        game_index=index,
                    )
                )
                index += 1
    return out


def _write(directory: Path, records: list[GameRecord], seed: int = 0) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "games.jsonl"
    # File order is not game order (parallel workers finish out of order); ratings must sort.
    for k in np.random.default_rng(seed).permutation(len(records)):
        append_result(path, records[int(k)])
    return path


def _read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_report_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    records = _games("CF-test", seed=1)
    _write(tmp_path / "run", records)
    out = tmp_path / "out"
    assert main([str(tmp_path / "run"), "--out", str(out), "--data-max-rating", "1500"]) == 0

    printed = capsys.readouterr().out
    assert printed == (out / "ratings.md").read_text(encoding="utf-8")
    assert printed.count("| CF-test |") == len(TEMPS)

    rows = _read_csv(out / "ratings.csv")
    assert [float(r["temperature"]) for r in rows] == list(TEMPS)
    bt = fit_bradley_terry(
        [(r.temperature, (r.opponent, r.opponent_level), r.score) for r in records],
        {("stockfish", k): v for k, v in STOCKFISH_ANCHORS.items()},
    )
    for row in rows:
        t = float(row["temperature"])
        series = sorted((r for r in records if r.temperature == t), key=lambda r: r.game_index)
        glicko = rate_games((r.opponent_level, r.score) for r in series)
        assert float(row["glicko2_rating"]) == glicko.rating
        assert float(row["glicko2_rd"]) == glicko.rd
        assert float(row["glicko2_volatility"]) == glicko.volatility
        assert (float(row["glicko2_lower"]), float(row["glicko2_upper"])) == glicko.interval()
        assert float(row["bt_rating"]) == pytest.approx(bt[t].rating, abs=1e-6)
        assert float(row["bt_lower"]) == pytest.approx(bt[t].lower, abs=1e-6)
        assert float(row["bt_upper"]) == pytest.approx(bt[t].upper, abs=1e-6)
        assert int(row["games"]) == len(series) == 30
        assert int(row["wins"]) + int(row["draws"]) + int(row["losses"]) == 30
        assert int(row["wins"]) == sum(r.score == 1.0 for r in series)
        assert row["opponent_level"] == "all"

    png, svg = out / "rating_vs_temperature.png", out / "rating_vs_temperature.svg"
    assert png.read_bytes().startswith(b"\x89PNG") and png.stat().st_size > 1000
    assert b"<svg" in svg.read_bytes() and svg.stat().st_size > 1000


def test_several_models_by_level_through_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write(tmp_path / "a", _games("CF-1000", seed=2, n_per_level=4))
    _write(tmp_path / "b", _games("CF-1300", seed=3, n_per_level=4))
    out = tmp_path / "out"
    argv = ["report", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(out), "--by-level"]
    assert cli.main([*argv, "--plot-rating", "bt"]) == 0
    rows = _read_csv(out / "ratings.csv")
    assert {r["model"] for r in rows} == {"CF-1000", "CF-1300"}
    assert len(rows) == 2 * len(TEMPS) * 3
    assert {r["opponent_level"] for r in rows} == {"1", "3", "5"}
    assert (out / "rating_vs_temperature.svg").stat().st_size > 0
    assert "| level |" in capsys.readouterr().out


def test_report_without_matplotlib(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _write(tmp_path, _games("CF", seed=4, n_per_level=2))
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    assert main([str(tmp_path)]) == 0
    assert (tmp_path / "report" / "ratings.csv").stat().st_size > 0
    assert not (tmp_path / "report" / "rating_vs_temperature.png").exists()
    assert "pip install" in capsys.readouterr().err


@pytest.mark.parametrize("won", [True, False])
def test_all_won_or_lost_shows_a_bound_never_inf(tmp_path: Path, won: bool) -> None:
    records = [r for r in _games("CF", seed=5, n_per_level=4) if r.temperature == 0.001]
    score, white = (1.0, "1-0") if won else (0.0, "0-1")
    decided = [
        dataclasses.replace(
            r, score=score, result=white if r.model_color == "white" else _flip(white)
        )
        for r in records
    ]
    _write(tmp_path, decided)
    assert main([str(tmp_path), "--out", str(tmp_path / "o")]) == 0
    (row,) = _read_csv(tmp_path / "o" / "ratings.csv")
    bound = "bt_lower" if won else "bt_upper"
    assert float(row["bt_rating"]) == (math.inf if won else -math.inf)  # the CSV keeps the MLE
    assert math.isfinite(float(row[bound])) and math.isfinite(float(row["glicko2_rating"]))
    assert row["note"] == ("won every rated game" if won else "lost every rated game")
    md = (tmp_path / "o" / "ratings.md").read_text(encoding="utf-8")
    assert "inf" not in md
    sign = ">" if won else "<"
    assert f"| {sign} {float(row[bound]):.0f} | ({row['note']}) |" in md


def _flip(result: str) -> str:
    return {"1-0": "0-1", "0-1": "1-0"}[result]


def test_too_few_games_say_so_instead_of_a_rating(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """0/4 used to read 1171 [773, 1568] and BT -inf: a prior, not a measurement."""
    records = [r for r in _games("CF", seed=12, n_per_level=2) if r.temperature == 0.1][:4]
    lost = [
        dataclasses.replace(r, score=0.0, result="0-1" if r.model_color == "white" else "1-0")
        for r in records
    ]
    _write(tmp_path / "run", lost)
    out = tmp_path / "o"
    assert main([str(tmp_path / "run"), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "too few games (4 rated, 10 needed)" in text and "inf" not in text
    assert "1171" not in text and "A rating needs at least 10 games" in text
    (row,) = _read_csv(out / "ratings.csv")
    assert row["note"] == "too few games (4 rated, 10 needed)" and row["rated_games"] == "4"
    # --min-games lowers the bar on request; the bound is then shown
    assert main([str(tmp_path / "run"), "--out", str(out), "--min-games", "4"]) == 0
    text = capsys.readouterr().out
    assert "too few games" not in text and "| < " in text and "inf" not in text


def test_anchors_belong_to_their_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Folder a rated level 0 at 1320; folder b played level 0 without an anchor. b's games are
    not rated with a's anchor (they used to be, silently), unless --anchor asks for it."""
    base = [r for r in _games("CF", seed=13, n_per_level=4) if r.opponent_level == 1]
    a = [dataclasses.replace(r, opponent_level=0, opponent_rating=1320.0) for r in base]
    b = [dataclasses.replace(r, model="CF-b", opponent_level=0, opponent_rating=None) for r in base]
    _write(tmp_path / "a", a)
    _write(tmp_path / "b", b)
    out = tmp_path / "o"
    assert main([str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(out)]) == 0
    rows = {r["model"]: r for r in _read_csv(out / "ratings.csv") if r["temperature"] == "0.1"}
    assert math.isfinite(float(rows["CF"]["glicko2_rating"]))
    assert math.isnan(float(rows["CF-b"]["glicko2_rating"]))
    assert rows["CF-b"]["note"] == "no rated opponent"
    assert "level(s) 0" in capsys.readouterr().out
    argv = [str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(out), "--anchor", "0=1320"]
    assert main(argv) == 0
    rows = {r["model"]: r for r in _read_csv(out / "ratings.csv") if r["temperature"] == "0.1"}
    assert (
        float(rows["CF-b"]["glicko2_rating"])
        == rate_games(
            ((0, r.score) for r in sorted(b, key=lambda r: r.game_index) if r.temperature == 0.1),
            {0: 1320.0},
        ).rating
    )
    # and a folder's own anchors may differ from another's without an error
    c = [dataclasses.replace(r, model="CF-c", opponent_rating=1400.0) for r in a]
    _write(tmp_path / "c", c)
    assert main([str(tmp_path / "a"), str(tmp_path / "c"), "--out", str(out)]) == 0


# --- the results format ---------------------------------------------------------------------------


def test_truncated_last_line_is_ignored_with_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    records = _games("CF", seed=6, n_per_level=1)
    path = _write(tmp_path, records[:5])
    with open(path, "a", encoding="utf-8") as f:
        f.write(records[5].to_json()[:40])  # a crash mid-write
    assert len(read_results(path)) == 5
    assert "incomplete last line" in capsys.readouterr().err
    # Resuming: the writer cuts the partial line off before appending.
    append_result(path, records[5])
    assert read_results(path)[-1] == records[5]
    assert len(read_results(path)) == 6
    assert capsys.readouterr().err == ""


def test_bad_line_in_the_middle_is_an_error(tmp_path: Path) -> None:
    records = _games("CF", seed=7, n_per_level=1)
    path = tmp_path / "games.jsonl"
    lines = [records[0].to_json(), records[1].to_json()[:30], records[2].to_json()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ResultsFormatError, match=r"games\.jsonl:2: not valid JSON"):
        read_results(path)


def test_unknown_format_version_names_file_and_line(tmp_path: Path) -> None:
    records = _games("CF", seed=8, n_per_level=1)
    future = json.dumps({**json.loads(records[1].to_json()), "format_version": 2})
    path = tmp_path / "games.jsonl"
    path.write_text(f"{records[0].to_json()}\n{future}\n", encoding="utf-8")
    with pytest.raises(ResultsFormatError, match=r"games\.jsonl:2: unknown format_version 2"):
        read_results(path)
    assert main([str(tmp_path)]) == 1


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"score": 0.0}, "contradicts result"),
        ({"model_color": "red"}, "bad model_color 'red'"),
        ({"result": "*"}, "bad result '*'"),
        ({"plies": "80"}, "field 'plies' has the wrong type: '80'"),
        ({"opponent_level": True}, "field 'opponent_level' has the wrong type"),
    ],
)
def test_invalid_records_are_rejected(
    tmp_path: Path, change: dict[str, object], message: str
) -> None:
    base = json.loads(_games("CF", seed=9, n_per_level=1)[0].to_json())
    base.update({"model_color": "white", "result": "1-0", "score": 1.0})
    path = tmp_path / "games.jsonl"
    path.write_text(json.dumps({**base, **change}) + "\n", encoding="utf-8")
    with pytest.raises(ResultsFormatError, match=message):
        read_results(path)


def test_missing_field_and_duplicate_index(tmp_path: Path) -> None:
    rec = _games("CF", seed=10, n_per_level=1)[0]
    obj = json.loads(rec.to_json())
    del obj["seed"]
    path = tmp_path / "games.jsonl"
    path.write_text(json.dumps(obj) + "\n", encoding="utf-8")
    with pytest.raises(ResultsFormatError, match="missing field 'seed'"):
        read_results(path)
    path.write_text(rec.to_json() + "\n" + rec.to_json() + "\n", encoding="utf-8")
    with pytest.raises(ResultsFormatError, match="already appeared on line 1"):
        read_results(path)


def test_model_score() -> None:
    assert model_score("1-0", "white") == 1.0 == model_score("0-1", "black")
    assert model_score("1/2-1/2", "black") == 0.5
    assert model_score("1-0", "black") == 0.0


def test_conflicting_anchor_ratings_are_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = _games("CF", seed=11, n_per_level=1)[:2]
    _write(tmp_path, [a, dataclasses.replace(b, opponent_level=1, opponent_rating=1600.0)])
    assert main([str(tmp_path)]) == 1
    assert "'stockfish' level 1 is rated" in capsys.readouterr().err


def test_unanchored_level_is_scored_not_rated(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Games against a level without a rating anchor count in W/D/L but in no rating, until
    `report --anchor` gives that level a rating."""
    rated = [r for r in _games("CF", seed=6, n_per_level=4) if r.temperature == 0.1]
    level0 = [
        dataclasses.replace(r, opponent_level=0, opponent_rating=None, game_index=100 + k)
        for k, r in enumerate(rated[:6])
    ]
    path = _write(tmp_path / "run", rated + level0)
    assert read_results(path)[0].opponent_rating is not None
    assert sum(r.opponent_rating is None for r in read_results(path)) == 6
    out = tmp_path / "o"
    assert main([str(tmp_path / "run"), "--out", str(out), "--by-level"]) == 0
    text = capsys.readouterr().out
    rows = {r["opponent_level"]: r for r in _read_csv(out / "ratings.csv")}
    assert set(rows) == {"0", "1", "3", "5"}
    assert int(rows["0"]["games"]) == 6
    assert int(rows["0"]["wins"]) == sum(r.score == 1.0 for r in level0)
    assert math.isnan(float(rows["0"]["glicko2_rating"]))
    assert math.isnan(float(rows["0"]["bt_rating"]))
    assert math.isfinite(float(rows["1"]["glicko2_rating"]))
    assert "level(s) 0" in text and "(no rated opponent)" in text
    # pooled: the level-0 games are in the counts, the rating equals the rated games' alone
    assert main([str(tmp_path / "run"), "--out", str(out)]) == 0
    (pooled,) = _read_csv(out / "ratings.csv")
    assert int(pooled["games"]) == len(rated) + 6
    alone = rate_games(
        (r.opponent_level, r.score) for r in sorted(rated, key=lambda r: r.game_index)
    )
    assert float(pooled["glicko2_rating"]) == alone.rating
    capsys.readouterr()
    # an anchor given to the report rates them
    assert main([str(tmp_path / "run"), "--out", str(out), "--by-level", "--anchor", "0=1300"]) == 0
    rows = {r["opponent_level"]: r for r in _read_csv(out / "ratings.csv")}
    series = sorted(level0, key=lambda r: r.game_index)
    expect = rate_games(((r.opponent_level, r.score) for r in series), {0: 1300.0})
    assert float(rows["0"]["glicko2_rating"]) == expect.rating
    assert "level(s) 0" not in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main([str(tmp_path / "run"), "--anchor", "0=abc"])


def test_only_unanchored_levels_plot_without_warnings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Nothing can be rated, so the plot has no line and no legend (matplotlib used to warn
    "No artists with labels found to put in legend")."""
    pytest.importorskip("matplotlib")
    records = [
        dataclasses.replace(r, opponent_level=0, opponent_rating=None)
        for r in _games("CF", seed=7, n_per_level=2)
        if r.opponent_level == 1
    ]
    _write(tmp_path / "run", records)
    out = tmp_path / "o"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert main([str(tmp_path / "run"), "--out", str(out)]) == 0
    assert "level(s) 0" in capsys.readouterr().out
    assert (out / "rating_vs_temperature.png").stat().st_size > 0
    # with a rated line the legend is still drawn
    _write(tmp_path / "rated", _games("CF", seed=8, n_per_level=4))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert main([str(tmp_path / "rated"), "--out", str(out)]) == 0
    assert b"CF" in (out / "rating_vs_temperature.svg").read_bytes()


def test_outputs_are_replaced_whole(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write(tmp_path / "run", _games("CF", seed=9, n_per_level=2))
    out = tmp_path / "o"
    assert main([str(tmp_path / "run"), "--out", str(out)]) == 0
    first = {p.name: p.read_bytes() for p in out.iterdir()}
    assert {"ratings.md", "ratings.csv"} <= set(first)
    assert main([str(tmp_path / "run"), "--out", str(out)]) == 0
    assert {p.name: p.read_bytes() for p in out.iterdir()} == first  # no temporary files left
    # an --out that is a file: a clear error, no traceback
    (tmp_path / "file").write_text("x")
    capsys.readouterr()
    assert main([str(tmp_path / "run"), "--out", str(tmp_path / "file")]) == 1
    err = capsys.readouterr().err
    assert "error: cannot create --out" in err and "Traceback" not in err
