"""``chessformer prep``: quirk fixtures, tokenizer round trips over the shards, filters, the
deterministic split, resume after a crash (byte-identical output), reading with chessformer.data."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import zstandard
from conftest import damaged_zst

from chessformer import _core
from chessformer.data import prep
from chessformer.data.pgn import read_games
from chessformer.data.tokenizers import get_tokenizer

DATA = Path(__file__).parent / "data"
FIXTURES = sorted((DATA / "pgn").glob("*.pgn"))
SAMPLE = DATA / "lichess_sample.pgn"


def run_prep(out: Path, *args: str | Path, status: int = 0) -> dict:
    rc = prep.main([*map(str, args), "--out", str(out), "--quiet", "--force"])
    assert rc == status
    return json.loads((out / "manifest.json").read_text())


def shard_games(root: Path, manifest: dict, split: str):
    """(tokens, metadata row) of every game of a split, in order."""
    dtype = manifest["tokenizer"]["dtype"]
    for shard in manifest["splits"][split]["shards"]:
        tokens = np.fromfile(root / shard["tokens"], dtype=dtype)
        offsets = np.load(root / shard["offsets"])
        with np.load(root / shard["games"]) as z:
            meta = {k: z[k] for k in z.files}
        assert len(offsets) == shard["n_games"] + 1 and offsets[-1] == len(tokens)
        for i in range(shard["n_games"]):
            yield tokens[offsets[i] : offsets[i + 1]], {k: v[i] for k, v in meta.items()}


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_quirk_fixtures(tmp_path: Path) -> None:
    m = run_prep(tmp_path / "d", *FIXTURES, "--tokenizer", "move", "--val-fraction", "0")
    c = m["counts"]
    n_games = sum(len(list(read_games(f, on_error="ignore"))) for f in FIXTURES)
    assert c["games"] == n_games
    assert c["kept"] + sum(c["dropped"].values()) == c["games"]
    d = c["dropped"]
    assert d["illegal_move"] == 2  # Ke3, Nd2
    assert d["null_move"] == 1
    assert d["variant"] == 3  # crazyhouse x2, chess960
    assert d["start_position"] == 5  # FEN starts: not representable in move tokens
    assert d["parse_error"] == 4  # truncated mid-comment/-move/-tag, unterminated brace
    assert d["unfinished"] == 8  # result * (or none)
    assert d["termination"] == 1  # an Abandoned game in the Lichess fixture
    assert c["replay_errors"] == {
        "ambiguous_san": 1,
        "illegal_san": 1,
        "invalid_san": 1,
        "null_move": 1,
    }
    assert c["parse_errors"]["eof_in_comment"] == 1
    # every kept game decodes to the moves read_games gives for the game at that offset
    by_offset = {
        (i, g.offset): g for i, f in enumerate(FIXTURES) for g in read_games(f, on_error="ignore")
    }
    tok = get_tokenizer("move")
    n = 0
    for tokens, meta in shard_games(tmp_path / "d", m, "train"):
        g = by_offset[(int(meta["source"]), int(meta["byte_offset"]))]
        assert tok.decode(tokens).moves == g.moves
        n += 1
    assert n == c["kept"]


@pytest.mark.parametrize("name", ["char", "move", "fen"])
def test_round_trip(tmp_path: Path, name: str) -> None:
    m = run_prep(
        tmp_path / "d",
        SAMPLE,
        "--tokenizer",
        name,
        "--val-fraction",
        "0.3",
        "--shard-tokens",
        "2000",
    )
    games = {g.offset: g for g in read_games(SAMPLE)}
    tok = get_tokenizer(name)
    seen = 0
    for split in ("train", "val"):
        for tokens, meta in shard_games(tmp_path / "d", m, split):
            g = games[int(meta["byte_offset"])]
            decoded = tok.decode(tokens)
            assert decoded.moves == g.moves
            assert int(meta["plies"]) == len(g.moves)
            assert int(meta["white_elo"]) == int(g.headers["WhiteElo"])
            if name == "move":
                assert decoded.result == g.result
            if name == "char":
                assert tok.to_text(tokens) == tok.to_text(tok.encode(g.moves))
            seen += 1
    assert seen == m["counts"]["kept"] == 100
    assert m["counts"]["val_games"] > 10 and len(m["splits"]["train"]["shards"]) > 1


def _pgn(tags: dict[str, str], moves: str = "1. e4 e5 2. Nf3 Nc6", result: str = "1-0") -> str:
    head = "".join(f'[{k} "{v}"]\n' for k, v in {"Event": "t", "Result": result, **tags}.items())
    return f"{head}\n{moves} {result}\n\n"


def test_filters(tmp_path: Path) -> None:
    games = [
        ({"WhiteElo": "1400", "BlackElo": "1500", "TimeControl": "300+0"}, "keep"),
        ({"WhiteElo": "1600", "BlackElo": "1400", "TimeControl": "300+0"}, "elo_above"),
        ({"WhiteElo": "1000", "BlackElo": "?", "TimeControl": "300+0"}, "elo_unknown"),
        ({"WhiteElo": "900", "BlackElo": "1200", "TimeControl": "300+0"}, "elo_below"),
        ({"WhiteElo": "1200", "BlackElo": "1200", "TimeControl": "60+0"}, "time_control"),
        ({"WhiteElo": "1200", "BlackElo": "1200", "TimeControl": "120+2"}, "keep"),  # 200 s: blitz
        ({"WhiteElo": "1200", "BlackElo": "1200", "TimeControl": "480+0"}, "time_control"),
        (
            {
                "WhiteElo": "1200",
                "BlackElo": "1200",
                "TimeControl": "300+0",
                "Termination": "Abandoned",
            },
            "termination",
        ),
        ({"WhiteElo": "1500", "BlackElo": "1000", "TimeControl": "180+0"}, "keep"),
    ]
    text = "".join(_pgn(t) for t, _ in games)
    text += _pgn({"WhiteElo": "1200", "BlackElo": "1200", "TimeControl": "300+0"}, "1. e4 e5")
    text += _pgn({"WhiteElo": "1200", "BlackElo": "1200", "TimeControl": "300+0"}, result="*")
    path = tmp_path / "f.pgn"
    path.write_text(text)
    m = run_prep(
        tmp_path / "d",
        path,
        "--tokenizer",
        "move",
        "--max-elo",
        "1500",
        "--min-elo",
        "1000",
        "--time-control",
        "blitz",
        "--min-plies",
        "3",
        "--val-fraction",
        "0",
    )
    c = m["counts"]
    assert c["kept"] == 3
    assert c["dropped"] == {
        "elo_above": 1,
        "elo_unknown": 1,
        "elo_below": 1,
        "time_control": 2,
        "termination": 1,
        "too_short": 1,
        "unfinished": 1,
    }
    meta = [meta for _, meta in shard_games(tmp_path / "d", m, "train")]
    assert [int(x["time_class"]) for x in meta] == [prep.TIME_CLASSES.index("blitz")] * 3
    # --keep-unknown-elo, the whole time-control range, termination kept, unfinished kept
    m = run_prep(
        tmp_path / "d",
        path,
        "--tokenizer",
        "move",
        "--max-elo",
        "1500",
        "--keep-unknown-elo",
        "--drop-termination",
        "",
        "--keep-unfinished",
        "--val-fraction",
        "0",
    )
    assert m["counts"]["dropped"] == {"elo_above": 1}
    # --max-games
    m = run_prep(tmp_path / "d", path, "--tokenizer", "move", "--max-games", "2")
    assert m["counts"]["kept"] == 2


def test_time_classes() -> None:
    tcs = {
        "15+0": "ultrabullet",
        "29+0": "ultrabullet",
        "60+0": "bullet",
        "120+1": "bullet",
        "180+0": "blitz",
        "300+3": "blitz",
        "480+0": "rapid",
        "600+5": "rapid",
        "1500+0": "classical",
        "900+15": "classical",
        "-": "correspondence",
        "?": "unknown",
    }
    for tc, cls in tcs.items():
        pgn = _pgn({"TimeControl": tc}).encode()
        out = _core.prep_chunk(pgn, False, 0, "move", val_fraction=0.0)
        assert prep.TIME_CLASSES[int(out["train"]["time_class"][0])] == cls, tc


def test_split_is_deterministic(tmp_path: Path) -> None:
    a = run_prep(
        tmp_path / "a",
        SAMPLE,
        "--tokenizer",
        "move",
        "--workers",
        "1",
        "--shard-tokens",
        "5000",
        "--val-fraction",
        "0.2",
    )
    b = run_prep(
        tmp_path / "b",
        SAMPLE,
        "--tokenizer",
        "move",
        "--workers",
        "2",
        "--shard-tokens",
        "5000",
        "--val-fraction",
        "0.2",
        "--chunk-mb",
        "0.06",
    )
    assert a == b
    assert tree_bytes(tmp_path / "a") == tree_bytes(tmp_path / "b")
    hashes = [int(meta["game_hash"]) for _, meta in shard_games(tmp_path / "a", a, "val")]
    assert all((h >> 11) / 2**53 < 0.2 for h in hashes) and len(hashes) > 5


def _hashes(*pgns: str) -> list[int]:
    out = _core.prep_chunk("".join(pgns).encode(), False, 0, "move", val_fraction=0.0)
    assert out["stats"]["kept"] == len(pgns)
    return [int(h) for h in out["train"]["game_hash"]]


def test_game_hash_depends_on_every_tag_byte_and_move() -> None:
    base = _pgn({"Site": "x"})
    # equal games hash equal; tag order, one byte anywhere, a shifted name/value boundary, a move:
    # each gives another hash
    variants = [
        base,
        _pgn({"Site": "y"}),
        _pgn({"Sitf": "x"}),
        _pgn({"Sit": "ex"}),
        _pgn({"Site": "x"}, moves="1. e4 e5 2. Nf3 Nf6"),
        _pgn({"Site": "x"}, moves="1. e4 e5 2. Nf3"),
        _pgn({"Site": "x"}, result="0-1"),
    ]
    h = _hashes(base, *variants)
    assert h[0] == h[1]
    assert len(set(h[1:])) == len(variants)
    # values of every length to 40 bytes (each read path of the fold), then each byte of a 40-byte
    # value changed in turn: all distinct
    values = ["a" * n for n in range(41)]
    values += ["a" * i + "b" + "a" * (39 - i) for i in range(40)]
    h = _hashes(*(_pgn({"Site": v}) for v in values))
    assert len(set(h)) == len(values)


def test_game_hash_is_version_2() -> None:
    # the split of every dataset hangs on this value: a change to the hash must come with a new
    # prep.SPLIT_HASH_VERSION (and docs/formats.md), not silently
    tags = {"Site": "https://lichess.org/abcdefgh", "WhiteElo": "1500"}
    assert prep.SPLIT_HASH_VERSION == 2
    assert _hashes(_pgn(tags)) == [0xAECCAD3F985929D9]


def test_game_hash_spreads_games_over_the_split() -> None:
    pgn = "".join(_pgn({"Site": f"https://lichess.org/{i:08d}"}) for i in range(4000))
    out = _core.prep_chunk(pgn.encode(), False, 0, "move", val_fraction=0.25)
    val = len(out["val"]["game_hash"])
    assert len(out["train"]["game_hash"]) + val == 4000
    assert 0.22 < val / 4000 < 0.28  # 4000 draws at p = 0.25: sd 0.007


def _finished_dataset(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[Path, list]:
    """A finished `move` dataset of SAMPLE: its folder and the arguments that made it."""
    out = tmp_path / "d"
    base = [str(SAMPLE), "--out", str(out), "--quiet", "--tokenizer", "move"]
    assert prep.main(base) == 0
    capsys.readouterr()
    return out, base


def test_resume_refuses_a_dataset_of_another_split_hash(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, base = _finished_dataset(tmp_path, capsys)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["split"]["hash_version"] == prep.SPLIT_HASH_VERSION == 2
    del manifest["filters"]["split_hash"]  # as written by a chessformer before version 2
    (out / "manifest.json").write_text(json.dumps(manifest))
    assert prep.main([*base, "--resume"]) == 2
    assert "split hash version '<absent>' recorded, 2 now" in capsys.readouterr().err
    with pytest.raises(ValueError, match="split_hash 1"):
        prep.PrepConfig(split_hash=1)


def test_resume_refuses_unreadable_records(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, base = _finished_dataset(tmp_path, capsys)
    (out / "manifest.json").write_text("{not json")
    assert prep.main([*base, "--resume"]) == 2
    assert f"{out / 'manifest.json'} is not valid JSON" in capsys.readouterr().err
    (out / "progress.json").write_bytes(b"\xff\xfe")
    assert prep.main([*base, "--resume"]) == 2
    assert f"{out / 'progress.json'} is not UTF-8 text" in capsys.readouterr().err
    (out / "progress.json").write_text(
        '{"format": "chessformer-prep-progress", "format_version": 9}'
    )
    assert prep.main([*base, "--resume"]) == 2
    assert "progress.json: format_version 9 is not supported" in capsys.readouterr().err


def test_resume_after_crash(tmp_path: Path) -> None:
    zpath = tmp_path / "in.pgn.zst"
    raw = SAMPLE.read_bytes()
    zpath.write_bytes(zstandard.ZstdCompressor().compress(raw))
    inputs = [str(SAMPLE), str(zpath), str(DATA / "pgn" / "lichess_sample.pgn")]
    args = ["--tokenizer", "char", "--shard-tokens", "3000", "--chunk-mb", "0.06", "--quiet"]
    full = tmp_path / "full"
    assert prep.main([*inputs, "--out", str(full), *args]) == 0
    part = tmp_path / "part"
    cmd = [sys.executable, "-m", "chessformer", "prep", *inputs, "--out", str(part), *args]
    for crash_after in ("4", "12"):  # crash twice: in the first chunk, then after checkpoints
        env = {**os.environ, prep.CRASH_ENV: crash_after}
        r = subprocess.run([*cmd, "--resume"], env=env, capture_output=True)
        assert r.returncode == 75, r.stderr.decode()
        assert not (part / "manifest.json").exists()
    assert (part / "progress.json").exists()
    r = subprocess.run([*cmd, "--resume"], capture_output=True)
    assert r.returncode == 0, r.stderr.decode()
    assert b"resuming" in r.stderr
    assert tree_bytes(part) == tree_bytes(full)


def test_bad_inputs_do_not_stop_the_run(tmp_path: Path) -> None:
    raw = SAMPLE.read_bytes()
    comp = zstandard.ZstdCompressor(level=1).compress(raw)
    cut = tmp_path / "cut.pgn.zst"
    cut.write_bytes(comp[: len(comp) // 2])
    m = run_prep(tmp_path / "d", cut, SAMPLE, "--tokenizer", "move", status=3)
    c = m["counts"]
    assert len(c["input_errors"]) == 1 and "cut.pgn.zst" in c["input_errors"][0]
    assert 100 < c["kept"] < 200  # all of SAMPLE plus the intact part of the cut copy


def test_dataset_is_readable_by_data_module(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    from chessformer.data.dataset import Batcher, Dataset, GameStream

    for name in ("char", "move"):
        run_prep(tmp_path / name, SAMPLE, "--tokenizer", name, "--shard-tokens", "10000")
        ds = Dataset.open(tmp_path / name)
        assert (
            ds.tokenizer.name == name and ds.tokenizer.vocab_size == get_tokenizer(name).vocab_size
        )
        n = int(ds.splits["train"].shard_games.sum()) + int(ds.splits["val"].shard_games.sum())
        assert n == 100
        x, _y = Batcher(GameStream(ds.splits["train"], seed=0), ds.tokenizer, 64).next_batch(4)
        assert x.shape == (4, 64) and x.dtype == torch.int64


def shard_totals(root: Path, manifest: dict) -> tuple[int, int, int]:
    """(games, plies, tokens) as the shard files hold them, read from offsets and games files."""
    games = plies = tokens = 0
    for split in ("train", "val"):
        for shard in manifest["splits"][split]["shards"]:
            offsets = np.load(root / shard["offsets"])
            with np.load(root / shard["games"]) as z:
                plies += int(z["plies"].sum())
            games += len(offsets) - 1
            tokens += int(offsets[-1])
    return games, plies, tokens


def _offset_of_game(i: int) -> int:
    """The byte offset of SAMPLE's game ``i`` (0-based): where a run that stops after i games
    stops reading."""
    return [g.offset for g in read_games(SAMPLE)][i]


@pytest.mark.parametrize(
    "limit",
    [
        [],
        ["--max-games", "1"],
        ["--max-games", "30", "--chunk-mb", "0.01", "--workers", "2"],  # cut in chunk 2 (64 KiB)
    ],
)
def test_counts_match_shards(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], limit: list[str]
) -> None:
    m = run_prep(
        tmp_path / "d",
        SAMPLE,
        "--tokenizer",
        "move",
        "--val-fraction",
        "0.3",
        "--shard-tokens",
        "300",
        *limit,
    )
    c = m["counts"]
    games, plies, tokens = shard_totals(tmp_path / "d", m)
    assert (c["kept"], c["plies_kept"], c["tokens_kept"]) == (games, plies, tokens)
    assert c["train_games"] + c["val_games"] == games
    expected = int(limit[1]) if limit else 100
    assert games == expected and plies > 0
    # the games after the --max-games-th are not read, so not counted as read or dropped (issue
    # 17: the whole chunk of the stop was counted, the rest as dropped "max_games")
    assert c["games"] == games and c["dropped"] == {}
    assert c["bytes"] == (SAMPLE.stat().st_size if not limit else _offset_of_game(int(limit[1])))
    assert c["stopped_at_max_games"] == bool(limit)
    assert f"kept {games:,} ({plies:,} plies, {tokens:,} tokens)" in capsys.readouterr().err


def _parse_error(tmp_path: Path, capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """Run prep with arguments argparse must refuse; returns its message (exit status 2)."""
    out = tmp_path / "never"
    with pytest.raises(SystemExit) as e:
        prep.main([str(SAMPLE), "--out", str(out), "--quiet", *args])
    assert e.value.code == 2
    assert not out.exists()  # refused before any work
    return capsys.readouterr().err.splitlines()[-1]


@pytest.mark.parametrize(
    ("option", "value", "rule"),
    [
        ("--max-elo", "-5", ">= 0"),
        ("--min-elo", "-1", ">= 0"),
        ("--min-plies", "-3", ">= 0"),
        ("--workers", "0", ">= 1"),
        ("--workers", "-1", ">= 1"),
        ("--shard-tokens", "0", ">= 1"),
        ("--max-games", "0", ">= 1"),  # a run that may keep nothing is refused, not run
        ("--max-games", "-1", ">= 1"),
        ("--chunk-mb", "0", "> 0"),
        ("--chunk-mb", "-1", "> 0"),
        ("--chunk-mb", "inf", "> 0"),
        ("--val-fraction", "1.5", "[0, 1]"),
        ("--val-fraction", "nan", "[0, 1]"),
    ],
)
def test_numeric_options_out_of_range(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], option: str, value: str, rule: str
) -> None:
    msg = _parse_error(tmp_path, capsys, option, value)
    assert f"argument {option}:" in msg and rule in msg and repr(value) in msg


def test_numeric_options_not_numbers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert "not an integer: 'x'" in _parse_error(tmp_path, capsys, "--workers", "x")
    assert "not a number: 'x'" in _parse_error(tmp_path, capsys, "--chunk-mb", "x")


def test_bad_paths(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    afile = tmp_path / "afile"
    afile.write_text("x")
    cases = [
        ([str(DATA / "pgn")], tmp_path / "o1", "is a directory", str(DATA / "pgn")),
        ([str(SAMPLE)], afile, "exists and is not a directory", str(afile)),
        ([str(SAMPLE)], afile / "sub", "cannot create --out", str(afile / "sub")),
    ]
    if Path("/proc/self").is_dir():  # Linux: nothing can be created under /proc
        cases.append(([str(SAMPLE)], Path("/proc/x"), "cannot create --out", "/proc/x"))
    for inputs, out, problem, name in cases:
        assert prep.main([*inputs, "--out", str(out), "--quiet"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("prep: "), err
        assert problem in err and repr(name) in err
    assert not (tmp_path / "o1").exists()  # the input was checked before --out was created
    assert afile.read_text() == "x"


def test_zst_name_without_zstd_data(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pgn.zst"
    bad.write_bytes(b"garbage")
    m = run_prep(tmp_path / "d", bad, SAMPLE, "--tokenizer", "move", status=3)
    c = m["counts"]
    assert len(c["input_errors"]) == 1
    assert str(bad) in c["input_errors"][0] and "not zstd data" in c["input_errors"][0]
    assert c["kept"] == 100  # the next input is read in full
    assert [r["compressed"] for r in m["inputs"]] == [False, False]
    # zstd data under a plain name is recognised by its magic bytes and decompressed
    plain_name = tmp_path / "packed.pgn"
    plain_name.write_bytes(zstandard.ZstdCompressor().compress(SAMPLE.read_bytes()))
    m = run_prep(tmp_path / "e", plain_name, "--tokenizer", "move")
    assert m["counts"]["kept"] == 100 and m["counts"]["input_errors"] == []
    assert m["inputs"][0]["compressed"] is True


def test_corrupted_zst_keeps_the_games_before_the_damage(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = SAMPLE.read_bytes()
    bad, intact = damaged_zst(raw)  # 4 bytes flipped past the middle; the file is one read block
    damaged = tmp_path / "damaged.pgn.zst"
    damaged.write_bytes(bad)
    plain = tmp_path / "intact.pgn"
    plain.write_bytes(intact)
    args = ("--tokenizer", "move", "--val-fraction", "0")
    m = run_prep(tmp_path / "d", damaged, *args, status=3)
    err = capsys.readouterr().err
    assert "damaged.pgn.zst: zstd error" in err and "exit status 3" in err
    c = m["counts"]
    assert len(c["input_errors"]) == 1 and "damaged.pgn.zst" in c["input_errors"][0]
    ref = run_prep(tmp_path / "r", plain, *args)  # the intact bytes before the damage
    assert c["kept"] == ref["counts"]["kept"] > 30
    assert c["games"] == ref["counts"]["games"] and c["dropped"] == ref["counts"]["dropped"]
    # the kept games are the complete games before the damage, whole; the cut one is not kept
    games = list(read_games(io.BytesIO(intact), on_error="ignore"))
    complete = {g.offset: g for g in games if g.ok}
    cut = [g.offset for g in games if not g.ok]
    tok = get_tokenizer("move")
    kept = list(shard_games(tmp_path / "d", m, "train"))
    assert len(kept) == c["kept"]
    for tokens, meta in kept:
        g = complete[int(meta["byte_offset"])]
        assert tok.decode(tokens).moves == g.moves
    assert not set(cut) & {int(meta["byte_offset"]) for _, meta in kept}
    if cut:  # the game cut by the damage is counted as a parse error, not kept half
        assert sum(n for k, n in c["parse_errors"].items() if k.startswith("eof_in_")) == 1


def test_resume_of_a_finished_dataset_checks_options_and_inputs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "r1"
    base = [str(SAMPLE), "--out", str(out), "--quiet"]
    assert prep.main([*base, "--tokenizer", "char"]) == 0
    before = tree_bytes(out)
    capsys.readouterr()
    rc = prep.main([*base, "--tokenizer", "move", "--max-elo", "1000", "--resume"])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert "--resume refused" in err and str(out / "manifest.json") in err
    assert "--tokenizer 'char' recorded, 'move' now" in err
    assert "--max-elo -1 recorded, 1000 now" in err
    other = tmp_path / "other.pgn"
    other.write_bytes(SAMPLE.read_bytes())
    rc = prep.main([str(other), "--out", str(out), "--quiet", "--tokenizer", "char", "--resume"])
    err = capsys.readouterr().err
    assert rc == 2 and "inputs:" in err and str(other) in err, err
    assert tree_bytes(out) == before  # nothing touched
    # the same arguments: complete, nothing to do (workers and chunking may differ)
    rc = prep.main([*base, "--tokenizer", "char", "--resume", "--workers", "1"])
    assert rc == 0 and "already complete" in capsys.readouterr().err
    assert tree_bytes(out) == before


def test_resume_of_an_interrupted_run_refuses_other_options(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    part = tmp_path / "part"
    args = ["--tokenizer", "char", "--shard-tokens", "3000", "--chunk-mb", "0.06", "--quiet"]
    cmd = [sys.executable, "-m", "chessformer", "prep", str(SAMPLE), "--out", str(part), *args]
    r = subprocess.run(cmd, env={**os.environ, prep.CRASH_ENV: "6"}, capture_output=True)
    assert r.returncode == 75, r.stderr.decode()
    assert (part / "progress.json").exists() and not (part / "manifest.json").exists()
    before = tree_bytes(part)
    rc = prep.main([str(SAMPLE), "--out", str(part), *args, "--val-fraction", "0.5", "--resume"])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert str(part / "progress.json") in err and "--val-fraction 0.05 recorded, 0.5 now" in err
    assert tree_bytes(part) == before
    assert prep.main([str(SAMPLE), "--out", str(part), *args, "--resume"]) == 0
    assert "resuming" in capsys.readouterr().err


def test_formats_doc_examples_are_what_the_encoders_give() -> None:
    doc = (Path(__file__).parent.parent / "docs" / "formats.md").read_text()
    fools_mate = ["f2f3", "e7e5", "g2g4", "d8h4"]
    char = get_tokenizer("char").encode(fools_mate)
    assert f";1.f3 e5 2.g4 Qh4#\n{char.tolist()}" in doc
    move = get_tokenizer("move").encode(fools_mate, result="0-1")
    assert f"BOS f2f3 e7e5 g2g4 d8h4 0-1\n{move.tolist()}" in doc
    fen = get_tokenizer("fen").encode(["e2e4", "e7e5", "g1f3"]).tolist()
    assert len(fen) == 77 + 3 * 78
    block = doc.split("w rnbqkbnr pppppppp ........", 1)[1].split("```", 1)[0]
    numbers = [
        int(t) for line in block.splitlines() if line and line[0].isdigit() for t in line.split()
    ]
    moves = [
        int(line.split()[1]) for line in block.splitlines() if line[:4] in ("e2e4", "e7e5", "g1f3")
    ]
    assert [
        *numbers[:77],
        moves[0],
        *numbers[77:154],
        moves[1],
        *numbers[154:231],
        moves[2],
        *numbers[231:],
    ] == fen
