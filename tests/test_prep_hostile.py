"""Hostile and careless inputs to ``prep`` and ``read_games`` (issue 18): memory stays bounded by
the documented limit whatever the input, pipes are read once, ``--out`` never loses a user's file,
faults get their own exit status and a message naming the file."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import zstandard

from chessformer.data import prep
from chessformer.data.pgn_input import READER_ENV, InputStream

DATA = Path(__file__).parent / "data"
SAMPLE = DATA / "lichess_sample.pgn"
MB = 1 << 20

# a child that runs one call and prints its peak RSS growth over the imports, in MB
PEAK = """
import resource, sys
from chessformer.data import prep
from chessformer.data.pgn import read_games
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
result = {call}
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(result, (after - before) // 1024)
"""


def peak(call: str, timeout: float = 120) -> tuple[str, int, str]:
    """(result, peak MB over the imports, stderr) of ``call`` in a fresh interpreter."""
    r = subprocess.run(
        [sys.executable, "-c", PEAK.format(call=call)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    result, mb = r.stdout.split()
    return result, int(mb), r.stderr


def zst_stream(path: Path, *pieces: tuple[bytes, int]) -> None:
    """``path``: zstd of each piece's bytes repeated to about its size, without holding the
    whole."""
    with open(path, "wb") as f, zstandard.ZstdCompressor(level=1).stream_writer(f) as w:
        for data, size in pieces:
            block = data * max(1, min(size, MB) // len(data))
            for _ in range(max(1, size // len(block))):
                w.write(block)


HOSTILE = {
    "zeros": b"\0",
    "one line": b"1. e4 e5 ",
    "open tag": b'[Event "' + b"x" * 100,
    "open comment": b"{ a comment that never ends ",
}


@pytest.mark.parametrize("kind", HOSTILE)
def test_a_stream_without_separators_stays_in_bounded_memory(tmp_path: Path, kind: str) -> None:
    """300 MB without a game boundary, then real games: the oversized part is skipped and reported,
    the games after it are kept, and memory stays near the 64 MB game limit (the old code joined
    the whole stream into one growing chunk: 640 MB and quadratic time for these inputs)."""
    bomb = tmp_path / "bomb.pgn.zst"
    zst_stream(bomb, (HOSTILE[kind], 300 * MB), (b"\n\n", 2), (SAMPLE.read_bytes(), 1))
    out = tmp_path / "d"
    call = f"prep.main([{str(bomb)!r}, '--out', {str(out)!r}, '--quiet', '--workers', '2'])"
    rc, mb, err = peak(call)
    assert rc == "0"
    assert mb < 64 + 60, f"{mb} MB"  # the 64 MB game limit and a few blocks
    counts = json.loads((out / "manifest.json").read_text())["counts"]
    assert counts["kept"] == 100 and counts["dropped"] == {"too_large": 1}
    assert "skipped a game of 3" in err and "--max-game-mb" in err
    # read_games: the same, in as little memory; the oversized game is flagged
    rc, mb, _ = peak(f"[g.error.code for g in read_games({str(bomb)!r}) if g.error]")
    assert rc == "['game_too_large']"
    assert mb < 64 + 60, f"{mb} MB"


def test_a_lower_limit_bounds_memory_lower(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.pgn.zst"
    zst_stream(bomb, (b"\0", 200 * MB))
    out = tmp_path / "d"
    call = f"prep.main([{str(bomb)!r}, '--out', {str(out)!r}, '--quiet', '--max-game-mb', '4'])"
    rc, mb, err = peak(call)
    assert rc == "1" and mb < 4 + 40, f"{mb} MB"
    assert "no game kept" in err and "too_large" in err
    assert not out.exists()  # nothing half-made left behind


def test_read_games_on_a_long_game_holds_one_str_per_distinct_move(tmp_path: Path) -> None:
    """1M plies: the move list shares its strings (the old code made a str per ply: 110 MB)."""
    path = tmp_path / "long.pgn"
    moves = [b"Nf3", b"Nf6", b"Ng1", b"Ng8"]
    body = b"".join(
        b"%d. %s %s " % (i + 1, *moves[2 * (i % 2) : 2 * (i % 2) + 2]) for i in range(500_000)
    )
    path.write_bytes(b'[Event "long"]\n\n' + body + b"1/2-1/2\n")
    rc, mb, _ = peak(f"[len(g.moves) for g in read_games({str(path)!r})]")
    assert rc == "[1000000]"
    assert mb < 40, f"{mb} MB"


def _fifo_writer(path: Path, data: bytes) -> threading.Thread:
    def write() -> None:
        try:
            with open(path, "wb") as f:
                f.write(data)
        except BrokenPipeError:  # the reader stopped early (a simulated crash)
            pass

    t = threading.Thread(target=write, daemon=True)
    t.start()
    return t


def test_a_fifo_is_read_once_and_completely(tmp_path: Path) -> None:
    """The old code read a FIFO's first MiB to fingerprint it, then hung (or lost that MiB)."""
    raw = SAMPLE.read_bytes() * 40  # > 1 MiB
    fifo = tmp_path / "games.fifo"
    os.mkfifo(fifo)
    writer = _fifo_writer(fifo, raw)
    cmd = [sys.executable, "-m", "chessformer", "prep", str(fifo), "--out", str(tmp_path / "d")]
    r = subprocess.run([*cmd, "--quiet", "--tokenizer", "move"], capture_output=True, timeout=60)
    writer.join(10)
    assert r.returncode == 0, r.stderr.decode()
    m = json.loads((tmp_path / "d" / "manifest.json").read_text())
    assert m["counts"]["games"] == 4000 and m["counts"]["bytes"] == len(raw)
    assert m["inputs"][0]["stream"] is True and m["inputs"][0]["size"] is None


def test_stdin_and_a_pipe_by_name_give_the_file_s_dataset(tmp_path: Path) -> None:
    raw = SAMPLE.read_bytes() * 30
    plain = tmp_path / "games.pgn"
    plain.write_bytes(raw)
    args = ["--quiet", "--tokenizer", "move", "--shard-tokens", "50000"]
    assert prep.main([str(plain), "--out", str(tmp_path / "file"), *args]) == 0
    base = [sys.executable, "-m", "chessformer", "prep"]
    r = subprocess.run(
        [*base, "-", "--out", str(tmp_path / "stdin"), *args], input=raw, capture_output=True
    )
    assert r.returncode == 0, r.stderr.decode()
    # a pipe given by name (what `prep <(cat games.pgn)` passes: /dev/fd/N)
    rfd, wfd = os.pipe()
    writer = threading.Thread(target=lambda: (os.write(wfd, raw), os.close(wfd)), daemon=True)
    cmd = [*base, f"/dev/fd/{rfd}", "--out", str(tmp_path / "pipe"), *args]
    writer.start()
    r = subprocess.run(cmd, pass_fds=(rfd,), capture_output=True, timeout=60)
    os.close(rfd)
    writer.join(10)
    assert r.returncode == 0, r.stderr.decode()
    for name in ("stdin", "pipe"):
        shards = sorted((tmp_path / name / "train").iterdir())
        assert [p.read_bytes() for p in shards] == [
            p.read_bytes() for p in sorted((tmp_path / "file" / "train").iterdir())
        ]


def test_resume_inside_a_pipe_is_refused(tmp_path: Path) -> None:
    raw = SAMPLE.read_bytes() * 20
    fifo = tmp_path / "games.fifo"
    os.mkfifo(fifo)
    out = tmp_path / "d"
    args = [
        str(fifo),
        "--out",
        str(out),
        "--quiet",
        "--shard-tokens",
        "20000",
        "--chunk-mb",
        "0.07",
    ]
    cmd = [sys.executable, "-m", "chessformer", "prep", *args]
    writer = _fifo_writer(fifo, raw)
    env = {**os.environ, prep.CRASH_ENV: "3"}
    r = subprocess.run(cmd, env=env, capture_output=True, timeout=60)
    assert r.returncode == 75 and (out / "progress.json").exists(), r.stderr.decode()
    writer.join(10)
    r = subprocess.run([*cmd, "--resume"], capture_output=True, timeout=60)
    assert r.returncode == 2
    assert b"a pipe or other stream" in r.stderr and b"games.fifo" in r.stderr


def test_out_keeps_files_prep_did_not_write(tmp_path: Path) -> None:
    out = tmp_path / "d"
    mine = [
        out / "notes.txt",
        out / ".tmp-draft",
        out / "pending-notes.npz",
        out / "train" / "my-list.txt",
        out / "train" / ".tmp-editor-swap",
        out / "val" / "tokens-1.bin",
    ]
    for p in mine:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("user data")
    (out / "train" / "sub").mkdir()
    (out / "train" / "sub" / "x").write_text("user data")
    args = [str(SAMPLE), "--out", str(out), "--quiet", "--shard-tokens", "20000"]
    assert prep.main(args) == 0  # no dataset there yet: nothing to delete
    assert prep.main([*args, "--force"]) == 0  # replaces the dataset, and only it
    assert all(p.read_text() == "user data" for p in [*mine, out / "train" / "sub" / "x"])
    m = json.loads((out / "manifest.json").read_text())
    written = {s["tokens"] for split in m["splits"].values() for s in split["shards"]}
    assert all((out / t).is_file() for t in written)
    assert prep.main([*args, "--force", "--shard-tokens", "1000000"]) == 0
    assert not (out / "train" / "tokens-00001.bin").exists()  # the old dataset's files went
    assert all(p.read_text() == "user data" for p in mine)


def test_a_full_disk_is_exit_status_4_naming_the_file(tmp_path: Path) -> None:
    """RLIMIT_FSIZE makes a write fail as a full disk does (EFBIG): exit 4, the file named, no
    traceback; --resume then finishes the dataset."""
    out = tmp_path / "d"
    args = [
        str(SAMPLE),
        "--out",
        str(out),
        "--quiet",
        "--shard-tokens",
        "2000",
        "--tokenizer",
        "move",
    ]
    cmd = [sys.executable, "-m", "chessformer", "prep", *args]

    def small_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (3000, 3000))

    r = subprocess.run(cmd, capture_output=True, text=True, preexec_fn=small_files, timeout=60)
    assert r.returncode == 4, r.stderr
    assert "Traceback" not in r.stderr and "cannot write" in r.stderr and str(out) in r.stderr
    assert "--resume" in r.stderr
    r = subprocess.run([*cmd, "--resume"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert json.loads((out / "manifest.json").read_text())["counts"]["kept"] == 100


@pytest.mark.parametrize("reader", ["thread", "python"])
def test_a_file_truncated_while_read_is_an_input_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reader: str
) -> None:
    if reader == "python":
        monkeypatch.setenv(READER_ENV, "python")
    path = tmp_path / "games.pgn"
    data = SAMPLE.read_bytes() * 4
    path.write_bytes(data)
    with InputStream(str(path)) as stream:
        blocks = stream.blocks(64 * 1024)
        first = next(blocks)
        os.truncate(path, len(first) + 1000)
        rest = b"".join(blocks)
    got = bytes(first) + rest
    if reader == "python":
        assert len(got) == len(first) + 1000
    else:  # (the reading thread may have read further ahead before the cut)
        assert len(first) + 1000 <= len(got) <= len(data) and data.startswith(got)
    assert stream.error is not None and "games.pgn" in stream.error
    assert "changed while being read" in stream.error


@pytest.mark.parametrize(
    ("text", "args", "why"),
    [
        (
            SAMPLE.read_bytes().replace(b"Elo ", b"Rating "),
            ["--max-elo", "1500"],
            "--keep-unknown-elo",
        ),
        (b"1. e4 e5 2. Nf3 Nc6 1-0\n\n1. d4 d5 0-1\n", [], "tag section"),
        (b"", [], "empty"),
    ],
)
def test_why_nothing_was_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: bytes, args: list[str], why: str
) -> None:
    path = tmp_path / "in.pgn"
    path.write_bytes(text)
    out = tmp_path / "d"
    assert prep.main([str(path), "--out", str(out), "--quiet", *args]) == 1
    err = capsys.readouterr().err
    assert "no game kept" in err and why in err
    assert not out.exists()


