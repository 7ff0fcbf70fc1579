"""The match results format: ``games.jsonl``, one finished game a line (docs/formats.md).

Written by the match runner (:func:`append_result`), read by ``chessformer report`` and by a
resuming match (:func:`read_results`). Every line is one ``write`` of a complete JSON object and
its newline, so a kill leaves whole lines and at most one unterminated tail:

- an unterminated last line that is a valid record is a record (its newline was all the kill
  took); one that is not is a partial write, ignored with a warning and cut off before the next
  append;
- any other line that is not valid UTF-8, not JSON or not a valid record is an error naming the
  file and line: the file was damaged by something else, and nothing is appended after it.
"""

from __future__ import annotations

import json
import math
import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "FORMAT_VERSION",
    "RESULTS_FILE",
    "GameRecord",
    "MatchRecord",
    "ResultsFormatError",
    "append_line",
    "append_result",
    "model_score",
    "parse_record",
    "read_result_lines",
    "read_results",
    "seal_results",
]

FORMAT_VERSION = 1
RESULTS_FILE = "games.jsonl"
_RESULTS = ("1-0", "0-1", "1/2-1/2")
_COLORS = ("white", "black")


class ResultsFormatError(ValueError):
    """A match results file that does not follow its declared format."""


@dataclass(frozen=True)
class GameRecord:
    """One finished game, one line of ``games.jsonl`` (format version 1)."""

    model: str
    temperature: float
    opponent: str
    opponent_level: int
    opponent_rating: float | None  # None: an opponent without a rating anchor (not rated)
    model_color: str  # "white" | "black"
    result: str  # "1-0" | "0-1" | "1/2-1/2", from White's view as in PGN
    score: float  # 1.0 | 0.5 | 0.0, from the model's view
    termination: str
    plies: int
    seed: int
    game_index: int  # unique within (model, temperature); ratings replay games in this order
    format_version: int = FORMAT_VERSION

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"), allow_nan=False)


@dataclass(frozen=True)
class MatchRecord(GameRecord):
    """A ``games.jsonl`` line as `chessformer match` writes it: the record plus what rebuilding
    the PGN needs (extra fields, which readers of the format ignore)."""

    round: int = 0
    moves: str = ""  # UCI, space-separated, from the start position (opening included)
    start_fen: str = ""  # empty: the standard start
    opening_plies: int = 0
    decoding: str = "masked"
    model_path: str = ""
    stockfish: str = ""
    movetime: float | None = None
    nodes: int | None = None
    depth: int | None = None
    model_resamples: int = 0  # paper decoding: illegal samples drawn and rejected
    retries: int = 0  # engine failures before this (replayed) game finished
    date: str = ""  # YYYY.MM.DD
    site: str = ""


def model_score(result: str, model_color: str) -> float:
    """The model's score for a PGN result string."""
    white = {"1-0": 1.0, "0-1": 0.0, "1/2-1/2": 0.5}[result]
    return white if model_color == "white" else 1.0 - white


