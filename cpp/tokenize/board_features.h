// Board features of the `move` tokenizer's tokens: the position each token leaves on the board, as
// a set of ids for the model's embedding bag (the "bitboard tokenizer"; docs/formats.md).
//
// Ids (FEATURES_VOCAB = 783, the last one padding):
//   0..767    piece on square: (colour * 6 + type - 1) * 64 + square  (Stockfish NNUE's 768 inputs)
//   768, 769  side to move: White, Black
//   770..773  castling rights K, Q, k, q
//   774..781  en passant file a..h (only when an en passant capture is legal)
//   782       padding
// A position has at most 32 + 1 + 4 + 1 = 38 ids (MAX_FEATURES); unused slots hold FEATURE_PAD.
// With `perspective`, a position with Black to move is seen from Black's side, as NNUE does: ranks
// mirrored (square ^ 56), colours swapped, castling rights swapped (K,Q <-> k,q); the side-to-move
// id stays absolute so the model still knows whose move it is.
//
// Per token of a game row [BOS, moves..., RESULT, PAD...]:
//   BOS          the standard start position
//   a move id    the position after the move
//   a result     the final position again
//   PAD          no features (all padding)
// The value target of a token is the game's result from the side to move's view in the position the
// token leaves: 0 loss, 1 draw, 2 win; -1 (ignored) when the row holds no known result, at result
// and padding tokens, and after a bad token.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/position.h"

namespace chess::tokenize {

constexpr int FEATURES_PIECE_SQUARE = 768;
constexpr int FEATURE_WHITE_TO_MOVE = 768;
constexpr int FEATURE_CASTLING = 770;  // + 0..3: K Q k q
constexpr int FEATURE_EP_FILE = 774;   // + file
constexpr int FEATURE_PAD = 782;
constexpr int FEATURES_VOCAB = 783;
constexpr int MAX_FEATURES = 38;

// Writes the ids of position s into out[0..MAX_FEATURES), padded; returns how many are real.
int position_features(const BoardState& s, bool perspective, int16_t* out);

// Plays the move with vocabulary id `id` (standard chess) from s into next; false when `id` is not
// a legal move of s. Builds the move from the id (no move generation: castling excepted) and tests
// that one move: the piece's reach, then the king's safety after it.
bool play_id(const BoardState& s, const CastlingInfo& ci, int id, BoardState& next);

// Bytes of one bit-packed legal-move mask (vocab::NUM_MOVES bits, little bit order: move id i is
// bit i % 8 of byte i / 8), as `legal_move_mask(..., packed=True)` returns.
constexpr int LEGAL_MASK_BYTES = (1968 + 7) / 8;

struct RowFeaturesStats {
  int64_t plies = 0;       // move tokens replayed
  int64_t bad_tokens = 0;  // rows cut at an illegal or unknown token
};

// Features (n_rows, n_cols, MAX_FEATURES) and value targets (n_rows, n_cols) of move-tokenizer rows
// (n_rows, n_cols), row-major. Each row is replayed from its BOS (tokens before a first BOS get
// no features); a token that is not legal there pads the rest of its row and counts as bad.
// With `legal` (n_rows, n_cols, LEGAL_MASK_BYTES) non-null, also the legal moves of the position
// each token leaves while a game goes on (what the next move token may be); every other token
// gets all bits set (no restriction).
template <typename Token>
RowFeaturesStats row_features(const Token* tokens, size_t n_rows, size_t n_cols, bool perspective,
                              int16_t* features, int8_t* values, uint8_t* legal = nullptr);

}  // namespace chess::tokenize
