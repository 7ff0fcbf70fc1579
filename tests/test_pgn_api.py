"""chessformer.pgn.read_games: every quirk fixture, game-by-game agreement with python-chess on the
committed samples, inputs (.pgn, .pgn.zst, file objects, stdin) and broken .zst files."""

from __future__ import annotations

import io
import math
import subprocess
import sys
from pathlib import Path

import chess
import chess.pgn
import pytest
import zstandard
from conftest import damaged_zst

from chessformer import Board, _core
from chessformer.data.pgn import (
    Game,
    PgnInputError,
    PgnInputWarning,
    iter_chunk_parts,
    iter_chunks,
    read_games,
)

DATA = Path(__file__).parent / "data"
FIXTURES = DATA / "pgn"
SAMPLES = [DATA / "lichess_sample.pgn", FIXTURES / "lichess_sample.pgn"]

# fixture -> per game (number of moves replayed, error code or None)
EXPECTED: dict[str, list[tuple[int, str | None]]] = {
    "black_move_numbers.pgn": [(4, None), (4, None)],
    "blank_line_in_tags.pgn": [(1, None)],
    "castling_forms.pgn": [(20, None), (2, None)],
    "chess960_shredder_fen.pgn": [(16, None)],
    "comments_everywhere.pgn": [(4, None)],
    "crazyhouse_drops.pgn": [(6, "invalid_san"), (6, None)],
    "crlf_line_endings.pgn": [(4, None), (3, None)],
    "empty_games.pgn": [(0, None)] * 6,
    "escaped_quote_in_tag.pgn": [(2, None), (2, None), (1, None)],
    "fen_impossible_castling.pgn": [(10, None), (2, None)],
    "fen_setup_black_to_move.pgn": [(3, None)],
    "illegal_san_mid_game.pgn": [(2, "illegal_san"), (4, "ambiguous_san")],
    "latin1_names.pgn": [(4, None)],
    "lichess_eval_clk.pgn": [(4, None)],
    "lichess_sample.pgn": [(-1, None)] * 20,
    "long_san_forms.pgn": [(9, None), (5, None)],
    "missing_or_disagreeing_result.pgn": [(2, None)] * 4,
    "move_number_forms.pgn": [(20, None)],
    "nags_and_suffixes.pgn": [(14, None), (4, None)],
    "nested_variations.pgn": [(5, None)],
    "no_result_tag.pgn": [(7, None), (2, None), (1, None), (2, None)],
    "no_blank_line_after_tags.pgn": [(3, None), (2, None)],
    "no_blank_line_before_next_game.pgn": [(2, None), (2, None), (1, None)],
    "null_moves.pgn": [(1, "null_move")],
    "percent_escape_line.pgn": [(3, None)],
    "promotion_forms.pgn": [(4, None)],
    "prose_between_games.pgn": [(2, None), (2, None)],
    "pure_uci_movetext.pgn": [(6, None), (3, None)],
    "special_chars_in_tag_value.pgn": [(1, None)],
    "truncated_mid_comment.pgn": [(2, None), (1, "eof_in_comment")],
    "truncated_mid_move.pgn": [(2, None), (2, "eof_in_movetext")],
    "truncated_mid_tag.pgn": [(2, None), (0, "eof_in_tags")],
    "unknown_elo_timecontrol.pgn": [(2, None), (1, None)],
    "unterminated_brace.pgn": [(1, "unterminated_comment"), (2, None)],
    "unterminated_quote_in_tag.pgn": [(1, None), (1, None)],
    "unusual_tag_names_and_unicode.pgn": [(2, None)],
    "utf8_bom.pgn": [(7, None)],
}


