"""The one tokenizer description (chessformer.data.tokenizers) against docs/formats.md's tables."""

import json
from pathlib import Path

import numpy as np
import pytest

from chessformer.data.dataset import Dataset, DatasetFormatError, write_dataset
from chessformer.data.tokenizers import (
    TOKENIZERS,
    decode_char,
    encode_char,
    get_tokenizer,
)


def test_description_is_the_documented_table() -> None:
    # docs/formats.md, "Game tokenizers": version, vocabulary, dtype, padding, game start
    rows = {
        name: (t.version, t.vocab_size, t.dtype, t.pad_id, t.game_start)
        for name, t in TOKENIZERS.items()
    }
    assert rows == {
        "char": (1, 32, "uint8", 0, 15),
        "move": (1, 1974, "uint16", 1968, 1969),
        "fen": (1, 2000, "uint16", 0, None),
    }
    assert TOKENIZERS["char"].symbols[15] == ";" and TOKENIZERS["char"].symbols[31] == "x"
    specials = {"PAD": 1968, "BOS": 1969, "1-0": 1970, "0-1": 1971, "1/2-1/2": 1972, "*": 1973}
    assert TOKENIZERS["move"].specials == specials


def test_results_encode_to_their_documented_tokens() -> None:
    move = TOKENIZERS["move"]
    cases = [("1-0", 1970), ("0-1", 1971), ("1/2-1/2", 1972), ("*", 1973), ("?", 1973)]
    for result, token in cases:
        ids = move.encode(["e2e4"], result=result)
        assert ids[0] == 1969 and ids[-1] == token and len(ids) == 3
        assert move.decode(ids).result == ("*" if result == "?" else result)


def test_char_text_round_trip() -> None:
    text = ";1.e4 e5 2.Nf3 Nc6 3.Bb5 a6 4.O-O"
    ids = encode_char(text)
    assert ids.dtype == np.uint8 and decode_char(ids) == text
    assert TOKENIZERS["char"].to_text(ids) == text
    with pytest.raises(ValueError, match="'!' of"):
        encode_char(";1.e4!")


def test_records_must_match_the_description(tmp_path: Path) -> None:
    char = TOKENIZERS["char"]
    assert get_tokenizer(char.info()) is char
    for change, message in [
        ({"dtype": "uint16"}, "dtype 'uint16' is not 'uint8'"),
        ({"pad_id": 3}, "pad_id 3 is not 0"),
        ({"name": "bpe"}, "unknown tokenizer 'bpe'"),
    ]:
        with pytest.raises(ValueError, match=message):
            get_tokenizer({**char.info(), **change})
    # a dataset whose manifest disagrees is refused, naming the manifest
    write_dataset(tmp_path, {"train": [encode_char(";1.e4")]}, char)
    manifest = tmp_path / "manifest.json"
    m = json.loads(manifest.read_text())
    manifest.write_text(json.dumps({**m, "tokenizer": {**m["tokenizer"], "vocab_size": 33}}))
    with pytest.raises(DatasetFormatError, match=r"manifest\.json: tokenizer 'char' vocab_size 33"):
        Dataset.open(tmp_path)
