"""The ``chessformer prep`` command line: options, checks before any work, exit statuses
(docs/formats.md, "Exit status") and the summary; the run itself is `chessformer.data.prep.Prep`."""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import stat
import sys
import time
from pathlib import Path
from typing import Any

from chessformer._argtypes import csv_strings, fraction, int_at_least, positive_number
from chessformer._io import read_versioned_json
from chessformer.data.pgn_input import MAX_GAME_BYTES, PgnInputError, input_paths
from chessformer.data.prep import (
    DATASET_FORMAT,
    DATASET_VERSION,
    TIME_CLASSES,
    Counters,
    Prep,
    PrepConfig,
    ResumeRefused,
)
from chessformer.data.shards import SPLITS, OutputError, own_files


def summary(c: Counters, seconds: float | None = None) -> str:
    lines = [
        f"games read {c.games:,}, kept {c.kept:,} ({c.plies_kept:,} plies, "
        f"{c.tokens_kept:,} tokens), dropped {c.games - c.kept:,}"
    ]
    if seconds is not None and seconds > 0:
        lines.append(
            f"{c.bytes / 1e6:.1f} MB in {seconds:.2f} s: {c.bytes / 1e6 / seconds:.1f} MB/s, "
            f"{c.games / seconds:,.0f} games/s, {c.plies_replayed / seconds / 1e6:.2f}M plies/s"
        )
    for title, d in (
        ("dropped", c.dropped),
        ("replay errors", c.replay_errors),
        ("parse errors", c.parse_errors),
    ):
        if d:
            items = sorted(d.items(), key=lambda kv: -kv[1])
            lines.append(f"{title}: " + ", ".join(f"{k} {v:,}" for k, v in items))
    for e in c.input_errors:
        lines.append(f"input error: {e}")
    return "\n".join(lines)


def _check_paths(inputs: list[str], out: Path) -> str | None:
    """The first problem with an input or the output folder, as a message naming the path (None
    when all is well), found before any work starts: an input must be a readable file, ``--out``
    a folder that exists or can be created."""
    for path in inputs:
        if path == "-":
            continue
        if os.path.isdir(path):
            return f"input {path!r} is a directory (give its files, e.g. '{path}/*.pgn.zst')"
        if os.path.isfile(path):  # (a pipe is not opened here: that could lose its data)
            try:
                with open(path, "rb"):
                    pass
            except OSError as e:
                return f"cannot read input {path!r}: {e.strerror or e}"
        elif not os.path.exists(path):
            return f"input {path!r} does not exist"
        elif stat.S_ISCHR(os.stat(path).st_mode) and not _is_terminal(path):
            # /dev/zero, /dev/urandom: endless bytes that are not PGN (a pipe or a FIFO is fine)
            return f"input {path!r} is a device, not a PGN file or a pipe"
    if out.exists() and not out.is_dir():
        return f"--out {str(out)!r} exists and is not a directory"
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        return f"cannot create --out {str(out)!r}: {e.strerror or e}"
    if not os.access(out, os.W_OK | os.X_OK):
        return f"--out {str(out)!r} is not writable"
    return None


def _is_terminal(path: str) -> bool:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    except OSError:
        return False
    try:
        return os.isatty(fd)
    finally:
        os.close(fd)


def nothing_kept(c: Counters, config: PrepConfig) -> str:
    """Why a run kept no game, in words a user can act on."""
    if c.games == 0:
        if c.bytes == 0:
            return "the inputs are empty"
        return (
            f"no game found in {c.bytes:,} bytes (is it PGN? a game starts with a tag section "
            'such as [Event "..."] and its moves follow)'
        )
    reason, n = max(c.dropped.items(), key=lambda kv: kv[1], default=("", 0))
    hints = {
        "elo_unknown": "--max-elo/--min-elo drop games without WhiteElo/BlackElo tags; add "
        "--keep-unknown-elo to keep them",
        "elo_above": f"every rated game is above --max-elo {config.max_elo}",
        "elo_below": f"every rated game is below --min-elo {config.min_elo}",
        "time_control": "no game is of the selected --time-control classes "
        "(games without a TimeControl tag are 'unknown')",
        "unfinished": "the games have no result (1-0, 0-1, 1/2-1/2): add --keep-unfinished",
        "parse_error": "the parser flagged the games (see parse errors above); --keep-partial "
        "keeps their valid moves",
        "start_position": "the games start from a FEN position: only --tokenizer fen keeps them",
        "too_large": "the games are over --max-game-mb",
    }
    what = hints.get(reason, f"dropped as {reason}")
    return f"{n:,} of {c.games:,} games dropped as {reason}: {what}"


def _remove_dataset(out: Path, created: bool) -> None:
    """Remove what this run wrote (its files, the split folders when left empty, ``out`` when
    this run created it and it is empty)."""
    for p in own_files(out):
        p.unlink(missing_ok=True)
    for folder in [*(out / s for s in SPLITS), *([out] if created else [])]:
        with contextlib.suppress(OSError):
            folder.rmdir()  # only when empty