def test_every_fixture_has_expectations() -> None:
    assert sorted(p.name for p in FIXTURES.glob("*.pgn")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture(name: str) -> None:
    games = list(read_games(FIXTURES / name))
    assert [
        (len(g.moves) if n >= 0 else n, g.error.code if g.error else None)
        for g, (n, _) in zip(games, EXPECTED[name], strict=False)
    ] == EXPECTED[name]
    assert len(games) == len(EXPECTED[name])
    for g in games:
        assert all(len(m) in (4, 5) for m in g.moves)


def test_fixture_details() -> None:
    (g,) = read_games(FIXTURES / "fen_setup_black_to_move.pgn")
    assert g.moves == ["c7c5", "g1f3", "d7d6"] and g.start_fen is not None
    (g,) = read_games(FIXTURES / "chess960_shredder_fen.pgn")
    assert g.chess960 and g.error is None
    board = chess.Board(g.start_fen, chess960=True)
    for m in g.moves:
        board.push_uci(m)  # python-chess agrees every move is legal
    g1, g2 = read_games(FIXTURES / "illegal_san_mid_game.pgn")
    assert g1.error is not None and (g1.error.ply, g1.error.token) == (2, "Ke3")
    assert g2.error is not None and (g2.error.ply, g2.error.token) == (4, "Nd2")
    (g,) = read_games(FIXTURES / "latin1_names.pgn")
    assert all(isinstance(v, str) for v in g.headers.values())
    (g,) = read_games(FIXTURES / "lichess_eval_clk.pgn")
    assert g.clocks is not None and g.evals is not None and len(g.clocks) == len(g.moves)
    assert not math.isnan(g.clocks[0])
    (g,) = read_games(FIXTURES / "null_moves.pgn")
    assert g.moves == ["e2e4"] and g.error is not None and g.error.token == "--"


def test_truncation_is_the_error_of_a_game_cut_mid_move() -> None:
    """docs/pgn.md row 12: the input ending inside `2. Nf` is the game's error; the replay error of
    the cut token is kept in `errors`, not hidden (nor does it hide the truncation)."""
    g1, g2 = read_games(FIXTURES / "truncated_mid_move.pgn")
    assert g1.ok and g1.errors == []
    assert g2.moves == ["e2e4", "e7e5"]
    assert g2.error is not None and (g2.error.code, g2.error.ply) == ("eof_in_movetext", 3)
    assert [(e.code, e.ply, e.token) for e in g2.errors] == [
        ("invalid_san", 2, "Nf"),
        ("eof_in_movetext", 3, ""),
    ]
    # an illegal move well before the end of a truncated game stays the error: it cut the game
    head = b'[Event "Cut"]\n[Result "1-0"]\n\n1. e4 e5 2. Ke3 Nc6 3. Nf3 Nf6 4. Bc'
    (g,) = read_games(io.BytesIO(head))
    assert g.error is not None and (g.error.code, g.error.ply) == ("illegal_san", 2)
    assert [e.code for e in g.errors] == ["illegal_san", "eof_in_movetext"]
    # a truncated game whose tokens all replay: the truncation alone
    whole = b'[Event "Cut"]\n[Result "1-0"]\n\n1. e4 e5 2. Nf3 Nc6 3. Bc4 Nf6 4. d3'
    (g,) = read_games(io.BytesIO(whole))
    assert g.error is not None and g.error.code == "eof_in_movetext"
    assert [e.code for e in g.errors] == ["eof_in_movetext"] and len(g.moves) == 7


def test_bad_arguments_raise_at_once() -> None:
    with pytest.raises(ValueError, match="on_error must be one of 'warn', 'raise', 'ignore'"):
        read_games(DATA / "lichess_sample.pgn", on_error="bogus")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="chunk_size"):
        read_games(DATA / "lichess_sample.pgn", chunk_size=0)
    with pytest.raises(TypeError, match=r"io\.BytesIO"):
        read_games(b'[Event "x"]\n\n1. e4 *\n')  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"file object.*got int"):
        read_games(3)  # type: ignore[arg-type]
    games = read_games(Path("/nonexistent/x.pgn"))  # opened lazily, on the first game
    with pytest.raises(PgnInputError, match=r"cannot open '/nonexistent/x\.pgn'"):
        next(games)


def test_text_streams_are_read_as_utf8(tmp_path: Path) -> None:
    want = [(g.moves, g.headers) for g in read_games(DATA / "lichess_sample.pgn")]
    text = (DATA / "lichess_sample.pgn").read_text(encoding="utf-8")
    assert [(g.moves, g.headers) for g in read_games(io.StringIO(text))] == want
    assert [(g.moves, g.headers) for g in read_games(io.StringIO(text), chunk_size=4096)] == want
    with open(DATA / "lichess_sample.pgn", encoding="utf-8") as f:
        assert [(g.moves, g.headers) for g in read_games(f)] == want
    (g,) = read_games(io.StringIO('[Event "x"]\n[White "Ürsula"]\n\n1. e4 e5 *\n'))
    assert g.headers["White"] == "Ürsula" and g.moves == ["e2e4", "e7e5"]


