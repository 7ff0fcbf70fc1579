"""Write a model's UCI_Elo calibration table from a `chessformer match` or `lab run` folder.

    python scripts/elo_calibration.py MATCH_DIR MODEL_DIR

Reads the rating of each temperature -- from a match folder the Glicko-2 ratings of
``MATCH_DIR/report/ratings.csv`` (written by ``chessformer match`` / ``chessformer report``),
from a lab run folder the joint fit of ``ratings.json`` (``chessformer lab run``'s report) --
and writes ``MODEL_DIR/elo_calibration.json``, which ``chessformer uci`` uses to turn
``UCI_LimitStrength``/``UCI_Elo`` into a temperature.
"""

from __future__ import annotations

import csv
import json
import math
import sys
from pathlib import Path
from typing import Any

# ratings.csv notes of rows without a rating to trust (chessformer.arena.report.rating_note)
UNRATED = ("too few games", "no rated opponent")


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    match_dir, model_dir = Path(argv[0]), Path(argv[1])
    if (match_dir / "ratings.json").is_file() and (match_dir / "experiment.toml").is_file():
        return write(model_dir, *lab_points(match_dir))
    rows = list(csv.DictReader((match_dir / "report" / "ratings.csv").open()))
    points = [
        {
            "temperature": float(r["temperature"]),
            "elo": round(float(r["glicko2_rating"]), 1),
            "elo_95": [round(float(r["glicko2_lower"]), 1), round(float(r["glicko2_upper"]), 1)],
            "games": int(r["games"]),
            "score": float(r["score"]),
        }
        for r in rows
        if r["opponent_level"] == "all" and not r.get("note", "").startswith(UNRATED)
    ]
    skipped = sum(r["opponent_level"] == "all" for r in rows) - len(points)
    if skipped:
        print(f"left out {skipped} temperatures without a rating (see the report)", file=sys.stderr)
    config = json.loads((match_dir / "match.json").read_text())["config"]
    match = {k: config.get(k) for k in ("levels", "anchors", "movetime", "games", "stockfish")}
    return write(model_dir, "Glicko-2 (paper protocol) per temperature, from `chessformer match`",
                 match, points)  # fmt: skip


def lab_points(run: Path) -> tuple[str, dict[str, Any], list[dict[str, Any]]]:
    """The model's temperatures in a lab run's joint fit (chessformer.lab.rating)."""
    ratings = json.loads((run / "ratings.json").read_text())
    prefix = "chessformer:model=run,temperature="
    points = [
        {
            "temperature": float(name[len(prefix) :]),
            "elo": round(r["rating"], 1),
            "elo_95": [round(r["lower"], 1), round(r["upper"], 1)],
            "games": int(r["games"]),
        }
        for name, r in ratings.items()
        if name.startswith(prefix) and math.isfinite(r["rating"])
    ]
    anchors = {k for k, v in ratings.items() if isinstance(v, dict) and not k.startswith(prefix)}
    match = {"lab_run": run.name, "players": sorted(anchors)}
    return "Bradley-Terry joint fit per temperature, from `chessformer lab run`", match, points


def write(model_dir: Path, method: str, match: dict[str, Any], points: list[dict[str, Any]]) -> int:
    if not points:
        print("no temperature has a rating to calibrate with", file=sys.stderr)
        return 1
    table = {
        "format": "chessformer-elo-calibration",
        "format_version": 1,
        "method": method,
        "match": match,
        "points": sorted(points, key=lambda p: p["temperature"]),
    }
    out = model_dir / "elo_calibration.json"
    out.write_text(json.dumps(table, indent=2) + "\n")
    print(f"wrote {out}: " + ", ".join(f"t={p['temperature']:g}: {p['elo']:.0f}" for p in points))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
