"""Games on a Ray cluster: chunks of game tasks run as Ray tasks, results stream back.

``chessformer lab generate|run --ray HOST:PORT`` sends the games in chunks; each Ray task starts
its own Stockfish processes (``--engines`` of them, and asks Ray for that many CPUs) and plays its
chunk with the same game driver as a local run (chessformer.lab.games). Finished chunks come
back as they end and go through the same in-order, resumable writer, so a killed driver loses
only the chunks in flight, and a rerun plays those again.

Every node needs chessformer (``pip install 'chessformer[ray]'``) and Stockfish; a chessformer
expert's model path must be readable on every node (a shared filesystem).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from chessformer.lab.experts import Expert
from chessformer.lab.games import GameResult, GameTask

__all__ = ["RayUnavailableError", "ray_tasks"]

CHUNK_GAMES = 64  # games per Ray task: long enough to amortise engine start-up (~50 ms)


class RayUnavailableError(RuntimeError):
    """--ray was given but Ray is not installed or the cluster cannot be reached."""


def _play_chunk(
    tasks: list[GameTask],
    experts: dict[str, Expert],
    stockfish: str | None,
    engines: int,
    concurrency: int,
) -> list[GameResult]:
    from chessformer.arena.stockfish import find_stockfish
    from chessformer.lab.games import play_games

    needs = any(e.uses_stockfish for e in experts.values())
    path = find_stockfish(stockfish) if needs else None
    return list(
        play_games(tasks, experts, stockfish=path, engines=engines, concurrency=concurrency)
    )


def ray_tasks(
    address: str,
    tasks: Sequence[GameTask],
    experts: dict[str, Expert],
    stockfish: str | None,
    engines: int,
    concurrency: int,
    on_ply: Callable[[int], None] | None = None,
) -> Iterator[GameResult]:
    """Play ``tasks`` on the Ray cluster at ``address``; yield games chunk by chunk."""
    try:
        import ray
    except ImportError:
        raise RayUnavailableError(
            "--ray needs Ray: pip install 'chessformer[ray]' (on every node of the cluster)"
        ) from None
    if not ray.is_initialized():
        try:
            ray.init(address=address, log_to_driver=False, logging_level=logging.ERROR)
        except (ConnectionError, RuntimeError, ValueError) as e:
            raise RayUnavailableError(f"cannot join the Ray cluster at {address!r}: {e}") from None
    remote = ray.remote(num_cpus=engines)(_play_chunk)
    used = {t.white for t in tasks} | {t.black for t in tasks}
    mine = {k: v for k, v in experts.items() if k in used}
    experts_ref = ray.put(mine)
    cpus = int(ray.cluster_resources().get("CPU", 1))
    in_flight_max = max(1, 2 * cpus // engines)  # one queued behind each running chunk
    chunks = [list(tasks[i : i + CHUNK_GAMES]) for i in range(0, len(tasks), CHUNK_GAMES)]
    pending: list[Any] = []
    nxt = 0
    try:
        while nxt < len(chunks) or pending:
            while nxt < len(chunks) and len(pending) < in_flight_max:
                pending.append(
                    remote.remote(chunks[nxt], experts_ref, stockfish, engines, concurrency)
                )
                nxt += 1
            ready, pending = ray.wait(pending, num_returns=1)
            for result in ray.get(ready[0]):
                if on_ply is not None:
                    on_ply(len(result.moves) - result.task.opening_plies)
                yield result
    finally:
        for ref in pending:
            ray.cancel(ref, force=True)