def test_the_fen_tokenizer_says_its_output_size_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        prep.main([str(SAMPLE), "--out", str(tmp_path / "d"), "--quiet", "--tokenizer", "fen"]) == 0
    )
    err = capsys.readouterr().err
    assert "fen tokenizer" in err and "20x" in err and "free in" in err
    first = err.index("fen tokenizer")
    assert first < err.index("games read")  # before the work, not after


def test_an_endless_device_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`prep /dev/zero` read forever; a device is no PGN input (a pipe or FIFO is, above)."""
    assert prep.main(["/dev/zero", "--out", str(tmp_path / "d"), "--quiet"]) == 2
    assert "'/dev/zero' is a device" in capsys.readouterr().err
    assert not (tmp_path / "d").exists()


def test_the_fen_tokenizer_has_a_lower_game_limit(tmp_path: Path) -> None:
    """A 6 MB game is 1M plies: 160 MB of fen tokens. The fen default limit (4 MB) skips it."""
    path = tmp_path / "long.pgn"
    moves = [b"Nf3 Nf6", b"Ng1 Ng8"]
    body = b"".join(b"%d. %s " % (i + 1, moves[i % 2]) for i in range(350_000))
    path.write_bytes(b'[Event "long"]\n\n' + body + b"1/2-1/2\n" + SAMPLE.read_bytes())
    assert len(body) > 4 * MB
    m = run(tmp_path / "fen", path, "--tokenizer", "fen")
    assert m["counts"]["dropped"] == {"too_large": 1} and m["counts"]["kept"] == 100
    assert m["filters"]["max_game_mb"] == 4.0
    m = run(tmp_path / "move", path, "--tokenizer", "move")  # 64 MB: kept
    assert m["counts"]["kept"] == 101 and m["filters"]["max_game_mb"] == 64.0


def run(out: Path, *args: str | Path) -> dict:
    assert prep.main([*map(str, args), "--out", str(out), "--quiet"]) == 0
    return json.loads((out / "manifest.json").read_text())


def test_resume_across_oversized_games_is_byte_identical(tmp_path: Path) -> None:
    """Whether a game is over the limit depends on the stream alone, not on where a run (or a
    resumed one) starts reading it: a crashed and resumed run writes the same bytes."""
    games = SAMPLE.read_bytes()
    junk = b'[Event "junk"]\n\n' + b"1. e4 e5 " * 3000 + b"\n\n"  # 27 KB, over 0.02 MB
    path = tmp_path / "in.pgn"
    path.write_bytes(games + junk + games + junk * 3 + games)
    args = ["--shard-tokens", "3000", "--chunk-mb", "0.07", "--max-game-mb", "0.02", "--quiet"]
    full = tmp_path / "full"
    assert prep.main([str(path), "--out", str(full), *args]) == 0
    counts = json.loads((full / "manifest.json").read_text())["counts"]
    assert counts["dropped"] == {"too_large": 4} and counts["kept"] == 300
    part = tmp_path / "part"
    cmd = [sys.executable, "-m", "chessformer", "prep", str(path), "--out", str(part), *args]
    for crash_after in ("5", "20"):
        r = subprocess.run([*cmd, "--resume"], env={**os.environ, prep.CRASH_ENV: crash_after})
        assert r.returncode == 75
    assert subprocess.run([*cmd, "--resume"]).returncode == 0
    tree = {p.relative_to(part): p.read_bytes() for p in sorted(part.rglob("*")) if p.is_file()}
    assert tree == {
        p.relative_to(full): p.read_bytes() for p in sorted(full.rglob("*")) if p.is_file()
    }