def test_lichess_sample_annotations() -> None:
    games = list(read_games(DATA / "lichess_sample.pgn", san=True))
    assert len(games) == 100 and all(g.ok for g in games)
    with_eval = [g for g in games if g.evals is not None]
    assert 5 <= len(with_eval) < 50
    for g in games:
        assert g.san is not None and len(g.san) == len(g.moves)
        if g.headers["TimeControl"] != "-":
            assert g.clocks is not None and not any(math.isnan(c) for c in g.clocks)
    assert list(games[0].headers)[:7] == [
        "Event",
        "Site",
        "Date",
        "Round",
        "White",
        "Black",
        "Result",
    ]


def _python_chess_games(path: Path) -> list[chess.pgn.Game]:
    out = []
    with open(path, encoding="utf-8", errors="replace") as f:
        while (g := chess.pgn.read_game(f)) is not None:
            out.append(g)
    return out


def _agree(ours: Game, theirs: chess.pgn.Game) -> None:
    if theirs.errors:
        assert ours.error is not None, (ours.headers, theirs.errors)
        return
    assert ours.error is None, ours.error
    assert ours.moves == [m.uci() for m in theirs.mainline_moves()]
    for k, v in ours.headers.items():
        assert theirs.headers.get(k) == v, k


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.parent.name + "/" + p.name)
def test_agrees_with_python_chess(path: Path) -> None:
    ours = list(read_games(path))
    theirs = _python_chess_games(path)
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs, strict=True):
        _agree(a, b)


@pytest.mark.parametrize(
    "name",
    [
        "black_move_numbers.pgn",
        "comments_everywhere.pgn",
        "crlf_line_endings.pgn",
        "illegal_san_mid_game.pgn",
        "lichess_eval_clk.pgn",
        "move_number_forms.pgn",
        "nags_and_suffixes.pgn",
        "nested_variations.pgn",
        "fen_setup_black_to_move.pgn",
        "fen_impossible_castling.pgn",
        "no_result_tag.pgn",
        "percent_escape_line.pgn",
    ],
)
def test_fixture_agrees_with_python_chess(name: str) -> None:
    ours = list(read_games(FIXTURES / name))
    theirs = _python_chess_games(FIXTURES / name)
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs, strict=True):
        _agree(a, b)


def test_result_header_from_the_termination_marker() -> None:
    """A game without a Result tag takes its result from the game-termination marker, as
    python-chess reads it; a Result tag is kept as the file gives it."""
    path = FIXTURES / "no_result_tag.pgn"
    ours = list(read_games(path))
    theirs = _python_chess_games(path)
    assert [g.headers.get("Result") for g in ours] == ["1-0", None, "*", "1/2-1/2"]
    for a, b in zip(ours, theirs, strict=True):
        if "Result" in a.headers:
            assert a.headers["Result"] == b.headers["Result"]
    assert [w.code for w in ours[1].warnings] == ["missing_result"]


def test_fen_tag_with_impossible_castling_rights() -> None:
    """A FEN tag whose castling rights the position cannot have (a real Lichess study) loses those
    rights, with a warning, not the game; the start position is python-chess's reading of the FEN
    in standard chess. A FEN given to Board stays strict."""
    path = FIXTURES / "fen_impossible_castling.pgn"
    ours = list(read_games(path))
    theirs = _python_chess_games(path)
    assert [(w.code, w.token, w.fatal) for g in ours for w in g.warnings] == [
        ("fen_castling_dropped", "Kq", False),
        ("fen_castling_dropped", "Q", False),
    ]
    for a, b in zip(ours, theirs, strict=True):
        assert a.ok and a.moves == [m.uci() for m in b.mainline_moves()]
        assert a.start_fen == chess.Board(b.headers["FEN"]).fen()
    assert ours[1].moves == ["e1g1", "e8c8"]  # the rights that remain still castle
    with pytest.raises(ValueError, match="castling right 'K'"):
        Board(ours[0].headers["FEN"])


