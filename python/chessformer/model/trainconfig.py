"""The training configuration: `TrainConfig` (every hyper-parameter, settable with ``--set``), the
defaults each model config starts from, and their fitting to the length of the run.

The `TrainConfig` field defaults are the paper's recipe (``paper-50m``). Smaller configs start from
`RECIPES`, which suit them (a higher learning rate, one micro-batch a step, a run of minutes on a
CPU for ``tiny``). Then `fit_schedule` scales the step intervals the user did not set to
``max_steps``: a 300-step run gets a 15-step warm-up, a validation pass every 30 steps and a
checkpoint every 60, not the paper's 2,000-step warm-up and a first checkpoint at step 1,000.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass, fields
from typing import Any

from chessformer.model.gpt import GPTConfig


@dataclass
class TrainConfig:
    seed: int = 1337  # model init, data order, dropout: all derive from it
    batch_size: int = 32  # rows per micro-batch per rank
    grad_accum: int = 4  # micro-batches per step: 32 x 4 x 1024 ~ 131k chars/step (paper ~125k)
    max_steps: int = 100_000  # the paper's analysed checkpoint is step 100k
    lr: float = 3e-4  # peak learning rate
    min_lr: float = 3e-5  # cosine floor: lr / 10
    warmup_steps: int = 2000  # linear warmup from 0
    lr_decay_steps: int = 0  # cosine reaches min_lr here; 0 = max_steps
    weight_decay: float = 0.1  # on 2-D weights only
    beta1: float = 0.9
    beta2: float = 0.95  # shorter second-moment memory: steadier with large batches
    grad_clip: float = 1.0  # max global grad norm; 0 = off
    eval_interval: int = 1000  # steps between validation passes; 0 = only at the end
    eval_batches: int = 20  # micro-batches per validation pass (fixed rows, same every pass)
    log_interval: int = 10  # steps between train metrics lines
    ckpt_interval: int = 1000  # steps between checkpoints; 0 = only at the end
    keep_last: int = 3  # checkpoints kept on disk; 0 = all
    compile: bool = True  # torch.compile (CUDA only; CPU runs eager)
    dtype: str = "auto"  # auto (bf16 on CUDA, fp32 on CPU) | bf16 | fp32
    threads: int = 0  # CPU intra-op threads; 0 = torch's default
    pack: str = "auto"  # rows: auto (char packs games, others one game per row) | games | one
    prefetch: int = -1  # steps of batches built ahead in a background thread; -1: 2 on CUDA, 0 CPU

    def __post_init__(self) -> None:
        positive = ("batch_size", "grad_accum", "max_steps", "log_interval", "eval_batches")
        for name in positive:
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)!r}")
        if self.dtype not in ("auto", "bf16", "fp32"):
            raise ConfigError(f"dtype must be auto, bf16 or fp32, got {self.dtype!r}")
        if self.pack not in ("auto", "games", "one"):
            raise ConfigError(f"pack must be auto, games or one, got {self.pack!r}")
        if self.prefetch < -1:
            raise ConfigError(f"prefetch must be >= -1, got {self.prefetch!r}")


class ConfigError(ValueError):
    """A bad --set key or value, or a config that contradicts a checkpoint."""


def _parse_value(name: str, type_name: str, text: str) -> Any:
    try:
        if type_name == "bool":
            low = text.lower()
            if low not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                raise ValueError(text)
            return low in ("1", "true", "yes", "on")
        if type_name == "int":
            return int(text.replace("_", ""))
        if type_name == "float":
            return float(text)
        return text
    except ValueError:
        raise ConfigError(f"--set {name}={text!r}: expected a {type_name}") from None


def apply_sets(
    train: TrainConfig, model: GPTConfig, sets: Sequence[str]
) -> tuple[TrainConfig, GPTConfig]:
    """Apply ``key=value`` overrides (``model.key`` for model fields), type-checked."""
    t_changes: dict[str, Any] = {}
    m_changes: dict[str, Any] = {}
    t_types = {f.name: str(f.type) for f in fields(TrainConfig)}
    m_types = {f.name: str(f.type) for f in fields(GPTConfig)}
    for item in sets:
        key, eq, text = item.partition("=")
        if not eq:
            raise ConfigError(f"--set {item!r}: expected key=value")
        if key.startswith("model."):
            name = key.removeprefix("model.")
            if name not in m_types:
                raise ConfigError(
                    f"--set {key!r}: unknown model key; known: "
                    + ", ".join(f"model.{k}" for k in m_types)
                )
            m_changes[name] = _parse_value(key, m_types[name], text)
        else:
            if key not in t_types:
                raise ConfigError(
                    f"--set {key!r}: unknown key; known: {', '.join(t_types)} "
                    "(model fields take a 'model.' prefix)"
                )
            t_changes[key] = _parse_value(key, t_types[key], text)
    try:
        return dataclasses.replace(train, **t_changes), model.with_(**m_changes)
    except ValueError as e:
        raise ConfigError(str(e)) from e


def lr_at(cfg: TrainConfig, step: int) -> float:
    """Linear warmup to lr, cosine decay to min_lr at lr_decay_steps, then flat."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    decay = cfg.lr_decay_steps or cfg.max_steps
    if step >= decay:
        return cfg.min_lr
    frac = (step - cfg.warmup_steps) / max(1, decay - cfg.warmup_steps)
    return cfg.min_lr + 0.5 * (1.0 + math.cos(math.pi * frac)) * (cfg.lr - cfg.min_lr)


