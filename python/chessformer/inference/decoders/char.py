"""The ``char`` tokenizer's decoders: a move is a SAN spelled one character a forward pass.

- ``masked`` (constrained decoding): at each character only those that continue some legal SAN
  of the position are allowed (a walk down the prefix trie of the legal SANs); characters forced
  by the trie (and move numbers) are fed without sampling.
- ``paper`` reproduces the paper's harness: unconstrained characters until a space (at most 10),
  up to 5 resamples of an illegal move, then no move (the game is lost); a sampled result string
  (``1-0``, ``0-1``) is a resignation (no move, ``resigned=True``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from chessformer.board import Board, Move
from chessformer.data.tokenizers import CHAR_ID, CHAR_VOCAB, char_ids
from chessformer.inference.decoders.base import (
    MAX_SAN_CHARS,
    Decoder,
    MoveChoice,
    Out,
    Sampling,
)

PAPER_ATTEMPTS = 5  # the paper resamples an illegal move up to 5 times
# Paper decoding: a result written in place of a move is a resignation. The paper's 32-character
# vocabulary has no "/", so only "1-0" and "0-1" can be written (a draw cannot be claimed).
RESULT_STRINGS = frozenset({"1-0", "0-1"})


@dataclass
class _CharState:
    """One game's progress through constrained (or paper) character decoding."""

    pending: list[int]  # tokens to feed on the next forward pass
    sans: dict[str, str]  # legal SAN -> UCI (restricted by searchmoves)
    prompt_last: int = 0  # paper decoding: the prompt's last token, re-fed to resample
    prompt_len: int = 0
    typed: str = ""  # SAN characters chosen so far
    prob: float = 1.0
    attempt: int = 1
    cands: list[str] | None = None  # the SANs starting with ``cands_for`` (narrowed lazily)
    cands_for: str = ""

    def continuations(self) -> str:
        """The characters that continue ``typed`` in some SAN (a walk down the prefix trie:
        ``typed`` only grows, so the candidates are narrowed from the previous ones)."""
        if self.cands is None:
            self.cands, self.cands_for = list(self.sans), ""
        if self.cands_for != self.typed:
            self.cands = [s for s in self.cands if s.startswith(self.typed)]
            self.cands_for = self.typed
        k = len(self.typed)
        return "".join(sorted({s[k] for s in self.cands if len(s) > k}))