def test_inputs_zst_fileobj_stdin(tmp_path: Path) -> None:
    raw = (DATA / "lichess_sample.pgn").read_bytes()
    want = [g.moves for g in read_games(DATA / "lichess_sample.pgn")]
    zpath = tmp_path / "s.pgn.zst"
    zpath.write_bytes(zstandard.ZstdCompressor().compress(raw))
    assert [g.moves for g in read_games(zpath)] == want
    assert [g.moves for g in read_games(io.BytesIO(raw))] == want
    # small chunks: the cut points move, the games do not
    assert [g.moves for g in read_games(io.BytesIO(raw), chunk_size=4096)] == want
    code = (
        "import sys; from chessformer.data.pgn import read_games; "
        "print(sum(len(g.moves) for g in read_games('-')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], input=zpath.read_bytes(), capture_output=True, check=True
    )
    assert int(out.stdout) == sum(len(m) for m in want)


def test_chunks_cover_the_stream() -> None:
    raw = (DATA / "lichess_sample.pgn").read_bytes()
    blocks = [raw[i : i + 1000] for i in range(0, len(raw), 1000)]
    chunks = list(iter_chunks(iter(blocks), 5000))
    assert b"".join(c for c, _, _ in chunks) == raw
    assert all(c.startswith(b'[Event "') for c, _, _ in chunks)
    assert [more for _, _, more in chunks][-1] is False
    assert all(base == raw.index(c) for c, base, _ in chunks if c)


@pytest.mark.parametrize("step", [7, 1000, 4096, 100_000])
def test_chunk_parts_cover_the_stream(step: int) -> None:
    raw = (DATA / "lichess_sample.pgn").read_bytes()
    blocks = [raw[i : i + step] for i in range(0, len(raw), step)]
    chunks = list(iter_chunk_parts(iter(blocks), 5000))
    joined = [b"".join(c.parts) for c in chunks]
    assert b"".join(joined) == raw
    assert not any(c.oversized for c in chunks)
    assert all(c.startswith(b'[Event "') for c in joined if c)
    assert [c.length for c in chunks] == [len(c) for c in joined]
    assert all(c.base == raw.index(j) for c, j in zip(chunks, joined, strict=True) if j)
    assert [c.more for c in chunks][-1] is False
    # the cut is the last game boundary in sight: a chunk but the last is never much over the size
    assert all(len(j) < 5000 + step + 3000 for j in joined[:-1])
    # whole games: the chunks parsed one by one give the games of the whole stream
    games = [r[2] for c in chunks for r in _core.read_chunk(c.parts, c.more, c.base)]
    assert games == [r[2] for r in _core.read_chunk(raw, False)]


def _game(i: int) -> bytes:
    return b'[Event "g%d"]\n\n1. e4 e5 2. Nf3 Nc6 1-0\n\n' % i


