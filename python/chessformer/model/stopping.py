"""Stopping a training run cleanly: Ctrl-C or SIGTERM finish the step, save, and stop."""

from __future__ import annotations

import signal
import threading
from typing import Any

import torch
import torch.distributed as dist

from chessformer._progress import Progress


class StopRequest:
    """Ctrl-C (SIGINT) or SIGTERM during training: finish the step, save, stop.

    A second Ctrl-C stops at once (KeyboardInterrupt). Installed only in the main thread.
    """

    def __init__(self, progress: Progress | None) -> None:
        self.flag = threading.Event()
        self.progress = progress
        self.previous: dict[int, Any] = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self.previous[sig] = signal.signal(sig, self._handle)

    def _handle(self, signum: int, frame: Any) -> None:
        if self.flag.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.flag.set()
        if self.progress is not None:
            self.progress.message(
                f"{signal.Signals(signum).name}: stopping after this step and saving a "
                "checkpoint (Ctrl-C again to quit at once)"
            )

    def requested(self, world: int, device: torch.device, at_sync: bool) -> bool:
        if world == 1:
            return self.flag.is_set()
        if not at_sync:
            return False
        flag = torch.tensor([float(self.flag.is_set())], device=device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return bool(flag.item())

    def restore(self) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
        self.previous = {}
