"""chessformer._io: whole-or-nothing writes and versioned JSON reading."""

import json
import os
import stat
from pathlib import Path

import pytest

from chessformer._io import (
    TEMP_GLOB,
    read_json,
    read_versioned_json,
    replacing,
    write_atomic,
    write_json,
)


def test_replacing_keeps_the_old_file_when_the_writer_fails(tmp_path: Path) -> None:
    path = tmp_path / "results.csv"
    path.write_text("old\n")
    with pytest.raises(RuntimeError), replacing(path) as tmp:
        tmp.write_text("half of the new")
        raise RuntimeError("killed")
    assert path.read_text() == "old\n"
    assert not list(tmp_path.glob(TEMP_GLOB))  # nothing left beside it
    write_atomic(path, "new\n")
    assert path.read_text() == "new\n" and not list(tmp_path.glob(TEMP_GLOB))


def test_written_files_get_the_permissions_open_gives(tmp_path: Path) -> None:
    (tmp_path / "plain").write_text("x")
    write_atomic(tmp_path / "atomic", b"x")
    mode = [stat.S_IMODE(os.stat(tmp_path / n).st_mode) for n in ("plain", "atomic")]
    assert mode[0] == mode[1]


def test_write_json_is_strict_unless_asked(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    with pytest.raises(ValueError):
        write_json(path, {"x": float("nan")})
    assert not path.exists()
    write_json(path, {"x": float("inf")}, allow_nan=True)
    assert json.loads(path.read_text()) == {"x": float("inf")}


def test_versioned_json_errors_name_the_file_and_the_rule(tmp_path: Path) -> None:
    class Refused(Exception):
        pass

    path = tmp_path / "manifest.json"
    cases = [
        (None, "manifest.json: not found"),
        (b"\xff\xfe", "manifest.json is not UTF-8 text"),
        (b'{"format": "x", ', "manifest.json is not valid JSON"),
        (b"[1, 2]", "format is None, expected 'thing'"),
        (b'{"format": "other"}', "format is 'other', expected 'thing'"),
        (b'{"format": "thing", "format_version": 9}', "format_version 9 is not supported"),
    ]
    for data, message in cases:
        if data is not None:
            path.write_bytes(data)
        with pytest.raises(Refused, match=message):
            read_versioned_json(path, "thing", 1, Refused)
    path.write_text('{"format": "thing", "format_version": 1, "n": 3}')
    assert read_versioned_json(path, "thing", 1)["n"] == 3
    with pytest.raises(ValueError, match="is a folder"):
        read_json(tmp_path)
