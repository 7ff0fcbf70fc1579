"""The match folder (``--out DIR``): what makes a folder a match's, and resuming one.

A match folder holds ``match.json`` (format ``chessformer-match``: the configuration) and the
files the match writes beside it: ``games.jsonl``, ``games.pgn``, ``errors.jsonl``,
``runs.jsonl`` and the report in ``report/``. :func:`prepare_dir` creates one in a new or empty
folder, or checks an existing one before resuming it. A non-empty folder without ``match.json``
is refused (``--force`` adopts a ``games.jsonl`` there), and a file the match did not write is
never rewritten, forced or not.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from chessformer._io import read_json, write_json
from chessformer.arena.config import MatchConfig, MatchConfigError
from chessformer.arena.pgn_file import PGN_FILE, sync_pgn
from chessformer.arena.report import REPORT_DIR, REPORT_FILES
from chessformer.arena.results import RESULTS_FILE, GameRecord, seal_results
from chessformer.arena.schedule import GameSpec, Opening, schedule

__all__ = [
    "ERRORS_FILE",
    "MATCH_FILE",
    "RUNS_FILE",
    "pending_games",
    "prepare_dir",
    "read_match_file",
]

MATCH_FILE = "match.json"
ERRORS_FILE = "errors.jsonl"
RUNS_FILE = "runs.jsonl"
MATCH_FORMAT = "chessformer-match"
MATCH_FORMAT_VERSION = 1


def read_match_file(path: Path) -> MatchConfig:
    """The configuration stored in ``match.json``; MatchConfigError naming the file when it is
    not one (not UTF-8, not JSON, another format, a broken configuration)."""
    try:
        meta = read_json(path, MatchConfigError)
    except MatchConfigError as e:
        if not path.is_file():
            raise
        raise MatchConfigError(
            f"{e}; if it is a damaged match file, delete it and rerun with --force to add games "
            "to the folder's results"
        ) from None
    if not isinstance(meta, dict) or meta.get("format") != MATCH_FORMAT:
        raise MatchConfigError(f"{str(path)!r} is not a chessformer match file")
    try:
        return MatchConfig.from_json(meta["config"])
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise MatchConfigError(f"{str(path)!r}: broken configuration ({e!r})") from None


def _foreign_files(out: Path) -> list[str]:
    """Files the match would write that are already there (in a folder it does not own)."""
    names = [PGN_FILE, ERRORS_FILE, RUNS_FILE] + [f"{REPORT_DIR}/{f}" for f in REPORT_FILES]
    return [name for name in names if (out / name).exists() or (out / name).is_symlink()]


def prepare_dir(out: Path, cfg: MatchConfig, force: bool) -> list[GameRecord]:
    """Check or create the match folder, write match.json, repair a kill's leftovers; return
    the finished games."""
    if out.exists() and not out.is_dir():
        raise MatchConfigError(f"--out {str(out)!r} is a file, not a folder")
    meta_path = out / MATCH_FILE
    results = out / RESULTS_FILE
    if meta_path.exists() or meta_path.is_symlink():
        diff = read_match_file(meta_path).differences(cfg)
        if diff and not force:
            raise MatchConfigError(
                f"{str(out)!r} holds a match with another configuration ("
                + "; ".join(diff)
                + "). Use another --out directory, or --force to add games to it anyway."
            )
    elif out.exists() and any(out.iterdir()):
        if not force:
            what = "results" if results.exists() else "files"
            raise MatchConfigError(
                f"--out {str(out)!r} holds {what} but no {MATCH_FILE}, so it is not a match "
                "folder: use a new or empty folder (or --force to add the match to it)"
            )
        foreign = _foreign_files(out)
        if foreign:
            raise MatchConfigError(
                f"--out {str(out)!r} is not a match folder and holds "
                + ", ".join(foreign)
                + ", which the match would overwrite; --force never overwrites files a match "
                "did not write: move them away or use another folder"
            )
    out.mkdir(parents=True, exist_ok=True)
    records, raw = seal_results(results)  # checks every line before anything is written
    meta = {
        "format": MATCH_FORMAT,
        "format_version": MATCH_FORMAT_VERSION,
        "config": cfg.to_json(),
        "updated": datetime.datetime.now().isoformat(timespec="seconds"),
    }
    write_json(meta_path, meta)
    sync_pgn(out / PGN_FILE, raw)
    return records


def pending_games(
    cfg: MatchConfig, records: Sequence[GameRecord], openings: Sequence[Opening], out: Path
) -> tuple[list[GameSpec], int]:
    """The games of ``cfg`` not yet in ``records``, and how many are: finished games are
    identified by (temperature, level, game_index). A game_index already used by another level
    (the levels changed) is refused."""
    done = {
        (r.temperature, r.opponent_level, r.game_index)
        for r in records
        if r.model == cfg.model_name and r.opponent == cfg.opponent
    }
    taken: dict[tuple[float, int], Any] = {
        (r.temperature, r.game_index): r.opponent_level
        for r in records
        if r.model == cfg.model_name
    }
    specs = [s for s in schedule(cfg, openings) if s.key not in done]
    for s in specs:
        other = taken.get((s.temperature, s.game_index))
        if other is not None and other != s.level:
            raise MatchConfigError(
                f"game_index {s.game_index} at temperature {s.temperature:g} is already used by "
                f"a level-{other} game in {str(out / RESULTS_FILE)!r}; the levels changed — "
                "use a new --out directory"
            )
    return specs, len(done)
