"""`chessformer lab run EXPERIMENT`: one experiment from experts to the rating-vs-temperature plot.

    chessformer lab run denoising --out lab-runs/denoising      # a shipped preset
    chessformer lab run my-experiment.toml                      # or a file (docs/lab.md)

Stages, in ``--out DIR`` (default ``lab-runs/NAME``):

1. ``calibrate`` -- every expert against a ladder of Stockfish levels, and the ladder's steps
   against each other (``calibrate.pgn.zst``); a joint fit anchored to the paper's levels gives
   the experts' ratings (``expert-ratings.json``), written into the training games' Elo tags.
2. ``generate`` -- the experts' games (``games.pgn.zst``; chessformer.lab.generate).
3. ``prep`` -- ``chessformer prep`` of those games into ``data/``.
4. ``train`` -- ``chessformer train`` on ``data/`` into ``run/``.
5. ``match`` -- the model at each temperature against the opponents (``matches.pgn.zst``).
6. ``report`` -- one Bradley-Terry fit of every game of stages 1 and 5 (experts, ladder, the
   model at each temperature on one scale): ``ratings.json``, ``report.md``, ``rating.png``.

Each stage records its configuration in ``stages/NAME.json`` when it ends and is skipped on a
rerun; an interrupted stage continues (game files, prep and train all resume). A rerun whose
experiment changed a finished stage is refused (use another ``--out``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from chessformer._io import write_json
from chessformer.arena.stockfish import EngineError, EngineNotFoundError, find_stockfish
from chessformer.lab.experiment import Experiment, ExperimentError, load_experiment
from chessformer.lab.experts import Expert, parse_expert
from chessformer.lab.games import GameTask, task_seed
from chessformer.lab.generate import GenerateConfig, add_play_options, generate, run_tasks
from chessformer.lab.progress import GameProgress
from chessformer.lab.ray_backend import RayUnavailableError
from chessformer.lab.store import GameStore, StoreError, pgn_text

__all__ = ["Lab", "main", "model_name"]

STAGES = ("calibrate", "generate", "prep", "train", "match", "report")


class StageError(RuntimeError):
    """A stage failed or cannot run; the message says which and why."""


def model_name(temperature: float) -> str:
    """The model's player name at a temperature (an expert spec, relative to the run folder)."""
    return f"chessformer:model=run,temperature={temperature:g}"


@dataclasses.dataclass
class PlayOptions:
    stockfish: str | None = None
    engines: int = 2
    concurrency: int = 32
    ray: str | None = None
    progress: bool = True


