"""`chessformer lab COMMAND`: the transcendence lab (docs/lab.md).

chessformer lab generate --experts SPEC ... --games N --out FILE.pgn.zst
chessformer lab run EXPERIMENT.toml|PRESET [--out DIR]
chessformer lab favor MATCH_DIR ...
chessformer lab diversity DATASET_OR_GAMES ...
"""

from __future__ import annotations

import importlib
import sys

COMMANDS: dict[str, tuple[str, str]] = {
    "generate": ("chessformer.lab.generate", "expert-vs-expert games to a resumable .pgn.zst"),
    "run": ("chessformer.lab.run", "a whole experiment: generate, prep, train, rate, report"),
    "favor": ("chessformer.lab.favor", "where low temperature gains: per-position reward"),
    "diversity": ("chessformer.lab.diversity", "normalised move entropy in common positions"),
}


def _usage() -> str:
    lines = ["usage: chessformer lab COMMAND [ARGS...]", "", "commands:"]
    lines += [f"  {name:<10}  {help_}" for name, (_, help_) in COMMANDS.items()]
    lines += ["", "Run `chessformer lab COMMAND --help` for a command's options."]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    if argv[0] not in COMMANDS:
        print(f"chessformer lab: unknown command {argv[0]!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[argv[0]][0])
    result: int = module.main(argv[1:])
    return result
