"""`chessformer play`: play the model in the terminal.

    chessformer play [--model PATH] [--color white|black|random] [--temperature 0.001]

The board is drawn with Unicode pieces (``--ascii`` for letters). Type moves in SAN (``Nf3``,
``exd5``, ``O-O``, ``e8=Q``) or UCI (``g1f3``); commands: ``undo`` (take back your last move),
``resign``, ``moves`` (list legal moves), ``pgn``, ``fen``, ``flip``, ``help``, ``quit``.
"""

from __future__ import annotations

import argparse
import random
import sys
from typing import IO, Any

from chessformer.board import AmbiguousMoveError, Board, IllegalMoveError, Move
from chessformer.engine.textio import MAX_LINE, LongLine, input_lines, shown, utf8_stdout

UNICODE = dict(zip("KQRBNPkqrbnp", "♔♕♖♗♘♙♚♛♜♝♞♟", strict=True))

HELP = (
    "Enter a move in SAN (Nf3, exd5, O-O, e8=Q) or UCI (g1f3, e7e8q).\n"
    "Commands: undo, resign, moves, pgn, fen, flip, help, quit."
)


def render(
    board: Board, white_bottom: bool = True, ascii_only: bool = False, last: Move | None = None
) -> str:
    """The board as text, rank 8 at the top when ``white_bottom``; the last move's squares in []."""
    ranks = range(7, -1, -1) if white_bottom else range(8)
    files = range(8) if white_bottom else range(7, -1, -1)
    marked = {last.from_square, last.to_square} if last else set()
    lines = []
    for r in ranks:
        cells = []
        for f in files:
            sq = r * 8 + f
            piece = board.piece_at(sq)
            sym = "·" if piece is None else (piece if ascii_only else UNICODE[piece])
            if ascii_only and piece is None:
                sym = "."
            cells.append(f"[{sym}]" if sq in marked else f" {sym} ")
        lines.append(f"{r + 1} " + "".join(cells))
    lines.append("  " + "".join(f" {'abcdefgh'[f]} " for f in files))
    return "\n".join(lines)


def pgn_text(board: Board, white: str, black: str, result: str) -> str:
    start = Board(board._board.start_fen())
    moves = start.variation_san(board.move_stack)
    return f'[White "{white}"]\n[Black "{black}"]\n[Result "{result}"]\n\n{moves} {result}'.strip()


class Game:
    """The interactive loop, separated from stdin/stdout so tests can drive it."""

    def __init__(
        self,
        engine: Any,
        human_white: bool,
        temperature: float,
        out: IO[str],
        ascii_only: bool = False,
    ) -> None:
        self.engine = engine
        self.human_white = human_white
        self.temperature = temperature
        self.out = out
        self.ascii_only = ascii_only
        self.board = Board()
        self.white_bottom = human_white
        self.result: str | None = None

    def say(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def show(self) -> None:
        stack = self.board.move_stack
        self.say(
            render(self.board, self.white_bottom, self.ascii_only, stack[-1] if stack else None)
        )

    def human_to_move(self) -> bool:
        return self.board.turn == self.human_white

    def model_move(self) -> None:
        choice = self.engine.choose_moves([self.board], slots=[0], temperature=self.temperature)[0]
        if choice.move is None:
            self.finish("1-0" if self.human_white else "0-1", "the model has no move and resigns")
            return
        san = self.board.san(choice.move)
        self.board.push(choice.move)
        self.say(f"model plays {san}   (p = {choice.probability:.3f})")

    def finish(self, result: str, why: str) -> None:
        self.result = result
        self.say(f"Game over: {result} ({why})")
        self.say(pgn_text(self.board, *self.names(), result))

    def names(self) -> tuple[str, str]:
        return ("You", "chessformer") if self.human_white else ("chessformer", "You")

    def check_end(self) -> bool:
        outcome = self.board.outcome(claim_draw=True)
        if outcome is None:
            return False
        self.finish(outcome.result(), outcome.termination.name.lower().replace("_", " "))
        return True

    def command(self, text: str) -> bool:
        """Handle one line of input; False ends the session."""
        text = text.strip()
        if not text:
            return True
        low = text.lower()
        if low in ("quit", "exit"):
            return False
        if low == "help":
            self.say(HELP)
        elif low == "resign":
            self.finish("0-1" if self.human_white else "1-0", "you resigned")
            return False
        elif low == "undo":
            undone = 0
            while self.board.ply and (undone == 0 or not self.human_to_move()):
                self.board.pop()
                undone += 1
            if undone:
                self.say(f"took back {undone} ply")
                self.show()
            else:
                self.say("nothing to undo")
            if not self.human_to_move():
                self.model_move()
                self.show()
        elif low == "moves":
            self.say(
                "legal moves: "
                + " ".join(sorted(self.board.san(m) for m in self.board.legal_moves))
            )
        elif low == "fen":
            self.say(self.board.fen())
        elif low == "pgn":
            self.say(pgn_text(self.board, *self.names(), "*"))
        elif low == "flip":
            self.white_bottom = not self.white_bottom
            self.show()
        else:
            try:
                move = self.board.parse_san(text)
            except AmbiguousMoveError:
                self.say(f"ambiguous move {shown(text)}: say which piece (e.g. Nbd2 or Rae1)")
                return True
            except (IllegalMoveError, ValueError):  # ValueError: not even text a move could be
                self.say(f"illegal move {shown(text)} here; type 'moves' for the legal moves")
                return True
            self.board.push(move)
            self.show()
            if self.check_end():
                return False
            self.model_move()
            self.show()
            if self.result is not None or self.check_end():
                return False
        return True

    def start(self) -> None:
        side = "White" if self.human_white else "Black"
        self.say(f"You play {side}. {HELP}")
        self.show()
        if not self.human_to_move():
            self.model_move()
            self.show()


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="chessformer play", description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="run folder or nanoGPT .pt (default: the bundled model)")
    ap.add_argument("--color", choices=("white", "black", "random"), default="white")
    ap.add_argument("--temperature", type=float, default=0.001)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--ascii", action="store_true", help="letters instead of Unicode pieces")
    args = ap.parse_args(argv)
    if args.temperature < 0:
        ap.error(f"--temperature must be >= 0, got {args.temperature}")

    from chessformer.engine.bundled import resolve_model
    from chessformer.inference import InferenceEngine

    try:
        engine = InferenceEngine.from_checkpoint(
            resolve_model(args.model),
            max_batch=1,
            seed=args.seed if args.seed is not None else random.randrange(2**31),
        )
    except (FileNotFoundError, ValueError) as exc:
        print(f"chessformer play: {exc}", file=sys.stderr)
        return 2
    utf8_stdout()
    color = args.color if args.color != "random" else random.choice(("white", "black"))
    game = Game(engine, color == "white", args.temperature, sys.stdout, args.ascii)
    game.start()
    if game.result is not None:
        return 0
    lines = input_lines(sys.stdin.buffer)  # any bytes, any locale (chessformer.engine.textio)
    while True:
        try:
            sys.stdout.write("your move> ")
            sys.stdout.flush()
            line = next(lines, None)
        except KeyboardInterrupt:
            print()
            return 0
        if line is None:
            return 0
        if isinstance(line, LongLine):
            game.say(f"ignored a line of {line.size} bytes (limit {MAX_LINE})")
        elif not game.command(line):
            return 0
