"""The model `chessformer uci` plays with: loaded on first use, again when ModelPath or Device
change, with why the last load failed; and the temperature it samples at, the Temperature option
or, under UCI_LimitStrength, the one its Elo calibration gives for UCI_Elo."""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from chessformer.engine.textio import shown

__all__ = ["LazyModel", "load_calibration", "temperature_for_elo"]


class LazyModel:
    """``engine`` is a chessformer.inference.InferenceEngine once `ensure` has loaded one, else
    None (setting it to None makes the next `ensure` load again)."""

    def __init__(self) -> None:
        self.engine: Any = None
        self.error: str | None = None  # why the last load failed
        self._loaded_key: tuple[str, str] | None = None
        self._calibration: list[tuple[float, float]] | None = None

    def ensure(self, values: dict[str, Any], log: Callable[[str], None]) -> bool:
        """Load the model the options in ``values`` name unless it is loaded already; on failure
        keep why in ``error`` (and ``log`` it) and return False."""
        path = str(values["modelpath"])
        key = (path, str(values["device"]))
        if self.engine is not None and self._loaded_key == key:
            return True
        try:
            import torch

            from chessformer.engine.bundled import resolve_model
            from chessformer.inference import InferenceEngine

            device = values["device"]
            if device == "auto":
                device = "cuda" if torch.cuda.is_available() else "cpu"
            torch.set_num_threads(int(values["threads"]))
            resolved = resolve_model(path or None)
            start = time.perf_counter()
            self.engine = InferenceEngine.from_checkpoint(
                resolved, max_batch=2, device=device, seed=int(values["seed"])
            )
            self._loaded_key = key
            self.error = None
            self._calibration = load_calibration(resolved)
            log(f"loaded {resolved} on {device} in {time.perf_counter() - start:.2f} s")
            return True
        except Exception as exc:
            self.engine = None
            self._loaded_key = None
            named = shown(path) if path else "(the bundled default)"
            reason = str(exc) or type(exc).__name__
            self.error = f"cannot load model {named}: {reason}"
            log(self.error)
            return False

    def temperature(self, values: dict[str, Any], warn: Callable[[str], None]) -> float:
        """The sampling temperature: under UCI_LimitStrength the one this model's calibration
        gives for UCI_Elo; else (or, said through ``warn``, without a calibration) Temperature."""
        if values["uci_limitstrength"]:
            if self._calibration:
                return temperature_for_elo(self._calibration, float(values["uci_elo"]))
            warn("UCI_LimitStrength: no Elo calibration for this model; using Temperature")
        return float(values["temperature"])


def load_calibration(model_path: Path) -> list[tuple[float, float]] | None:
    """(elo, temperature) pairs measured with `chessformer match` for this model, if shipped
    beside it as elo_calibration.json (see docs/uci.md). Made monotone: as the temperature
    rises the Elo used never rises (a running minimum), so lower targets mean hotter sampling."""
    import json  # here: `uci` -> `uciok` imports nothing it does not need

    path = model_path / "elo_calibration.json"
    if not path.is_file():
        return None
    rows = sorted(json.loads(path.read_text())["points"], key=lambda r: float(r["temperature"]))
    out: list[tuple[float, float]] = []
    best = math.inf
    for r in rows:
        best = min(best, float(r["elo"]))
        if not out or best < out[-1][0]:
            out.append((best, float(r["temperature"])))
    return sorted(out)


def temperature_for_elo(points: list[tuple[float, float]], elo: float) -> float:
    """Interpolate the temperature that played at ``elo`` (piecewise linear in Elo)."""
    if elo <= points[0][0]:
        return points[0][1]
    if elo >= points[-1][0]:
        return points[-1][1]
    for (e0, t0), (e1, t1) in itertools.pairwise(points):
        if e0 <= elo <= e1:
            return t0 + (t1 - t0) * (elo - e0) / (e1 - e0 or 1)
    return points[-1][1]