# Per model config, the TrainConfig fields that differ from the paper's recipe (the field
# defaults). ``small`` follows nanoGPT's recipe for the same size (6 layers, d 384: lr 1e-3 ->
# 1e-4, ~100 warm-up steps, one large micro-batch a step); ``tiny`` is the CPU quick-start
# (docs/training.md): 0.1M parameters, 8k tokens a step, a few minutes on a laptop.
RECIPES: dict[str, dict[str, Any]] = {
    "paper-50m": {},
    "small": {
        "batch_size": 32,
        "grad_accum": 1,
        "max_steps": 5000,
        "lr": 1e-3,
        "min_lr": 1e-4,
        "warmup_steps": 200,
        "eval_interval": 250,
        "ckpt_interval": 500,
    },
    "tiny": {
        "batch_size": 32,
        "grad_accum": 1,
        "max_steps": 300,
        "lr": 3e-3,
        "min_lr": 3e-4,
        "warmup_steps": 30,
        "eval_interval": 30,
        "ckpt_interval": 100,
    },
}

# The step intervals fitted to max_steps (each at most its recipe value), as a fraction of it.
SCHEDULE_FRACTIONS = {
    "warmup_steps": 1 / 20,  # the paper: 2,000 of 100,000 steps; never past 5% of a short run
    "eval_interval": 1 / 10,  # at least ten points on the validation curve
    "ckpt_interval": 1 / 5,  # at least five checkpoints
    "log_interval": 1 / 50,  # at least fifty points on the training curve
}


def recipe(config: str) -> TrainConfig:
    """The TrainConfig a model config starts from (the paper's recipe for unknown names)."""
    return TrainConfig(**RECIPES.get(config, {}))


def set_keys(sets: Sequence[str]) -> set[str]:
    """The TrainConfig fields a list of ``--set key=value`` items names."""
    return {item.partition("=")[0] for item in sets if not item.startswith("model.")}


def fit_schedule(cfg: TrainConfig, explicit: Collection[str]) -> tuple[TrainConfig, list[str]]:
    """Scale the step intervals not in ``explicit`` down to the run's ``max_steps``.

    Returns the fitted config and a note per change. An interval of 0 ("only at the end") is
    kept as it is.
    """
    changes: dict[str, Any] = {}
    for name, frac in SCHEDULE_FRACTIONS.items():
        value = getattr(cfg, name)
        if name in explicit or value == 0:
            continue
        fitted = min(value, max(1, math.floor(cfg.max_steps * frac)))
        if fitted != value:
            changes[name] = fitted
    notes = [f"{k}={v}" for k, v in changes.items()]
    return dataclasses.replace(cfg, **changes), notes


def schedule_warnings(cfg: TrainConfig) -> list[str]:
    """Settings that make a run learn little or save nothing, said before it starts."""
    out = []
    if cfg.warmup_steps >= cfg.max_steps:
        out.append(
            f"max_steps={cfg.max_steps} ends inside the {cfg.warmup_steps}-step warm-up: the "
            f"learning rate never reaches lr={cfg.lr:g} (it ends at "
            f"{lr_at(cfg, cfg.max_steps - 1):.2g}); lower warmup_steps"
        )
    elif cfg.warmup_steps > cfg.max_steps // 2:
        out.append(f"warm-up ({cfg.warmup_steps} steps) is over half of max_steps={cfg.max_steps}")
    return out