FEN_MAX_GAME_MB = 4.0  # the fen tokenizer's default game limit: ~80 MB of tokens for one game
FEN_BYTES_PER_PGN_BYTE = 20  # plain PGN: 79 uint16 tokens a ply for about 7.6 bytes a ply


def fen_warning(records: list[dict[str, Any]], out: Path) -> str:
    """The ``fen`` tokenizer's output size, said before it is written: a board per ply makes
    the dataset up to 20x its PGN (5x for Lichess text with clock comments)."""
    plain = sum(r["size"] for r in records if r.get("size") and not r.get("compressed"))
    packed = sum(r["size"] for r in records if r.get("size") and r.get("compressed"))
    free = shutil.disk_usage(out).free
    text = (
        f"the fen tokenizer writes a whole board per ply (158 bytes a ply), up to "
        f"{FEN_BYTES_PER_PGN_BYTE}x the PGN's size"
    )
    if plain:
        text += f": up to {_size(FEN_BYTES_PER_PGN_BYTE * plain)} for the plain inputs"
    if packed:
        text += f"; .zst inputs: {FEN_BYTES_PER_PGN_BYTE}x their decompressed size"
    return text + f" ({_size(free)} free in {out})"


def _size(n: float) -> str:
    return f"{n / 1e9:,.1f} GB" if n >= 1e9 else f"{n / 1e6:,.1f} MB"


def _max_game_mb(given: float | None, tokenizer: str) -> float:
    if given is not None:
        return given
    return FEN_MAX_GAME_MB if tokenizer == "fen" else MAX_GAME_BYTES / (1 << 20)


