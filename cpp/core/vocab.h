// The 1968-move vocabulary shared by the `move` tokenizer, the model's output layer and the batch
// legal-move API. Layout (documented in docs/formats.md, "Move vocabulary"):
//   ids 0..1791     every (from, to) pair a queen or a knight could travel, ordered by from, then to
//   ids 1792..1967  the 176 promotions (44 pawn from->to pairs x 4 pieces), ordered by from, to, then
//                   piece in the order n, b, r, q
// Squares are absolute (a1 = 0). Castling is the king's two-square move (e1g1), as in UCI; in
// Chess960 it is king-takes-rook (the king's destination could also be a plain king move there).
#pragma once

#include <cstdint>
#include <string>

#include "core/position.h"

namespace chess::vocab {

constexpr int NUM_MOVES = 1968;
constexpr int NUM_PLAIN = 1792;

// Vocabulary id of (from, to, promotion), or -1 when the triple is not in the vocabulary.
int id_of(int from, int to, PieceType promotion = NO_PIECE_TYPE);
// Id of a legal move of `s`.
int id_of(const BoardState& s, Move m, bool chess960 = false);

struct Entry {
  uint8_t from, to;
  PieceType promotion;  // NO_PIECE_TYPE for the plain pairs
};
const Entry& entry(int id);
std::string uci_of(int id);

}  // namespace chess::vocab
