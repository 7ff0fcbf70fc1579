// Basic chess types: squares, pieces, colours and the 16-bit Move.
//
// Everything here is a tiny value type so it can live in registers and fixed stack arrays; the
// move generator never allocates.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace chess {

using Bitboard = uint64_t;

enum Color : uint8_t { WHITE = 0, BLACK = 1 };
constexpr Color operator~(Color c) { return Color(c ^ 1); }

// Piece types are 1-based so that 0 can mean "none" in the promotion field of a Move.
enum PieceType : uint8_t {
  NO_PIECE_TYPE = 0,
  PAWN = 1,
  KNIGHT = 2,
  BISHOP = 3,
  ROOK = 4,
  QUEEN = 5,
  KING = 6
};

// Piece = colour * 8 + type; NO_PIECE = 0.
enum Piece : uint8_t { NO_PIECE = 0 };
constexpr Piece make_piece(Color c, PieceType t) { return Piece((c << 3) | t); }
constexpr PieceType type_of(Piece p) { return PieceType(p & 7); }
constexpr Color color_of(Piece p) { return Color(p >> 3); }

// a1 = 0, b1 = 1, ..., h8 = 63 (little-endian rank-file mapping, as python-chess).
enum Square : uint8_t {
  SQ_A1,
  SQ_B1,
  SQ_C1,
  SQ_D1,
  SQ_E1,
  SQ_F1,
  SQ_G1,
  SQ_H1,
  SQ_A2,
  SQ_B2,
  SQ_C2,
  SQ_D2,
  SQ_E2,
  SQ_F2,
  SQ_G2,
  SQ_H2,
  SQ_A3,
  SQ_B3,
  SQ_C3,
  SQ_D3,
  SQ_E3,
  SQ_F3,
  SQ_G3,
  SQ_H3,
  SQ_A4,
  SQ_B4,
  SQ_C4,
  SQ_D4,
  SQ_E4,
  SQ_F4,
  SQ_G4,
  SQ_H4,
  SQ_A5,
  SQ_B5,
  SQ_C5,
  SQ_D5,
  SQ_E5,
  SQ_F5,
  SQ_G5,
  SQ_H5,
  SQ_A6,
  SQ_B6,
  SQ_C6,
  SQ_D6,
  SQ_E6,
  SQ_F6,
  SQ_G6,
  SQ_H6,
  SQ_A7,
  SQ_B7,
  SQ_C7,
  SQ_D7,
  SQ_E7,
  SQ_F7,
  SQ_G7,
  SQ_H7,
  SQ_A8,
  SQ_B8,
  SQ_C8,
  SQ_D8,
  SQ_E8,
  SQ_F8,
  SQ_G8,
  SQ_H8,
  SQ_NONE = 64
};

constexpr int file_of(int s) { return s & 7; }
constexpr int rank_of(int s) { return s >> 3; }
constexpr Square make_square(int file, int rank) { return Square(rank * 8 + file); }
constexpr Bitboard bb(int s) { return Bitboard(1) << s; }
// Rank r as seen from colour c (rank 0 is c's back rank).
constexpr int relative_rank(Color c, int r) { return c == WHITE ? r : 7 - r; }

inline std::string square_name(int s) { return std::string{char('a' + file_of(s)), char('1' + rank_of(s))}; }

// Move: 16 bits.
//   bits 0-5   from square
//   bits 6-11  to square; for castling, the square of the castling ROOK ("king takes rook", which
//              encodes standard chess and Chess960 alike)
//   bits 12-13 promotion piece - KNIGHT (0..3 = N, B, R, Q), meaningful only for PROMOTION
//   bits 14-15 kind: NORMAL, PROMOTION, EN_PASSANT, CASTLING
// Move 0 (a1a1) is "none"; NULL_MOVE (b1b1) is the null move "--".
class Move {
 public:
  enum Kind : uint16_t { NORMAL = 0, PROMOTION = 1 << 14, EN_PASSANT = 2 << 14, CASTLING = 3 << 14 };

  constexpr Move() : data_(0) {}
  constexpr explicit Move(uint16_t raw) : data_(raw) {}
  constexpr Move(int from, int to) : data_(uint16_t(from | (to << 6))) {}
  static constexpr Move make(int from, int to, Kind kind, PieceType promo = KNIGHT) {
    return Move(uint16_t(from | (to << 6) | ((promo - KNIGHT) << 12) | kind));
  }
  static constexpr Move none() { return Move(); }
  static constexpr Move null() { return Move(uint16_t(1 | (1 << 6))); }

  constexpr Square from() const { return Square(data_ & 63); }
  constexpr Square to() const { return Square((data_ >> 6) & 63); }
  constexpr Kind kind() const { return Kind(data_ & (3 << 14)); }
  constexpr PieceType promotion() const {
    return kind() == PROMOTION ? PieceType(((data_ >> 12) & 3) + KNIGHT) : NO_PIECE_TYPE;
  }
  constexpr uint16_t raw() const { return data_; }
  constexpr bool is_ok() const { return data_ != 0 && data_ != null().data_; }
  constexpr bool operator==(const Move& o) const { return data_ == o.data_; }
  constexpr bool operator!=(const Move& o) const { return data_ != o.data_; }

 private:
  uint16_t data_;
};

// Castling right bits.
enum CastlingRight : uint8_t {
  NO_CASTLING = 0,
  WHITE_OO = 1,
  WHITE_OOO = 2,
  BLACK_OO = 4,
  BLACK_OOO = 8,
  ALL_CASTLING = 15
};

// Legal positions have at most 218 moves; FEN validation caps each side at 16 pieces, which bounds
// any accepted position below this (15 pieces x 27 + 8).
constexpr int MAX_MOVES = 512;

// A fixed-capacity move list on the stack.
struct MoveList {
  Move moves[MAX_MOVES];
  int count = 0;
  void push(Move m) { moves[count++] = m; }
  const Move* begin() const { return moves; }
  const Move* end() const { return moves + count; }
  int size() const { return count; }
  bool contains(Move m) const {
    for (int i = 0; i < count; ++i)
      if (moves[i] == m) return true;
    return false;
  }
};

}  // namespace chess