class CharDecoder(Decoder):
    def prompt(self, board: Board) -> tuple[list[int], dict[str, str]]:
        """Tokens up to where the next SAN starts (";1.e4 e5 2."), and SAN -> UCI of the legal
        moves."""
        from chessformer import _core
        from chessformer.board import STARTING_FEN

        if board._board.start_fen() == STARTING_FEN:
            text = _core.char_transcript(board._board)
        else:
            # A game set up from a FEN: number the moves from its move number (off the paper's
            # distribution, but the model still sees the moves played since the setup).
            replay = Board(board._board.start_fen(), chess960=board.chess960)
            parts = []
            for mv in board.move_stack:
                san = replay.san(mv)
                parts.append(f"{replay.fullmove_number}.{san}" if replay.turn else san)
                replay.push(mv)
            text = ";" + " ".join(parts)
        if len(text) > 1:
            text += " "
        if board.turn:
            text += f"{board.fullmove_number}."
        tokens = char_ids(text)
        cut = self.window_cut(len(text), 1)
        if cut:
            # keep ';' and restart the window at a White move number at or after the cut
            j = cut
            while j < len(text) and not (text[j - 1] == " " and text[j].isdigit()):
                j += 1
            tokens = [CHAR_ID[";"], *char_ids(text[j:])]
        # one C++ call each: SANs and UCIs of the legal moves, in the same order
        legal = dict(zip(board._board.sans(), board._board.legal_moves_uci(), strict=True))
        return tokens, legal

    def choose(
        self,
        boards: Sequence[Board],
        slots: list[int],
        restrict: list[set[str] | None],
        sampling: Sampling,
    ) -> Out:
        out: Out = [None] * len(boards)
        state: dict[int, _CharState] = {}
        for i, b in enumerate(boards):
            tokens, legal = self.prompt(b)
            r = restrict[i]
            sans = legal if r is None else {san: uci for san, uci in legal.items() if uci in r}
            if not sans:
                continue  # no legal move: out[i] stays None
            state[i] = _CharState(
                self.session.sync(slots[i], tokens),
                sans,
                prompt_last=tokens[-1],
                prompt_len=len(tokens),
            )
        if sampling.decoding == "paper":
            self._paper(boards, slots, state, out, sampling)
        else:
            self._masked(slots, state, out, sampling)
        return out

    def _masked(
        self, slots: list[int], state: dict[int, _CharState], out: Out, sampling: Sampling
    ) -> None:
        s = self.session
        active = list(state)
        draw = 0
        while active:
            still = []
            for i in active:
                st = state[i]
                # characters forced by the trie need no sampling: feed them with the next pass
                nxt = st.continuations()
                while len(nxt) == 1 and st.typed not in st.sans:
                    st.typed += nxt
                    st.pending.append(CHAR_ID[nxt])
                    nxt = st.continuations()
                if st.typed in st.sans and not nxt:
                    # done; the SAN's last character is fed with the next call's tokens
                    out[i] = MoveChoice(Move.from_uci(st.sans[st.typed]), st.prob, 1, st.typed)
                else:
                    still.append(i)
            active = still
            if not active:
                break
            logits = s.feed([slots[i] for i in active], [state[i].pending for i in active])
            legal = [[CHAR_ID[c] for c in state[i].continuations()] for i in active]
            ids, probs = s.sampler.sample(
                logits,
                legal,
                sampling.temps_of(active),
                sampling.top_k,
                sampling.top_p,
                sampling.keys_of(active, draw),
            )
            draw += 1
            for r, i in enumerate(active):
                st = state[i]
                st.typed += CHAR_VOCAB[ids[r]]
                st.prob *= probs[r]
                st.pending = [ids[r]]

    def _paper(
        self,
        boards: Sequence[Board],
        slots: list[int],
        state: dict[int, _CharState],
        out: Out,
        sampling: Sampling,
    ) -> None:
        """The paper's decoding: free characters up to a space (<= 10); resample if illegal; a
        result string resigns."""
        s = self.session
        active = list(state)
        draw = 0
        while active:
            logits = s.feed([slots[i] for i in active], [state[i].pending for i in active])
            ids, probs = s.sampler.sample(
                logits, None, sampling.temps_of(active), None, None, sampling.keys_of(active, draw)
            )
            draw += 1
            still = []
            for r, i in enumerate(active):
                st = state[i]
                c = CHAR_VOCAB[ids[r]] if ids[r] < len(CHAR_VOCAB) else "?"
                if c not in " ;" and len(st.typed) < MAX_SAN_CHARS:
                    st.typed += c
                    st.prob *= probs[r]
                    st.pending = [ids[r]]
                    still.append(i)
                    continue
                if st.typed in RESULT_STRINGS:  # the model wrote a result: it resigns
                    out[i] = MoveChoice(None, st.prob, st.attempt, st.typed, resigned=True)
                    continue
                move: Move | None = None
                try:
                    move = boards[i].parse_san(st.typed) if st.typed else None
                except ValueError:
                    move = None
                if move is not None and move.uci() in st.sans.values():
                    out[i] = MoveChoice(move, st.prob, st.attempt, st.typed)
                elif st.attempt >= PAPER_ATTEMPTS:
                    out[i] = MoveChoice(None, 0.0, st.attempt, st.typed)
                else:
                    # resample from the prompt: forget the sampled characters' cache entries
                    del s.slot_tokens[slots[i]][st.prompt_len - 1 :]
                    st.pending = [st.prompt_last]
                    st.typed, st.prob, st.attempt = "", 1.0, st.attempt + 1
                    still.append(i)
            active = still

    def legal_logits(self, board: Board, slot: int, legal_uci: list[str]) -> torch.Tensor:
        """Log-probability of each legal move's SAN (and the space after it), teacher-forced
        one character at a time; the slot's cache is left as it was."""
        s = self.session
        tokens, legal = self.prompt(board)
        uci_to_san = {u: san for san, u in legal.items()}
        prefix = torch.log_softmax(s.feed([slot], [s.sync(slot, tokens)])[0], -1)
        scores = []
        for uci in legal_uci:
            ids = char_ids(uci_to_san[uci] + " ")
            lp = float(prefix[ids[0]])
            if len(ids) > 1:
                saved = list(s.slot_tokens[slot])
                rows = torch.stack([s.feed([slot], [[t]])[0] for t in ids[:-1]])  # (k, V)
                target = torch.tensor(ids[1:], device=rows.device)[:, None]
                lp += float(torch.log_softmax(rows, -1).gather(1, target).sum())
                s.slot_tokens[slot] = saved
            scores.append(lp)
        return torch.tensor(scores)
