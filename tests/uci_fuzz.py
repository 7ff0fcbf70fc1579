"""A fuzzer of the UCI engine's input handling, in process, against a tiny real model.

Sessions of random commands -- valid ones (real games from python-chess, every option, every
``go`` parameter, infinite/ponder searches stopped or not), the same mutated (tokens dropped,
repeated, swapped, cut, bytes spliced in), and lines of random bytes decoded as `uci` decodes stdin
-- go through ``UciEngine.handle``. After each session the oracle checks: no command raised, only
``quit`` ended the session, every output line is a protocol line of at most a few hundred
characters, each ``isready`` got one ``readyok``, each ``go`` exactly one ``bestmove``, and every
bestmove is legal in the position the engine searched (python-chess decides) or the null move.

    python tests/uci_fuzz.py --seconds 60 [--seed N]     # CI runs this; exit 1 on a failure

A failure prints the seed and the session to replay it.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import threading
import time
from pathlib import Path

import chess

from chessformer.engine.uci import MAX_INFO_CHARS, UciEngine

PREFIXES = ("id name ", "id author ", "option name ", "uciok", "readyok", "info ", "bestmove ")
OPTIONS = {
    "MultiPV": lambda r: str(r.choice([1, 2, 3, 5, 20, 0, 21, -1])),
    "Temperature": lambda r: r.choice(["0", "0.001", "1", "1e9", "nan", "-1", "x", "inf"]),
    "Seed": lambda r: str(r.choice([0, 7, 2**31, -3])),
    "UCI_Chess960": lambda r: r.choice(["true", "false", "maybe"]),
    "Ponder": lambda r: r.choice(["true", "false"]),
    "Decoding": lambda r: r.choice(["masked", "paper", "other"]),
    "UCI_LimitStrength": lambda r: r.choice(["true", "false"]),
    "UCI_Elo": lambda r: str(r.choice([100, 1500, 3000, 5000])),
    "Threads": lambda r: str(r.choice([1, 2, 0])),
    "Device": lambda r: r.choice(["auto", "cpu", "tpu"]),
    "ModelPath": lambda r: r.choice(["", "/nonexistent/model", "<empty>", "\udcff"]),
    "Nonsense": lambda r: "1",
}


class Lines:
    """The engine's stdout: collected lines (the engine writes from its search thread too)."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._part = ""
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        with self._lock:
            parts = (self._part + text).split("\n")
            self.lines.extend(parts[:-1])
            self._part = parts[-1]
        return len(text)

    def flush(self) -> None:
        pass


def random_game(r: random.Random, chess960: bool) -> tuple[chess.Board, list[str]]:
    board = chess.Board.from_chess960_pos(r.randrange(960)) if chess960 else chess.Board()
    board.chess960 = chess960
    moves: list[str] = []
    for _ in range(r.choice([0, 1, 2, 5, 20, 60])):
        legal = list(board.legal_moves)
        if not legal:
            break
        move = r.choice(legal)
        moves.append(board.uci(move, chess960=chess960))
        board.push(move)
    return board, moves


def valid_command(r: random.Random, chess960: bool) -> str:
    kind = r.choices(
        [
            "position",
            "go",
            "setoption",
            "isready",
            "ucinewgame",
            "uci",
            "stop",
            "ponderhit",
            "debug",
        ],
        weights=[30, 30, 12, 10, 4, 2, 5, 3, 2],
    )[0]
    if kind == "position":
        board, moves = random_game(r, chess960)
        start = board.root()
        head = "startpos" if start.fen() == chess.STARTING_FEN else f"fen {start.fen()}"
        if r.random() < 0.3:
            head, moves = f"fen {board.fen()}", []
        return f"position {head}" + (f" moves {' '.join(moves)}" if moves else "")
    if kind == "go":
        params: list[str] = []
        for name in ("wtime", "btime", "winc", "binc", "movestogo", "depth", "nodes", "movetime"):
            if r.random() < 0.15:
                params += [name, str(r.choice([0, 1, 100, 10**12, -5]))]
        if r.random() < 0.1:
            params.append(r.choice(["infinite", "ponder"]))
        if r.random() < 0.1:
            params += ["searchmoves", *r.sample(["e2e4", "d2d4", "g1f3", "a7a5", "e1g1"], 2)]
        return " ".join(["go", *params])
    if kind == "setoption":
        name = r.choice(list(OPTIONS))
        return f"setoption name {name} value {OPTIONS[name](r)}"
    if kind == "debug":
        return f"debug {r.choice(['on', 'off'])}"
    return kind