def _field(obj: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if key not in obj:
        raise ResultsFormatError(f"{where}: missing field {key!r}")
    value = obj[key]
    # bool is an int subclass; a true/false here is always a writer bug.
    if isinstance(value, bool) or not isinstance(value, kind):
        raise ResultsFormatError(f"{where}: field {key!r} has the wrong type: {value!r}")
    return value


def _optional_number(obj: dict[str, Any], key: str, where: str) -> float | None:
    if key not in obj:
        raise ResultsFormatError(f"{where}: missing field {key!r}")
    return None if obj[key] is None else float(_field(obj, key, (int, float), where))


def parse_record(obj: Any, where: str) -> GameRecord:
    """Validate one decoded JSON line; ``where`` (``file:line``) prefixes error messages."""
    if not isinstance(obj, dict):
        raise ResultsFormatError(f"{where}: expected a JSON object, got {obj!r}")
    version = obj.get("format_version")
    if version != FORMAT_VERSION:
        raise ResultsFormatError(
            f"{where}: unknown format_version {version!r} (this reader knows {FORMAT_VERSION})"
        )
    number = (int, float)
    rec = GameRecord(
        model=_field(obj, "model", str, where),
        temperature=float(_field(obj, "temperature", number, where)),
        opponent=_field(obj, "opponent", str, where),
        opponent_level=_field(obj, "opponent_level", int, where),
        opponent_rating=_optional_number(obj, "opponent_rating", where),
        model_color=_field(obj, "model_color", str, where),
        result=_field(obj, "result", str, where),
        score=float(_field(obj, "score", number, where)),
        termination=_field(obj, "termination", str, where),
        plies=_field(obj, "plies", int, where),
        seed=_field(obj, "seed", int, where),
        game_index=_field(obj, "game_index", int, where),
    )
    if not rec.model:
        raise ResultsFormatError(f"{where}: empty model name")
    if not (math.isfinite(rec.temperature) and rec.temperature >= 0.0):
        raise ResultsFormatError(f"{where}: bad temperature {rec.temperature!r}")
    if rec.opponent_rating is not None and not math.isfinite(rec.opponent_rating):
        raise ResultsFormatError(f"{where}: bad opponent_rating {rec.opponent_rating!r}")
    if rec.model_color not in _COLORS:
        raise ResultsFormatError(f"{where}: bad model_color {rec.model_color!r}")
    if rec.result not in _RESULTS:
        raise ResultsFormatError(f"{where}: bad result {rec.result!r}")
    if rec.score != model_score(rec.result, rec.model_color):
        raise ResultsFormatError(
            f"{where}: score {rec.score!r} contradicts result {rec.result!r} "
            f"with the model as {rec.model_color!r}"
        )
    if rec.plies < 0 or rec.game_index < 0:
        raise ResultsFormatError(f"{where}: plies and game_index must be >= 0")
    return rec


def _parse_line(raw: bytes, where: str) -> tuple[GameRecord, dict[str, Any]]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ResultsFormatError(
            f"{where}: not UTF-8 text (byte {raw[e.start : e.start + 1]!r} at column {e.start + 1})"
        ) from None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        raise ResultsFormatError(f"{where}: not valid JSON ({e}): {text[:80]!r}") from None
    return parse_record(obj, where), obj


def read_result_lines(path: str | os.PathLike[str]) -> list[tuple[GameRecord, dict[str, Any]]]:
    """Every game of a results file as (record, the decoded JSON object), in file order. A
    partial last line is reported on stderr and skipped; anything else that is not a valid
    record, or a repeated game, raises :class:`ResultsFormatError` naming the file and line."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except IsADirectoryError:
        raise ResultsFormatError(f"{path}: is a folder, not a results file") from None
    lines = data.split(b"\n")
    out: list[tuple[GameRecord, dict[str, Any]]] = []
    seen: dict[tuple[str, float, int], int] = {}
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        where = f"{path}:{i + 1}"
        terminated = i < len(lines) - 1
        try:
            rec, obj = _parse_line(line, where)
        except ResultsFormatError as e:
            if terminated:
                raise
            print(f"warning: {e}; ignoring this incomplete last line", file=sys.stderr)
            break
        key = (rec.model, rec.temperature, rec.game_index)
        if key in seen:
            raise ResultsFormatError(
                f"{where}: game_index {rec.game_index!r} of model {rec.model!r} at temperature "
                f"{rec.temperature!r} already appeared on line {seen[key]}"
            )
        seen[key] = i + 1
        out.append((rec, obj))
    return out


def read_results(path: str | os.PathLike[str]) -> list[GameRecord]:
    """All games of a ``games.jsonl`` file, in file order (see the module docstring for what a
    damaged file gives)."""
    return [rec for rec, _ in read_result_lines(path)]


def _seal_tail(f: Any, where: str) -> bool:
    """Make a file open in ``r+b``/``ab+`` mode end in a newline: a last line without one is
    given it when it is a valid record (only the newline was lost), cut off otherwise (a
    partial write). Returns True when something was cut. Reads only the last line."""
    size = f.seek(0, os.SEEK_END)
    if size == 0:
        return False
    f.seek(-1, os.SEEK_END)
    if f.read(1) == b"\n":
        return False
    start = size
    while start > 0:  # find the last newline, a block at a time from the end
        step = min(start, 1 << 16)
        f.seek(start - step)
        k = f.read(step).rfind(b"\n")
        if k >= 0:
            start = start - step + k + 1
            break
        start -= step
    f.seek(start)
    tail = f.read()
    try:
        _parse_line(tail, where)
    except ResultsFormatError:
        if tail.strip():
            f.truncate(start)
            return True
    f.seek(0, os.SEEK_END)
    f.write(b"\n")
    return False


def append_result(path: str | os.PathLike[str], record: GameRecord) -> None:
    """Append one game as a complete line, first sealing the file's tail: a partial last line
    (a crash mid-write) is cut off, a complete record missing only its newline gets it.

    Without that, a partial line glued to the next record would turn a tolerated tail into a
    corrupt line in the middle of the file, and a complete record would be lost.
    """
    path = Path(path)
    line = (record.to_json() + "\n").encode("utf-8")
    with open(path, "ab+") as f:
        _seal_tail(f, f"{path}: last line")
        f.write(line)
        f.flush()
        os.fsync(f.fileno())


def seal_results(path: Path) -> tuple[list[GameRecord], list[dict[str, Any]]]:
    """Read a results file before appending to it (a resuming match): check every line, seal
    its tail as :func:`append_result` would (saying so on stderr when a partial line is cut),
    and return (records, JSON objects)."""
    if not path.exists():
        return [], []
    lines = read_result_lines(path)
    with open(path, "r+b") as f:
        if _seal_tail(f, f"{path}: last line"):
            print(f"{path}: cut off the partial last line a kill left behind", file=sys.stderr)
        f.flush()
        os.fsync(f.fileno())
    return [rec for rec, _ in lines], [obj for _, obj in lines]


def append_line(path: Path, data: bytes) -> None:
    """One ``write`` of a complete entry, then fsync: a kill leaves whole entries or none. A
    file whose last line lacks its newline (written by something else) gets one first, so the
    entry never glues onto it."""
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            data = b"\n" + data
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
