"""``chessformer.pgn``: the public name of :mod:`chessformer.data.pgn` (reading PGN games)."""

from chessformer.data.pgn import *  # noqa: F403
from chessformer.data.pgn import __all__ as __all__
