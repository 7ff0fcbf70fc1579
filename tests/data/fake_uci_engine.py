"""A tiny deterministic UCI engine for the match runner's fault tests (needs python-chess).

It plays a legal move chosen by a hash of the position, and misbehaves on request:

- ``FAKE_UCI_FAULT=crash`` / ``hang``: on the ``FAKE_UCI_AT``-th ``go`` of this process, exit at
  once / never answer -- only once per ``FAKE_UCI_MARKER`` file (created when it happens);
- ``FAKE_UCI_CRASH_LEVEL=k``: exit on every ``go`` while ``Skill Level`` is k;
- ``FAKE_UCI_SCORE=cp``: report this score (from the engine's side) with every move.
"""

from __future__ import annotations

import os
import sys
import time
import zlib

import chess


def _first(marker: str) -> bool:
    """True for exactly one process: the one that creates the marker file."""
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return False
    return True


def main() -> None:
    fault = os.environ.get("FAKE_UCI_FAULT", "")
    at = int(os.environ.get("FAKE_UCI_AT", "3"))
    marker = os.environ.get("FAKE_UCI_MARKER", "")
    crash_level = os.environ.get("FAKE_UCI_CRASH_LEVEL", "")
    score = int(os.environ.get("FAKE_UCI_SCORE", "0"))
    board = chess.Board()
    options: dict[str, str] = {}
    goes = 0

    def out(line: str) -> None:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    for raw in sys.stdin:
        words = raw.split()
        if not words:
            continue
        cmd = words[0]
        if cmd == "uci":
            out("id name FakeFish 1")
            for opt in ("Threads", "Hash", "Skill Level", "UCI_Elo"):
                out(f"option name {opt} type spin default 1 min 0 max 10000")
            out("option name UCI_LimitStrength type check default false")
            out("uciok")
        elif cmd == "isready":
            out("readyok")
        elif cmd == "setoption":
            text = " ".join(words[1:])
            name, _, value = text.removeprefix("name ").partition(" value ")
            options[name] = value
        elif cmd == "position":
            if words[1] == "startpos":
                board = chess.Board()
                rest = words[2:]
            else:
                board = chess.Board(" ".join(words[2:8]))
                rest = words[8:]
            if rest[:1] == ["moves"]:
                for uci in rest[1:]:
                    board.push_uci(uci)
        elif cmd == "go":
            goes += 1
            if crash_level and options.get("Skill Level") == crash_level:
                os._exit(3)
            if fault and goes == at and marker and _first(marker):
                if fault == "crash":
                    os._exit(3)
                time.sleep(3600)
            legal = sorted(m.uci() for m in board.legal_moves)
            move = legal[zlib.crc32(board.fen().encode()) % len(legal)]
            out(f"info depth 1 score cp {score} nodes 1")
            out(f"bestmove {move}")
        elif cmd == "quit":
            return


if __name__ == "__main__":
    main()
