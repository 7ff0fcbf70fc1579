"""The `chessformer` command: one entry point, one subcommand per job.

Each subcommand lives in its own module exposing ``main(argv: list[str]) -> int``; it is imported
only when run, so ``chessformer --help`` (and ``chessformer uci``) start instantly.
"""

from __future__ import annotations

import importlib
import sys

# name -> (module, one-line help). Add a subcommand by adding a line here.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("chessformer.engine.demo", "the bundled model against Stockfish at two temperatures"),
    "play": ("chessformer.engine.play", "play the model in the terminal"),
    "uci": ("chessformer.engine.uci", "run the model as a UCI engine (for chess GUIs)"),
    "prep": ("chessformer.data.prep_cli", "PGN(.zst) files to token shards filtered by rating"),
    "train": ("chessformer.model.train", "train a model on a prepared dataset"),
    "plot": ("chessformer.model.plot", "loss curves of a training run (from metrics.jsonl)"),
    "match": ("chessformer.arena.match", "play the model against Stockfish at many temperatures"),
    "report": (
        "chessformer.arena.report",
        "rating-vs-temperature table and plot from match results",
    ),
    "convert": ("chessformer.model.convert", "convert checkpoints to/from nanoGPT format"),
    "lichess-sample": (
        "chessformer.data.lichess_sample",
        "rewrite PGN games in Lichess export format",
    ),
    "lab": ("chessformer.lab.cli", "the transcendence lab: experts, games, experiments"),
    "perft": ("chessformer.perft", "count leaf nodes of the legal move tree"),
    "bench": ("chessformer.inference.bench", "benchmarks: `chessformer bench inference`"),
}


def _usage() -> str:
    width = max(len(name) for name in SUBCOMMANDS)
    lines = ["usage: chessformer COMMAND [ARGS...]", "", "commands:"]
    lines += [f"  {name:<{width}}  {help_}" for name, (_, help_) in SUBCOMMANDS.items()]
    lines += ["", "Run `chessformer COMMAND --help` for a command's options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    if args[0] in ("-V", "--version"):
        from chessformer import __version__

        print(f"chessformer {__version__}")
        return 0
    name, rest = args[0], args[1:]
    if name not in SUBCOMMANDS:
        print(f"chessformer: unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(SUBCOMMANDS[name][0])
    result: int = module.main(rest)
    return result


if __name__ == "__main__":
    sys.exit(main())
