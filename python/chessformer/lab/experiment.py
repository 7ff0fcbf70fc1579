"""An experiment file (TOML): which experts, how many games, which model, how it is rated.

    name = "denoising"
    seed = 1
    experts = ["stockfish:depth=1,eps=0.5"]

    [generate]               # the training games (expert vs expert)
    games = 20000
    opening_plies = 4
    max_plies = 400

    [prep]
    tokenizer = "move"
    args = []                # more `chessformer prep` options

    [train]
    config = "tiny"          # a model config of `chessformer train`
    max_steps = 3000
    set = ["model.n_layer=4", "lr=1e-3"]   # `--set` overrides, passed to `chessformer train`

    [rate]                   # calibration: experts against a ladder of Stockfish levels
    ladder = ["stockfish:skill=0", "stockfish:skill=1"]
    anchors = { "stockfish:skill=1" = 1554 }
    games = 40               # per (expert, ladder player) pair and per ladder step

    [match]                  # the model at each temperature against each opponent
    temperatures = [0.001, 0.01, 0.1, 0.3, 0.5, 0.75, 1.0, 1.5]
    opponents = ["experts"]  # "experts" = all of them; or specs
    games = 40               # per (temperature, opponent), half with the model as White
    opening_plies = 4
    max_plies = 178          # the paper scores a game past full move 89 a draw

Presets ship in ``chessformer/lab/presets/``; :func:`load_experiment` takes a path or a preset
name. Every value is checked here, with an error that names the file, the key and the rule.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from chessformer.arena.ratings import STOCKFISH_ANCHORS

if sys.version_info >= (3, 11):
    import tomllib
else:  # the same parser, before it joined the standard library
    import tomli as tomllib

from chessformer.lab.experts import ExpertSpecError, parse_expert

__all__ = ["Experiment", "ExperimentError", "load_experiment", "preset_names"]

PAPER_TEMPERATURES = (0.001, 0.01, 0.1, 0.3, 0.5, 0.75, 1.0, 1.5)


class ExperimentError(ValueError):
    """An experiment file is unreadable or breaks a rule (the message names file and key)."""


@dataclass(frozen=True)
class Experiment:
    name: str
    source: str  # the file it came from (for messages)
    seed: int
    experts: tuple[str, ...]
    games: int
    opening_plies: int
    max_plies: int
    tokenizer: str
    prep_args: tuple[str, ...]
    train_config: str
    max_steps: int
    train_sets: tuple[str, ...]
    ladder: tuple[str, ...]
    anchors: dict[str, float]
    rate_games: int
    temperatures: tuple[float, ...]
    opponents: tuple[str, ...]
    match_games: int
    match_opening_plies: int
    match_max_plies: int
    text: str = field(repr=False, default="")  # the file as written


def preset_names() -> list[str]:
    folder = resources.files("chessformer.lab") / "presets"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml"))


def load_experiment(path_or_name: str) -> Experiment:
    """An experiment from a TOML file, or a shipped preset by name (``denoising``, ...)."""
    path = Path(path_or_name)
    if path.suffix != ".toml" and not path.exists():
        if path_or_name not in preset_names():
            raise ExperimentError(
                f"{path_or_name!r} is neither a file nor a preset "
                f"(presets: {', '.join(preset_names())})"
            )
        res = resources.files("chessformer.lab") / "presets" / f"{path_or_name}.toml"
        return parse_experiment(res.read_text(), f"preset {path_or_name}")
    try:
        text = path.read_text()
    except OSError as e:
        raise ExperimentError(f"{path}: cannot read the experiment file ({e.strerror})") from None
    return parse_experiment(text, str(path))


class _Reader:
    """Typed access to one table of the file; unknown keys are errors (typos lose runs)."""

    def __init__(self, data: dict[str, Any], where: str, table: str, known: set[str]) -> None:
        self.data, self.where, self.table = data, where, table
        unknown = sorted(set(data) - known)
        if unknown:
            raise ExperimentError(
                f"{where}: unknown key {self._key(unknown[0])} (known: {', '.join(sorted(known))})"
            )

    def _key(self, key: str) -> str:
        return f"[{self.table}] {key}" if self.table else key

    def _fail(self, key: str, rule: str) -> ExperimentError:
        return ExperimentError(f"{self.where}: {self._key(key)} {rule}")

    def integer(self, key: str, default: int, lo: int = 0) -> int:
        value = self.data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._fail(key, f"must be an integer, got {value!r}")
        if value < lo:
            raise self._fail(key, f"must be >= {lo}, got {value!r}")
        return value

    def text(self, key: str, default: str) -> str:
        value = self.data.get(key, default)
        if not isinstance(value, str) or not value:
            raise self._fail(key, f"must be a non-empty string, got {value!r}")
        return value

    def strs(self, key: str, default: tuple[str, ...]) -> tuple[str, ...]:
        value = self.data.get(key, list(default))
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self._fail(key, f"must be a list of strings, got {value!r}")
        return tuple(value)

    def specs(
        self, key: str, default: tuple[str, ...], allow: frozenset[str] = frozenset()
    ) -> tuple[str, ...]:
        out = []
        for spec in self.strs(key, default):
            if spec in allow:
                out.append(spec)
                continue
            try:
                out.append(parse_expert(spec).spec)
            except ExpertSpecError as e:
                raise self._fail(key, f": {e}") from None
        if not out:
            raise self._fail(key, "must name at least one expert")
        return tuple(dict.fromkeys(out))


def parse_experiment(text: str, where: str) -> Experiment:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ExperimentError(f"{where}: not valid TOML ({e})") from None
    tables = {"generate", "prep", "train", "rate", "match"}
    top = _Reader(data, where, "", {"name", "seed", "experts"} | tables)
    for t in tables:
        if not isinstance(data.get(t, {}), dict):
            raise ExperimentError(f"{where}: [{t}] must be a table")
    gen = _Reader(
        data.get("generate", {}), where, "generate", {"games", "opening_plies"} | {"max_plies"}
    )
    prep = _Reader(data.get("prep", {}), where, "prep", {"tokenizer", "args"})
    train = _Reader(data.get("train", {}), where, "train", {"config", "max_steps", "set"})
    rate = _Reader(data.get("rate", {}), where, "rate", {"ladder", "anchors", "games"})
    match = _Reader(
        data.get("match", {}),
        where,
        "match",
        {"temperatures", "opponents", "games", "opening_plies", "max_plies"},
    )
    experts = top.specs("experts", ())
    ladder = rate.specs("ladder", ("stockfish:skill=0", "stockfish:skill=1"))
    anchors = _anchors(rate, ladder)
    temps = match.data.get("temperatures", list(PAPER_TEMPERATURES))
    if (
        not isinstance(temps, list)
        or not temps
        or not all(
            isinstance(t, int | float) and not isinstance(t, bool) and math.isfinite(t) and t >= 0
            for t in temps
        )
    ):
        raise ExperimentError(f"{where}: [match] temperatures must be a list of numbers >= 0")
    opponents = match.specs("opponents", ("experts",), allow=frozenset({"experts", "ladder"}))
    train_sets = train.strs("set", ())
    for item in train_sets:
        if item.partition("=")[0].strip() == "max_steps":
            raise ExperimentError(f"{where}: [train] set {item!r}: give [train] max_steps instead")
    tokenizer = prep.text("tokenizer", "move")
    if tokenizer not in ("char", "move", "fen"):
        raise ExperimentError(f"{where}: [prep] tokenizer must be char, move or fen")
    return Experiment(
        name=top.text("name", Path(where).stem),
        source=where,
        seed=top.integer("seed", 1),
        experts=experts,
        games=gen.integer("games", 10000, 1),
        opening_plies=gen.integer("opening_plies", 4),
        max_plies=gen.integer("max_plies", 400, 1),
        tokenizer=tokenizer,
        prep_args=prep.strs("args", ()),
        train_config=train.text("config", "tiny"),
        max_steps=train.integer("max_steps", 2000, 1),
        train_sets=train_sets,
        ladder=ladder,
        anchors=anchors,
        rate_games=rate.integer("games", 40, 1),
        temperatures=tuple(float(t) for t in temps),
        opponents=opponents,
        match_games=match.integer("games", 40, 1),
        match_opening_plies=match.integer("opening_plies", 4),
        match_max_plies=match.integer("max_plies", 178, 1),
        text=text,
    )


def _anchors(rate: _Reader, ladder: tuple[str, ...]) -> dict[str, float]:
    value = rate.data.get("anchors")
    if value is None:  # the paper's anchors for the ladder's plain skill levels
        out = {}
        for spec in ladder:
            level = _plain_skill(spec)
            if level is not None and level in STOCKFISH_ANCHORS:
                out[spec] = STOCKFISH_ANCHORS[level]
        if not out:
            raise rate._fail("anchors", "is needed: no ladder player is a paper level (skill 1-5)")
        return out
    if not isinstance(value, dict) or not value:
        raise rate._fail("anchors", "must be a table spec = rating")
    out = {}
    for spec, rating in value.items():
        try:
            canonical = parse_expert(spec).spec
        except ExpertSpecError as e:
            raise rate._fail("anchors", f": {e}") from None
        if canonical not in ladder:
            raise rate._fail("anchors", f"names {spec!r}, which is not on the ladder")
        if isinstance(rating, bool) or not isinstance(rating, int | float):
            raise rate._fail("anchors", f"rating of {spec!r} must be a number")
        out[canonical] = float(rating)
    return out


def _plain_skill(spec: str) -> int | None:
    """S for ``stockfish:skill=S`` without noise or regions (a paper level), else None."""
    e = parse_expert(spec)
    level = dict(e.options).get("Skill Level")
    if e.spec != f"stockfish:skill={level}":
        return None
    return int(level) if level is not None else None
