"""Per-tokenizer decoders: from boards to prompts, and from logits to legal moves.

``move`` (one token a move, masked to the legal moves) and ``char`` (a SAN spelled character by
character: constrained decoding, or the paper's harness).
"""

from chessformer.data.tokenizers import Tokenizer
from chessformer.inference.decoders.base import Decoder, MoveChoice, Out, Sampling, Session
from chessformer.inference.decoders.char import CharDecoder
from chessformer.inference.decoders.move import MoveDecoder

__all__ = ["Decoder", "MoveChoice", "Out", "Sampling", "Session", "make_decoder"]


def make_decoder(session: Session, tokenizer: Tokenizer) -> Decoder:
    if tokenizer.name == "move":
        return MoveDecoder(session, tokenizer)
    if tokenizer.name == "char":
        return CharDecoder(session)
    raise ValueError(f"inference supports the char and move tokenizers, not {tokenizer.name!r}")
