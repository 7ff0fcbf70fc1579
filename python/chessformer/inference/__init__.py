"""Stage 3 of the flow: batched KV-cache inference with legal-move masking.

``InferenceEngine`` plays many games at once (see ``engine``); ``bench`` is `chessformer bench`.
"""

from chessformer.inference.engine import InferenceEngine, MoveChoice

__all__ = ["InferenceEngine", "MoveChoice"]
