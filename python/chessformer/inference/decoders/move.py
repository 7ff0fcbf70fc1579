"""The ``move`` tokenizer's decoder: one token per move, the logits restricted to the position's
legal moves (the C++ batch API), one forward pass and one draw per call."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from chessformer.board import Board, Move
from chessformer.data.tokenizers import Tokenizer
from chessformer.inference.decoders.base import Decoder, MoveChoice, Out, Sampling, Session


class MoveDecoder(Decoder):
    def __init__(self, session: Session, tokenizer: Tokenizer) -> None:
        super().__init__(session)
        self.tokenizer = tokenizer

    def prompt(self, board: Board) -> list[int]:
        """The game's tokens (BOS, then a token per move), windowed to the context."""
        tokens = self.tokenizer.encode(board).tolist()
        cut = self.window_cut(len(tokens), 1)
        return tokens if cut == 0 else tokens[:1] + tokens[cut:]

    def choose(
        self,
        boards: Sequence[Board],
        slots: list[int],
        restrict: list[set[str] | None],
        sampling: Sampling,
    ) -> Out:
        from chessformer import _core
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
        chunks = [s.sync(slots[i], self.prompt(boards[i])) for i in todo]
        cands = [legal[i] for i in todo]
        logits = s.feed([slots[i] for i in todo], chunks, cands)  # (n, V)
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
        logits = s.feed([slot], [s.sync(slot, self.prompt(board))], [cand])[0]
        return logits[torch.tensor(cand, device=logits.device)]