class Lab:
    """One experiment in one folder; :meth:`run` does the stages not done yet."""

    def __init__(self, exp: Experiment, out: Path, play: PlayOptions) -> None:
        self.exp, self.out, self.play = exp, Path(out), play
        (self.out / "stages").mkdir(parents=True, exist_ok=True)

    # ---- bookkeeping ----------------------------------------------------------------------------
    def stage_config(self, stage: str) -> dict[str, Any]:
        e = self.exp
        calibrate = {"experts": e.experts, "ladder": e.ladder, "games": e.rate_games}
        configs: dict[str, dict[str, Any]] = {
            "calibrate": {**calibrate, "seed": e.seed, "max_plies": e.match_max_plies},
            "generate": {
                "experts": e.experts,
                "games": e.games,
                "seed": e.seed,
                "opening_plies": e.opening_plies,
                "max_plies": e.max_plies,
            },
            "prep": {"tokenizer": e.tokenizer, "args": e.prep_args},
            "train": {"config": e.train_config, "max_steps": e.max_steps, "set": e.train_sets},
            "match": {
                "temperatures": e.temperatures,
                "opponents": self.opponents(),
                "games": e.match_games,
                "opening_plies": e.match_opening_plies,
                "max_plies": e.match_max_plies,
            },
            "report": {"anchors": e.anchors},
        }
        return json.loads(json.dumps(configs[stage]))  # tuples as lists, as read back

    def _marker(self, stage: str) -> Path:
        return self.out / "stages" / f"{stage}.json"

    def done(self, stage: str) -> bool:
        marker = self._marker(stage)
        if not marker.exists():
            return False
        try:
            recorded = json.loads(marker.read_text())["config"]
        except (OSError, ValueError, KeyError) as e:
            raise StageError(f"{marker}: unreadable stage record ({e})") from None
        wanted = self.stage_config(stage)
        if recorded != wanted:
            keys = sorted(
                k for k in set(recorded) | set(wanted) if recorded.get(k) != wanted.get(k)
            )
            raise StageError(
                f"{self.out}: stage {stage!r} was done with other settings ({', '.join(keys)} "
                f"differ); use another --out for the changed experiment"
            )
        return True

    def _finish(self, stage: str, seconds: float, **extra: Any) -> None:
        record = {"config": self.stage_config(stage), "seconds": round(seconds, 1), **extra}
        write_json(self._marker(stage), record)

    def log(self, msg: str) -> None:
        print(f"[lab {self.exp.name}] {msg}", file=sys.stderr, flush=True)

    def opponents(self) -> list[str]:
        out: list[str] = []
        for o in self.exp.opponents:
            out += list(
                self.exp.experts if o == "experts" else self.exp.ladder if o == "ladder" else [o]
            )
        return list(dict.fromkeys(out))

    # ---- the stages -----------------------------------------------------------------------------
    def run(self, until: str = "report") -> None:
        self.out.joinpath("experiment.toml").write_text(self.exp.text)
        steps: dict[str, Callable[[], dict[str, Any]]] = {
            "calibrate": self.calibrate,
            "generate": self.generate,
            "prep": self.prep,
            "train": self.train,
            "match": self.match,
            "report": self.report,
        }
        for stage in STAGES:
            if self.done(stage):
                self.log(f"{stage}: done before, skipped")
            else:
                self.log(f"{stage}: running")
                t0 = time.monotonic()
                extra = steps[stage]()
                self._finish(stage, time.monotonic() - t0, **extra)
                self.log(f"{stage}: finished in {time.monotonic() - t0:.0f} s")
            if stage == until:
                return

    def _play(
        self, stage: str, tasks: list[GameTask], experts: dict[str, Expert], event: str
    ) -> int:
        # the game file remembers its stage's settings: a changed experiment cannot resume into it
        name = f"{'matches' if stage == 'match' else stage}.pgn.zst"
        store = GameStore(self.out / name, {"stage": stage, **self.stage_config(stage)})
        todo = tasks[store.done :]
        bar = GameProgress(len(tasks), store.done, desc=stage, enabled=self.play.progress)
        stockfish = self.play.stockfish
        if any(e.uses_stockfish for e in experts.values()) and not self.play.ray:
            stockfish = find_stockfish(stockfish)
        try:
            for r in run_tasks(
                todo,
                experts,
                stockfish,
                self.play.engines,
                self.play.concurrency,
                self.play.ray,
                bar.plies,
            ):
                store.add(r.task.index, pgn_text(r, None, event))
                bar.game(r.result)
        finally:
            store.close()
            bar.close()
        return store.done

    def calibrate(self) -> dict[str, Any]:
        e = self.exp
        pairs = [(x, lad) for x in e.experts for lad in e.ladder if x != lad]
        pairs += list(zip(e.ladder, e.ladder[1:], strict=False))
        tasks: list[GameTask] = []
        for a, b in pairs:
            for i in range(e.rate_games):
                white, black = (a, b) if i % 2 == 0 else (b, a)
                k = len(tasks)
                tasks.append(
                    GameTask(
                        k,
                        white,
                        black,
                        task_seed(e.seed + 7919, k),
                        e.match_opening_plies,
                        e.match_max_plies,
                    )
                )
        experts = {s: parse_expert(s) for s in (*e.experts, *e.ladder)}
        n = self._play("calibrate", tasks, experts, "chessformer lab calibration")
        from chessformer.lab.rating import fit_file_ratings

        # for the Elo tags: with the weak prior, so that an expert that lost every calibration
        # game still gets a number (the report's fit uses every game and no prior if it can)
        ratings = fit_file_ratings([self.out / "calibrate.pgn.zst"], e.anchors, prior=True)
        write_json(
            self.out / "expert-ratings.json",
            {k: v.rating for k, v in ratings.items() if v.finite} | dict(e.anchors),
        )
        return {"games": n}

    def generate(self) -> dict[str, Any]:
        e = self.exp
        ratings = json.loads((self.out / "expert-ratings.json").read_text())
        cfg = GenerateConfig(e.experts, e.games, e.seed, e.opening_plies, e.max_plies)
        t0 = time.monotonic()
        n = generate(
            cfg,
            self.out / "games.pgn.zst",
            stockfish=self.play.stockfish,
            engines=self.play.engines,
            concurrency=self.play.concurrency,
            ratings=ratings,
            ray_address=self.play.ray,
            progress=self.play.progress,
        )
        return {"games": n, "seconds_this_run": round(time.monotonic() - t0, 1)}

    def prep(self) -> dict[str, Any]:
        from chessformer.data import prep_cli

        data = self.out / "data"
        argv = [str(self.out / "games.pgn.zst"), "--out", str(data)]
        argv += ["--tokenizer", self.exp.tokenizer, *self.exp.prep_args]
        if data.exists():
            argv.append("--resume")
        if not self.play.progress:
            argv.append("--quiet")
        if prep_cli.main(argv) != 0:
            raise StageError(f"prep failed (chessformer prep {' '.join(argv)})")
        return {}

    def train(self) -> dict[str, Any]:
        from chessformer.model import train
        from chessformer.model.checkpoint import has_checkpoint

        run = self.out / "run"
        argv = ["--data", str(self.out / "data"), "--config", self.exp.train_config]
        argv += [
            "--out",
            str(run),
            "--set",
            f"max_steps={self.exp.max_steps}",
            *self.exp.train_sets,
        ]
        if has_checkpoint(run):
            argv.append("--resume")
        if train.main(argv) != 0:
            raise StageError(f"train failed (chessformer train {' '.join(argv)})")
        return {}

    def match(self) -> dict[str, Any]:
        e = self.exp
        experts = {s: parse_expert(s) for s in self.opponents()}
        run = str((self.out / "run").resolve())
        tasks: list[GameTask] = []
        for t in e.temperatures:
            name = model_name(t)
            experts[name] = dataclasses.replace(parse_expert(name), model=run)
            for opp in self.opponents():
                for i in range(e.match_games):
                    white, black = (name, opp) if i % 2 == 0 else (opp, name)
                    k = len(tasks)
                    # both colours of a pair share the opening (seed of the pair's first game)
                    seed = task_seed(e.seed + 104729, k - (i % 2))
                    tasks.append(
                        GameTask(k, white, black, seed, e.match_opening_plies, e.match_max_plies)
                    )
        n = self._play("match", tasks, experts, "chessformer lab match")
        return {"games": n}

    def report(self) -> dict[str, Any]:
        from chessformer.lab.rating import write_report

        verdict = write_report(self.out, self.exp, self.opponents())
        self.log(verdict)
        return {"verdict": verdict}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="chessformer lab run", description=__doc__.split("\n\n")[0])
    p.add_argument("experiment", help="an experiment .toml file or a preset name")
    p.add_argument("--out", type=Path, help="run folder (default: lab-runs/NAME)")
    p.add_argument("--until", choices=STAGES, default="report", help="stop after this stage")
    add_play_options(p)
    return p


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    try:
        exp = load_experiment(args.experiment)
        out = args.out or Path("lab-runs") / exp.name
        play = PlayOptions(args.stockfish, args.engines, args.concurrency, args.ray, not args.quiet)
        Lab(exp, out, play).run(args.until)
    except (
        ExperimentError,
        StageError,
        StoreError,
        EngineNotFoundError,
        EngineError,
        RayUnavailableError,
    ) as e:
        print(f"chessformer lab run: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nchessformer lab run: interrupted; rerun the command to continue", file=sys.stderr)
        return 130
    return 0