def available_cpus() -> int:
    """The CPUs this process may run on (its affinity mask, where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="chessformer prep",
        description="PGN(.zst) files to token shards filtered by rating (docs/formats.md).",
        epilog="Exit status: 0 done; 1 no game kept (nothing written); 2 bad arguments, an "
        "existing dataset, or --resume with other options or inputs; "
        "3 done, but an input could not be read to the end (truncated or corrupted .zst, I/O "
        "error, a file that changed while read) -- its games up to the damage are kept, and the "
        "manifest lists the errors; 4 an output file could not be written (disk full, I/O error): "
        "free space and rerun with --resume; 130 interrupted (--resume goes on).",
    )
    p.add_argument("inputs", nargs="+", help="PGN or PGN.zst files, globs, or - for stdin")
    p.add_argument("--out", required=True, type=Path, help="dataset folder to write")
    p.add_argument("--tokenizer", choices=("char", "move", "fen"), default="char")
    elo = int_at_least(0)
    p.add_argument("--max-elo", type=elo, default=-1, help="keep max(WhiteElo, BlackElo) <= N")
    p.add_argument("--min-elo", type=elo, default=-1, help="keep min(WhiteElo, BlackElo) >= N")
    p.add_argument(
        "--keep-unknown-elo", action="store_true", help="with an Elo filter, keep games lacking Elo"
    )
    p.add_argument(
        "--time-control",
        type=csv_strings,
        default=tuple(TIME_CLASSES),
        help=f"time classes to keep, comma-separated, from {','.join(TIME_CLASSES)} (Lichess rule "
        "on base + 40 x increment; ultrabullet is its own class). Default: all",
    )
    p.add_argument(
        "--drop-termination",
        type=csv_strings,
        default=("Abandoned", "Unterminated"),
        help="Termination tag values to drop (default: Abandoned,Unterminated; '' keeps all)",
    )
    p.add_argument("--min-plies", type=int_at_least(0), default=0, help="keep games of >= N plies")
    p.add_argument(
        "--variants",
        type=csv_strings,
        default=("standard",),
        help="standard[,chess960] (default standard)",
    )
    p.add_argument("--keep-unfinished", action="store_true", help="keep games with result *")
    p.add_argument(
        "--keep-partial",
        action="store_true",
        help="keep the moves before a null/illegal move or a parse error (result *)",
    )
    p.add_argument(
        "--max-games",
        type=int_at_least(1),
        default=-1,
        help="stop after keeping N >= 1 games (default: no limit)",
    )
    p.add_argument(
        "--val-fraction", type=fraction, default=0.05, help="share of games in val, in [0, 1]"
    )
    p.add_argument(
        "--shard-tokens",
        type=int_at_least(1),
        default=100_000_000,
        help="tokens per shard (about)",
    )
    p.add_argument(
        "--max-game-mb",
        type=positive_number,
        default=None,
        help="skip (and count as dropped: too_large) a game over N MB of PGN text; bounds memory "
        f"on any input (default {MAX_GAME_BYTES >> 20}; {FEN_MAX_GAME_MB} with --tokenizer fen, "
        "which makes about 20 bytes of a byte of PGN)",
    )
    p.add_argument(
        "--workers",
        type=int_at_least(1),
        default=available_cpus(),
        help="parser threads (default: the CPUs this process may run on, %(default)s here; a "
        "regular file is read and decompressed on a thread of its own besides them)",
    )
    p.add_argument(
        "--chunk-mb",
        type=positive_number,
        default=2.0,
        help="MB of PGN per work item (about; default 2)",
    )
    p.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")
    p.add_argument("--force", action="store_true", help="overwrite an existing dataset in --out")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def _finished(prep: Prep, out: Path) -> bool:
    """Whether ``out`` holds a finished dataset (manifest.json) of this run's options and inputs;
    `ResumeRefused` when its manifest records others (or cannot be read)."""
    path = out / "manifest.json"
    if not path.exists():
        return False
    manifest = read_versioned_json(path, DATASET_FORMAT, DATASET_VERSION, ResumeRefused)
    prep.check_unchanged(path, manifest.get("filters"), manifest.get("inputs"))
    return True


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    bad = [t for t in args.time_control if t not in TIME_CLASSES]
    if bad:
        print(f"prep: unknown time class(es) {bad}; known: {TIME_CLASSES}", file=sys.stderr)
        return 2
    bad = [v for v in args.variants if v not in ("standard", "chess960")]
    if bad:
        print(f"prep: unknown variant(s) {bad}; known: standard, chess960", file=sys.stderr)
        return 2
    try:
        inputs = input_paths(args.inputs)
    except PgnInputError as e:
        print(f"prep: {e}", file=sys.stderr)
        return 2
    config = PrepConfig(
        tokenizer=args.tokenizer,
        max_elo=args.max_elo,
        min_elo=args.min_elo,
        keep_unknown_elo=args.keep_unknown_elo,
        time_classes=tuple(args.time_control),
        drop_terminations=tuple(args.drop_termination),
        min_plies=args.min_plies,
        variants=tuple(args.variants),
        keep_unfinished=args.keep_unfinished,
        keep_partial=args.keep_partial,
        max_games=args.max_games,
        val_fraction=args.val_fraction,
        shard_tokens=args.shard_tokens,
        max_game_mb=_max_game_mb(args.max_game_mb, args.tokenizer),
    )
    out: Path = args.out
    created = not out.exists()
    problem = _check_paths(inputs, out)
    if problem is not None:
        print(f"prep: {problem}", file=sys.stderr)
        return 2
    existing = (out / "manifest.json").exists() or (out / "progress.json").exists()
    if existing and not (args.resume or args.force):
        print(f"prep: {out} already holds a dataset; use --resume or --force", file=sys.stderr)
        return 2
    if args.force and not args.resume and existing:
        for p in own_files(out):  # the old dataset's files only, never a user's
            p.unlink()
    chunk = max(1 << 16, int(args.chunk_mb * (1 << 20)))
    try:
        prep = Prep(inputs, out, config, args.workers, chunk, progress=not args.quiet)
    except OSError as e:  # an input that vanished or became unreadable since the check above
        _remove_dataset(out, created)
        print(f"prep: cannot read input {e.filename!r}: {e.strerror or e}", file=sys.stderr)
        return 2
    if config.tokenizer == "fen":
        print(f"prep: {fen_warning(prep.input_records, out)}", file=sys.stderr)
    t0 = time.monotonic()
    try:
        if args.resume and not (out / "progress.json").exists() and _finished(prep, out):
            print(f"prep: {out} is already complete (same options and inputs)", file=sys.stderr)
            return 0
        if args.resume and prep.restore():
            print(
                f"prep: resuming at input {prep.position[0]} byte {prep.position[1]:,}",
                file=sys.stderr,
            )
    except ResumeRefused as e:
        print(f"prep: --resume refused: {e}", file=sys.stderr)
        return 2
    try:
        counters = prep.run()
    except OutputError as e:
        prep.progress.close()
        print(
            f"prep: cannot write {e.filename}: {e.strerror} (exit status 4); the run stopped "
            "there: free space or fix the folder, then rerun with --resume to go on from the last "
            "checkpoint",
            file=sys.stderr,
        )
        return 4
    except KeyboardInterrupt:
        prep.progress.close()
        print(
            "\nprep: interrupted; rerun with --resume to go on from the last checkpoint",
            file=sys.stderr,
        )
        return 130
    print(summary(counters, time.monotonic() - t0), file=sys.stderr)
    if counters.kept == 0:
        why = nothing_kept(counters, config)
        _remove_dataset(out, created)
        print(f"prep: no game kept: {why}; nothing was written", file=sys.stderr)
        return 1
    if counters.input_errors:
        # the dataset is complete for what could be read; scripts still learn that an input was
        # damaged (its games up to the damage are kept, the rest of that input is lost)
        print(
            f"prep: {len(counters.input_errors)} input(s) could not be read to the end "
            "(exit status 3); the dataset holds everything before the damage",
            file=sys.stderr,
        )
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
