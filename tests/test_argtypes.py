"""chessformer._argtypes: the shared argparse types reject bad values at parse time."""

import argparse

import pytest

from chessformer._argtypes import (
    csv_strings,
    fraction,
    int_at_least,
    int_list,
    number_list,
    positive_number,
)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="t", exit_on_error=False)
    p.add_argument("--workers", type=int_at_least(1))
    p.add_argument("--val", type=fraction)
    p.add_argument("--mb", type=positive_number)
    p.add_argument("--temps", type=number_list(at_least=0.0))
    p.add_argument("--levels", type=int_list)
    p.add_argument("--tc", type=csv_strings)
    return p


def test_good_values_parse() -> None:
    args = _parser().parse_args(
        [
            "--workers",
            "3",
            "--val",
            "0",
            "--mb",
            "0.5",
            "--temps",
            "0.001, 1,0",
            "--levels",
            "1,3",
            "--tc",
            "blitz, ,rapid",
        ]
    )
    assert (args.workers, args.val, args.mb) == (3, 0.0, 0.5)
    assert args.temps == (0.001, 1.0, 0.0) and args.levels == (1, 3)
    assert args.tc == ("blitz", "rapid")


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--workers", "0"], "must be an integer >= 1, got '0'"),
        (["--workers", "x"], "not an integer: 'x'"),
        (["--val", "1.5"], "must be in [0, 1], got '1.5'"),
        (["--val", "nan"], "must be in [0, 1], got 'nan'"),
        (["--mb", "inf"], "must be a finite number > 0, got 'inf'"),
        (["--temps", "0.5,-1"], "need numbers >= 0: '0.5,-1'"),
        (["--temps", ","], "need numbers >= 0: ','"),
        (["--temps", "a"], "not a comma-separated list of numbers: 'a'"),
        (["--levels", "1,x"], "not a comma-separated list of integers: '1,x'"),
        (["--levels", ""], "empty list: ''"),
    ],
)
def test_bad_values_name_the_rule(argv: list[str], message: str) -> None:
    with pytest.raises(argparse.ArgumentError) as err:
        _parser().parse_args(argv)
    assert message in str(err.value)
