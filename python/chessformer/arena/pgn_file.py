"""``games.pgn``: the match's games with full headers, a pure function of ``games.jsonl``.

:func:`pgn_game` renders one results line as PGN; :func:`sync_pgn` makes the file hold exactly
the games of the JSONL (a kill can land between the two appends), rebuilding it when it
disagrees.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any

from chessformer._io import write_atomic
from chessformer.arena.results import RESULTS_FILE

__all__ = ["PGN_FILE", "pgn_game", "sync_pgn"]

PGN_FILE = "games.pgn"


def _tag(value: object) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"')


def pgn_game(rec: dict[str, Any]) -> str:
    """One game as PGN text ending in a blank line, from a ``games.jsonl`` object."""
    from chessformer.board import Board

    model_white = rec["model_color"] == "white"
    sf = rec.get("stockfish") or "Stockfish"
    if rec["opponent"] == "stockfish-elo":
        opponent = f"{sf} Elo {rec['opponent_level']}"
    else:
        opponent = f"{sf} level {rec['opponent_level']}"
    model = f"{rec['model']} T={rec['temperature']:g}"
    tags: list[tuple[str, object]] = [
        ("Event", "chessformer match"),
        ("Site", rec.get("site") or "?"),
        ("Date", rec.get("date") or "????.??.??"),
        ("Round", rec.get("round", 0) + 1),
        ("White", model if model_white else opponent),
        ("Black", opponent if model_white else model),
        ("Result", rec["result"]),
        ("Termination", rec["termination"]),
        ("PlyCount", rec["plies"]),
        ("Model", rec["model"]),
        ("ModelPath", rec.get("model_path", "")),
        ("Temperature", repr(rec["temperature"])),
        ("Seed", rec["seed"]),
        ("GameIndex", rec["game_index"]),
        ("Decoding", rec.get("decoding", "")),
    ]
    if rec["opponent"] == "stockfish-elo":
        tags.append(("StockfishElo", rec["opponent_level"]))
    else:
        tags.append(("StockfishLevel", rec["opponent_level"]))
    for key, name in (
        ("movetime", "StockfishMovetime"),
        ("nodes", "StockfishNodes"),
        ("depth", "StockfishDepth"),
    ):
        if rec.get(key) is not None:
            tags.append((name, rec[key]))
    if rec.get("opponent_rating") is not None:
        tags.append(("OpponentRating", f"{rec['opponent_rating']:g}"))
    if rec.get("start_fen"):
        tags += [("SetUp", "1"), ("FEN", rec["start_fen"])]
    head = "".join(f'[{k} "{_tag(v)}"]\n' for k, v in tags)

    board = Board(rec["start_fen"]) if rec.get("start_fen") else Board()
    words = []
    for k, uci in enumerate(rec.get("moves", "").split()):
        san = board.san(uci)
        if board.turn:
            words.append(f"{board.fullmove_number}. {san}")
        else:
            words.append(f"{board.fullmove_number}... {san}" if k == 0 else san)
        board.push(uci)
    words.append(rec["result"])
    lines, cur = [], ""
    for w in words:
        if cur and len(cur) + 1 + len(w) > 79:
            lines.append(cur)
            cur = w
        else:
            cur = f"{cur} {w}" if cur else w
    lines.append(cur)
    return head + "\n" + "\n".join(lines) + "\n\n"


_GAME_START = re.compile(rb"^\[Event ", re.M)
_GAME_END = re.compile(rb"(?:1-0|0-1|1/2-1/2|\*)\n\n\Z")
_KEY_TAG = re.compile(rb'^\[(Temperature|GameIndex|StockfishLevel|StockfishElo) "([^"]*)"\]$', re.M)


def _pgn_key(rec: dict[str, Any]) -> tuple[str, str, str]:
    return (repr(rec["temperature"]), str(rec["game_index"]), str(rec["opponent_level"]))


def _complete_pgn_games(data: bytes) -> tuple[list[tuple[str, str, str]], int] | None:
    """Keys of the whole games a PGN file starts with and the byte length they span; None if
    the file does not look like this runner's output."""
    starts = [m.start() for m in _GAME_START.finditer(data)]
    if data and (not starts or starts[0] != 0):
        return None
    keys, end = [], 0
    for k, start in enumerate(starts):
        stop = starts[k + 1] if k + 1 < len(starts) else len(data)
        chunk = data[start:stop]
        if not _GAME_END.search(chunk):
            break  # a game cut short by a kill: everything from here on is rewritten
        tags = {name.decode(): value.decode() for name, value in _KEY_TAG.findall(chunk)}
        level = tags.get("StockfishLevel", tags.get("StockfishElo", ""))
        keys.append((tags.get("Temperature", ""), tags.get("GameIndex", ""), level))
        end = stop
    return keys, end


def sync_pgn(pgn: Path, raw: list[dict[str, Any]]) -> None:
    """Make the PGN hold exactly the games of ``raw`` (the JSONL lines), in order: append the
    games a kill kept out of it, cut a half-written game, or rebuild it if it disagrees."""
    data = pgn.read_bytes() if pgn.exists() else b""
    want = [_pgn_key(r) for r in raw]
    found = _complete_pgn_games(data)
    try:
        if found is not None and found[0] == want[: len(found[0])]:
            keys, end = found
            if end == len(data) and len(keys) == len(want):
                return
            missing = "".join(pgn_game(r) for r in raw[len(keys) :]).encode("utf-8")
            with open(pgn, "r+b" if pgn.exists() else "wb") as f:
                f.truncate(end)
                f.seek(end)
                f.write(missing)
                f.flush()
                os.fsync(f.fileno())
        else:
            print(f"{pgn}: does not match {RESULTS_FILE}; rebuilding it", file=sys.stderr)
            write_atomic(pgn, "".join(pgn_game(r) for r in raw))
    except (KeyError, ValueError, TypeError) as e:  # lines not written by this runner
        print(f"warning: cannot rebuild {pgn} from {RESULTS_FILE}: {e!r}", file=sys.stderr)
