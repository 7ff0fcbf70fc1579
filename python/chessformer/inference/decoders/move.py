"""The ``move`` tokenizer's decoder: one token per move, the logits restricted to the position's
legal moves (the C++ batch API), one forward pass and one draw per call."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from chessformer import _core
from chessformer.board import Board, Move
from chessformer.data.tokenizers import Tokenizer
from chessformer.inference.decoders.base import Decoder, MoveChoice, Out, Sampling, Session


class MoveDecoder(Decoder):
    def __init__(self, session: Session, tokenizer: Tokenizer) -> None:
        super().__init__(session)
        self.tokenizer = tokenizer

    def prompt(self, board: Board) -> list[int]:
        """The game's tokens (BOS, then a token per move), windowed to the context."""
        return self.windowed(board)[0]

    def windowed(self, board: Board) -> tuple[list[int], np.ndarray | None]:
        """The prompt and, for a board-aware model, each prompt token's board features: those
        of the whole game, windowed as its tokens (a token keeps the position it really leaves,
        also when the window drops the moves before it)."""
        tokens = self.tokenizer.encode(board).tolist()
        cut = self.window_cut(len(tokens), 1)
        feats = None
        mode = self.session.board_features
        if mode != "none":
            row = np.asarray(tokens, dtype=np.int64)[None, :]
            f = _core.board_features(row, mode == "perspective")[0][0]  # (L, MAX_FEATURES)
            feats = f if cut == 0 else np.concatenate([f[:1], f[cut:]])
        return (tokens if cut == 0 else tokens[:1] + tokens[cut:]), feats

    def _synced(
        self, slots: Sequence[int], boards: Sequence[Board]
    ) -> tuple[list[list[int]], list[np.ndarray] | None]:
        """What each slot must still be fed for its board, and those tokens' features."""
        chunks: list[list[int]] = []
        feats: list[np.ndarray] = []
        for slot, board in zip(slots, boards, strict=True):
            tokens, f = self.windowed(board)
            chunk = self.session.sync(slot, tokens)
            chunks.append(chunk)
            if f is not None:
                feats.append(f[len(tokens) - len(chunk) :])
        return chunks, (feats if self.session.board_features != "none" else None)

    def choose(
        self,
        boards: Sequence[Board],
        slots: list[int],
        restrict: list[set[str] | None],
        sampling: Sampling,
    ) -> Out:
        from chessformer.moves import MOVE_VOCAB, move_to_id

        out: Out = [None] * len(boards)
        ids_np, offsets = _core.legal_move_ids([b._board for b in boards])  # one C++ call
        all_ids, offs = ids_np.tolist(), offsets.tolist()
        legal: list[list[int]] = []
        for i, only in enumerate(restrict):
            legal.append(
                all_ids[offs[i] : offs[i + 1]]
                if only is None
                else sorted(move_to_id(u) for u in only)
            )
        todo = [i for i in range(len(boards)) if legal[i]]
        if not todo:
            return out
        s = self.session
        chunks, feats = self._synced([slots[i] for i in todo], [boards[i] for i in todo])
        cands = [legal[i] for i in todo]
        logits = s.feed([slots[i] for i in todo], chunks, cands, feats)  # (n, V)
        ids, probs = s.sampler.sample(
            logits,
            cands,
            sampling.temps_of(todo),
            sampling.top_k,
            sampling.top_p,
            sampling.keys_of(todo, 0),
        )
        for r, i in enumerate(todo):
            out[i] = MoveChoice(Move.from_uci(MOVE_VOCAB[ids[r]]), probs[r])
        return out

    def legal_logits(self, board: Board, slot: int, legal_uci: list[str]) -> torch.Tensor:
        from chessformer.moves import move_to_id

        cand = [move_to_id(u) for u in legal_uci]
        s = self.session
        chunks, feats = self._synced([slot], [board])
        logits = s.feed([slot], chunks, [cand], feats)[0]
        return logits[torch.tensor(cand, device=logits.device)]