@pytest.mark.parametrize("step", [5, 64, 4096, 1 << 20])
@pytest.mark.parametrize("junk", [b"\0", b"1. e4 e5 ", b"\n", b"{ comment ", b'[White "'])
def test_oversized_games_are_skipped_and_reported(step: int, junk: bytes) -> None:
    """A game over the limit is skipped to the next game and reported (offset, length); the games
    around it are read as usual (issue 18: a stream without separators grew one chunk forever)."""
    big = junk * (300_000 // len(junk))
    before, after = b"".join(map(_game, range(50))), b"".join(map(_game, range(50, 60)))
    raw = before + b'[Event "big"]\n' + big + b"\n\n" + after
    blocks = [raw[i : i + step] for i in range(0, len(raw), step)]
    items = list(iter_chunk_parts(iter(blocks), 1000, max_game=100_000))
    assert b"".join(b"".join(c.parts) for c in items) == before + after
    skipped = [(c.base, c.length) for c in items if c.oversized]
    assert skipped == [(len(before), len(raw) - len(before) - len(after))]
    games = list(read_games(io.BytesIO(raw), chunk_size=1000, max_game_bytes=100_000))
    assert [g.headers.get("Event") for g in games] == [
        *(f"g{i}" for i in range(50)),
        None,
        *(f"g{i}" for i in range(50, 60)),
    ]
    flagged = games[50]
    assert flagged.error is not None and flagged.error.code == "game_too_large"
    assert flagged.offset == len(before)


def test_a_stream_without_any_separator_is_one_oversized_game() -> None:
    raw = b"\0" * 1_000_000
    blocks = [raw[i : i + 4096] for i in range(0, len(raw), 4096)]
    items = list(iter_chunk_parts(iter(blocks), 1000, max_game=10_000))
    assert [(c.oversized, c.base, c.length, c.more) for c in items] == [
        (True, 0, len(raw), True),
        (False, len(raw), 0, False),
    ]


def test_chunk_given_in_pieces() -> None:
    raw = (DATA / "lichess_sample.pgn").read_bytes()
    cut = raw.index(b'[Event "', len(raw) // 2)
    pieces = [raw[:100], memoryview(raw)[100:cut], bytearray(raw[cut:])]
    whole = _core.prep_chunk(raw, False, 0, "move", keep_unfinished=True)
    split = _core.prep_chunk(pieces, False, 0, "move", keep_unfinished=True)
    assert whole["stats"] == split["stats"]
    for s in ("train", "val"):
        for k, v in whole[s].items():
            assert (v == split[s][k]).all(), k
    assert _core.read_chunk(raw, False) == _core.read_chunk(tuple(pieces), False)
    with pytest.raises(TypeError):
        _core.prep_chunk([raw, 3], False, 0, "move")


def test_truncated_zst(tmp_path: Path) -> None:
    raw = (DATA / "lichess_sample.pgn").read_bytes()
    comp = zstandard.ZstdCompressor(level=1).compress(raw)
    full = [g.moves for g in read_games(DATA / "lichess_sample.pgn")]
    path = tmp_path / "cut.pgn.zst"
    path.write_bytes(comp[: len(comp) * 2 // 3])
    with pytest.warns(PgnInputWarning, match="cut.pgn.zst"):
        games = list(read_games(path))
    assert 0 < len(games) < len(full)
    assert [g.moves for g in games[:-1]] == full[: len(games) - 1]  # earlier games intact
    assert games[-1].error is not None  # the last one flagged
    with pytest.raises(PgnInputError):
        list(read_games(path, on_error="raise"))


def test_corrupted_zst(tmp_path: Path) -> None:
    raw = (DATA / "lichess_sample.pgn").read_bytes()
    half = raw.index(b'[Event "', len(raw) // 2)
    cctx = zstandard.ZstdCompressor(level=1, write_checksum=True)
    second = bytearray(cctx.compress(raw[half:]))
    second[:4] = b"\x00\x01\x02\x03"  # a broken second frame
    path = tmp_path / "bad.pgn.zst"
    path.write_bytes(cctx.compress(raw[:half]) + bytes(second))
    first = [g.moves for g in read_games(io.BytesIO(raw[:half]))]
    with pytest.warns(PgnInputWarning, match="bad.pgn.zst"):
        games = list(read_games(path))
    assert [g.moves for g in games] == first and all(g.ok for g in games)
    # damage inside a frame: the checksum catches it at the frame's end
    one = bytearray(cctx.compress(raw))
    one[len(one) // 2 : len(one) // 2 + 64] = bytes(64)
    path.write_bytes(bytes(one))
    with pytest.warns(PgnInputWarning, match="bad.pgn.zst"):
        list(read_games(path))


def test_corruption_keeps_the_games_before_it(tmp_path: Path) -> None:
    # the whole file is smaller than one read block: decompressing it in one call lost every game
    raw = (DATA / "lichess_sample.pgn").read_bytes()
    bad, intact = damaged_zst(raw)
    path = tmp_path / "damaged.pgn.zst"
    path.write_bytes(bad)
    expected = list(read_games(io.BytesIO(intact), on_error="raise"))
    assert len(expected) > 30
    with pytest.warns(PgnInputWarning, match=r"damaged\.pgn\.zst: zstd error"):
        games = list(read_games(path))
    assert [(g.offset, g.moves, g.error) for g in games] == [
        (g.offset, g.moves, g.error) for g in expected
    ]
    full = list(read_games(DATA / "lichess_sample.pgn"))
    assert all(g.ok for g in games[:-1]) and [g.moves for g in games[:-1]] == [
        g.moves for g in full[: len(games) - 1]
    ]
    last = games[-1]  # the game the damage cuts: flagged, unless it ended just before the damage
    if last.ok:
        assert last.moves == full[len(games) - 1].moves
    else:
        assert last.error is not None and last.error.code.startswith("eof_in_")
        assert len(last.moves) < len(full[len(games) - 1].moves)
    with pytest.raises(PgnInputError, match=r"damaged\.pgn\.zst"):
        list(read_games(path, on_error="raise"))
    # prep reads it the same way (smaller and larger read blocks)
    for chunk_size in (1 << 16, 1 << 22):
        again = list(read_games(path, on_error="ignore", chunk_size=chunk_size))
        assert [g.moves for g in again] == [g.moves for g in games]
