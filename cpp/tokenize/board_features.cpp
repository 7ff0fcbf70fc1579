// Board features of move-tokenizer rows (board_features.h): replay each row from its BOS, one
// copy-make per move, and write the ids of every position.
#include "tokenize/board_features.h"

#include <cstdlib>
#include <cstring>

#include "core/vocab.h"
#include "tokenize/tokenizers.h"

namespace chess::tokenize {

int position_features(const BoardState& s, bool perspective, int16_t* out) {
  const bool flip = perspective && s.side == BLACK;
  const int sq_xor = flip ? 56 : 0;
  const int colour_xor = flip ? 1 : 0;
  int n = 0;
  Bitboard occ = s.pieces();
  while (occ) {
    const Square sq = pop_lsb(occ);
    const Piece p = s.board[sq];
    const int colour = int(color_of(p)) ^ colour_xor;
    out[n++] = int16_t((colour * 6 + int(type_of(p)) - 1) * 64 + (int(sq) ^ sq_xor));
  }
  out[n++] = int16_t(FEATURE_WHITE_TO_MOVE + int(s.side));
  // bits K Q k q; seen from Black, Black's rights are "ours" (the first two ids)
  const int rights = flip ? ((s.castling >> 2) | ((s.castling & 3) << 2)) : s.castling;
  for (int r = 0; r < 4; ++r)
    if (rights & (1 << r)) out[n++] = int16_t(FEATURE_CASTLING + r);
  if (s.ep != SQ_NONE) out[n++] = int16_t(FEATURE_EP_FILE + file_of(s.ep));
  for (int i = n; i < MAX_FEATURES; ++i) out[i] = FEATURE_PAD;
  return n;
}

namespace {

Bitboard piece_attacks(PieceType t, int from, Bitboard occ) {
  switch (t) {
    case KNIGHT: return knight_attacks(from);
    case BISHOP: return bishop_attacks(from, occ);
    case ROOK: return rook_attacks(from, occ);
    case QUEEN: return queen_attacks(from, occ);
    case KING: return king_attacks(from);
    default: return 0;
  }
}

// The pawn move from -> to (promoting to promo), or none when a pawn cannot make it.
Move pawn_move(const BoardState& s, int from, int to, PieceType promo) {
  const Color us = s.side;
  const int up = us == WHITE ? 8 : -8;
  const bool last_rank = relative_rank(us, rank_of(to)) == 7;
  if (last_rank != (promo != NO_PIECE_TYPE)) return Move::none();
  const Bitboard occ = s.pieces();
  Move::Kind kind = promo != NO_PIECE_TYPE ? Move::PROMOTION : Move::NORMAL;
  if (to == from + up) {
    if (occ & bb(to)) return Move::none();
  } else if (to == from + 2 * up) {
    if (relative_rank(us, rank_of(from)) != 1 || (occ & (bb(from + up) | bb(to)))) return Move::none();
  } else if (pawn_attacks(us, from) & bb(to)) {
    if (to == s.ep)
      kind = Move::EN_PASSANT;
    else if (!(s.pieces(~us) & bb(to)))
      return Move::none();
  } else {
    return Move::none();
  }
  return Move::make(from, to, kind, promo == NO_PIECE_TYPE ? KNIGHT : promo);
}

}  // namespace

bool play_id(const BoardState& s, const CastlingInfo& ci, int id, BoardState& next) {
  if (id < 0 || id >= vocab::NUM_MOVES) return false;
  const vocab::Entry& e = vocab::entry(id);
  const int from = e.from, to = e.to;
  const Piece pc = s.board[from];
  if (pc == NO_PIECE || color_of(pc) != s.side) return false;
  const Color us = s.side;
  const PieceType t = type_of(pc);
  if (t == KING && std::abs(file_of(to) - file_of(from)) == 2) {
    // castling (rare): the generator knows its rules; match the king's two-square move
    Move list[MAX_MOVES];
    const int n = generate_legal(s, ci, list);
    for (int i = 0; i < n; ++i)
      if (list[i].kind() == Move::CASTLING && vocab::id_of(s, list[i], false) == id) {
        make_move(s, ci, list[i], next);
        return true;
      }
    return false;
  }
  if (s.pieces(us) & bb(to)) return false;
  Move m;
  if (t == PAWN) {
    m = pawn_move(s, from, to, e.promotion);
    if (!m.is_ok()) return false;
  } else {
    if (e.promotion != NO_PIECE_TYPE || !(piece_attacks(t, from, s.pieces()) & bb(to))) return false;
    m = Move(from, to);
  }
  make_move(s, ci, m, next);
  return !next.attacked(next.king(us), ~us, next.pieces());
}

static_assert(LEGAL_MASK_BYTES == (vocab::NUM_MOVES + 7) / 8, "one bit per move id");

namespace {

// The legal moves of s as a packed mask, or all bits set when no game goes on (`live` false).
void write_legal_mask(const BoardState& s, const CastlingInfo& ci, bool live, uint8_t* out) {
  if (!live) {
    std::memset(out, 0xFF, LEGAL_MASK_BYTES);
    return;
  }
  std::memset(out, 0, LEGAL_MASK_BYTES);
  Move moves[MAX_MOVES];
  const int n = generate_legal(s, ci, moves);
  for (int i = 0; i < n; ++i) {
    const int id = vocab::id_of(s, moves[i]);
    out[id >> 3] = uint8_t(out[id >> 3] | (1u << (id & 7)));
  }
}

}  // namespace

template <typename Token>
RowFeaturesStats row_features(const Token* tokens, size_t n_rows, size_t n_cols, bool perspective,
                              int16_t* features, int8_t* values, uint8_t* legal) {
  static const Position start_position;
  const BoardState& start = start_position.state();
  const CastlingInfo& ci = start_position.castling_info();
  RowFeaturesStats stats;
  for (size_t r = 0; r < n_rows; ++r) {
    const Token* row = tokens + r * n_cols;
    int16_t* frow = features + r * n_cols * MAX_FEATURES;
    int8_t* vrow = values + r * n_cols;
    // the result of the game each token belongs to: scan back from the row's end
    int result = -1;
    for (size_t t = n_cols; t-- > 0;) {
      const int tok = int(row[t]);
      if (tok >= MOVE_WHITE_WINS && tok <= MOVE_UNKNOWN_RESULT) result = tok;
      vrow[t] = int8_t(result < 0 || result == MOVE_UNKNOWN_RESULT ? -1 : result - MOVE_WHITE_WINS);
      if (tok == MOVE_BOS) result = -1;
    }
    BoardState cur = start;
    bool live = false;  // a game is being replayed
    for (size_t t = 0; t < n_cols; ++t) {
      const int tok = int(row[t]);
      int16_t* f = frow + t * MAX_FEATURES;
      const int outcome = vrow[t];  // 0 white wins, 1 black wins, 2 draw, -1 unknown
      bool has_position = false, scored = false;
      if (tok == MOVE_BOS) {
        cur = start;
        live = has_position = scored = true;
      } else if (tok < vocab::NUM_MOVES) {
        if (live) {
          BoardState next;
          if (play_id(cur, ci, tok, next)) {
            cur = next;
            has_position = scored = true;
            ++stats.plies;
          } else {
            live = false;
            ++stats.bad_tokens;
          }
        }
      } else if (tok >= MOVE_WHITE_WINS && tok <= MOVE_UNKNOWN_RESULT) {
        has_position = live;
        live = false;
      } else if (tok != MOVE_PAD) {
        if (live) ++stats.bad_tokens;
        live = false;
      }
      if (has_position)
        position_features(cur, perspective, f);
      else
        for (int i = 0; i < MAX_FEATURES; ++i) f[i] = FEATURE_PAD;
      int8_t v = -1;
      if (scored && outcome >= 0) {
        if (outcome == 2)
          v = 1;  // draw
        else
          v = int8_t((outcome == 0) == (cur.side == WHITE) ? 2 : 0);  // win / loss for the mover
      }
      vrow[t] = v;
      if (legal) write_legal_mask(cur, ci, live, legal + (r * n_cols + t) * LEGAL_MASK_BYTES);
    }
  }
  return stats;
}

template RowFeaturesStats row_features<uint16_t>(const uint16_t*, size_t, size_t, bool, int16_t*, int8_t*,
                                                 uint8_t*);
template RowFeaturesStats row_features<int64_t>(const int64_t*, size_t, size_t, bool, int16_t*, int8_t*,
                                                uint8_t*);
template RowFeaturesStats row_features<int32_t>(const int32_t*, size_t, size_t, bool, int16_t*, int8_t*,
                                                uint8_t*);

}  // namespace chess::tokenize