def mutate(r: random.Random, line: str) -> str:
    tokens = line.split()
    op = r.randrange(6)
    if op == 0 and tokens:
        del tokens[r.randrange(len(tokens))]
    elif op == 1 and tokens:
        i = r.randrange(len(tokens))
        tokens.insert(i, tokens[i])
    elif op == 2 and len(tokens) > 1:
        i, j = r.sample(range(len(tokens)), 2)
        tokens[i], tokens[j] = tokens[j], tokens[i]
    elif op == 3:
        return line[: r.randrange(len(line) + 1)]
    elif op == 4:
        i = r.randrange(len(line) + 1)
        junk = bytes(r.randrange(256) for _ in range(r.randrange(1, 8)))
        return line[:i] + junk.decode("utf-8", "surrogateescape") + line[i:]
    else:
        tokens.append(r.choice(["moves", "fen", "value", "name", "startpos", "0", "-1", ""]))
    return " ".join(tokens)


def random_bytes_line(r: random.Random) -> str:
    n = r.choice([1, 3, 10, 100, 5000])
    data = bytes(r.randrange(256) for _ in range(n)).replace(b"\n", b" ")
    return data.decode("utf-8", "surrogateescape")


def session(r: random.Random, model: str, length: int) -> list[str]:
    chess960 = False
    commands = []
    for _ in range(length):
        u = r.random()
        if u < 0.6:
            line = valid_command(r, chess960)
            if line.startswith("setoption name UCI_Chess960 value"):
                chess960 = line.endswith("true")
        elif u < 0.9:
            line = mutate(r, valid_command(r, chess960))
        else:
            line = random_bytes_line(r)
        commands.append(line)
    return commands


def check_session(model: str, commands: list[str]) -> None:
    """Run one session through a fresh engine; AssertionError says what broke."""
    out = Lines()
    engine = UciEngine(model=model, out=out)  # type: ignore[arg-type]
    engine.log = lambda text: None  # type: ignore[method-assign]  # loads and failures: noise here
    searched: list[str] = []  # the FEN of each go, in order
    readies = 0
    for line in commands:
        cmd = line.split()[0] if line.split() else ""
        if cmd == "go":
            searched.append(engine.board.fen() if engine.board is not None else chess.STARTING_FEN)
        readies += cmd == "isready"
        assert engine.handle(line) or cmd == "quit", f"handle({line[:80]!r}) ended the session"
        if cmd == "quit":
            break
    else:
        assert engine.handle("quit") is False
    lines = out.lines
    for ln in lines:
        assert ln.startswith(PREFIXES), f"not a protocol line: {ln[:200]!r}"
        assert len(ln) <= len("info string ") + MAX_INFO_CHARS + 200, f"long line {ln[:100]!r}"
    assert lines.count("readyok") == readies, f"{readies} isready, {lines.count('readyok')} readyok"
    best = [ln.split()[1] for ln in lines if ln.startswith("bestmove ")]
    assert len(best) == len(searched), f"{len(searched)} go, {len(best)} bestmove"
    for fen, move in zip(searched, best, strict=True):
        if move in ("0000", "(none)"):
            continue
        board = chess.Board(fen, chess960=True)
        legal = {board.uci(m, chess960=c) for m in board.legal_moves for c in (False, True)}
        assert move in legal, f"bestmove {move} is not legal in {fen}"


def fuzz(seconds: float, seed: int, model: str, length: int = 40) -> int:
    """Sessions until ``seconds`` have passed; the number run. Raises on the first failure,
    naming the seed that replays it."""
    deadline = time.monotonic() + seconds
    n = 0
    while n == 0 or time.monotonic() < deadline:
        r = random.Random(seed + n)
        commands = session(r, model, length)
        try:
            check_session(model, commands)
        except AssertionError as e:
            listing = "\n".join(repr(c[:200]) for c in commands)
            raise AssertionError(f"seed {seed + n}: {e}\nsession:\n{listing}") from None
        n += 1
    return n


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--seed", type=int, default=None, help="default: from the clock (printed)")
    args = ap.parse_args(argv)
    seed = args.seed if args.seed is not None else int(time.time()) * 1000
    from conftest import save_tiny_model

    with tempfile.TemporaryDirectory() as tmp:
        model = str(save_tiny_model(Path(tmp), "move", block_size=512))
        start = time.monotonic()
        try:
            n = fuzz(args.seconds, seed, model)
        except AssertionError as e:
            print(f"uci fuzz: FAILED: {e}", file=sys.stderr)
            return 1
    took = time.monotonic() - start
    print(f"uci fuzz: {n} sessions from seed {seed} in {took:.0f} s, no failure", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
