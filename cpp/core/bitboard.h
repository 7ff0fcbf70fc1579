// Bitboard helpers and attack tables.
//
// Sliding attacks use PEXT when the compiler targets BMI2 (one instruction per lookup) and
// "fancy" magic bitboards otherwise; both index the same kind of per-square attack table.
// Tables are filled once, at library load, by a static initialiser in bitboard.cpp.
#pragma once

#include <bit>
#include <cstdint>

#include "core/types.h"

#if defined(__BMI2__)
#include <immintrin.h>
#define CHESSFORMER_USE_PEXT 1
#else
#define CHESSFORMER_USE_PEXT 0
#endif

namespace chess {

constexpr Bitboard FILE_A_BB = 0x0101010101010101ULL;
constexpr Bitboard FILE_H_BB = FILE_A_BB << 7;
constexpr Bitboard RANK_1_BB = 0xFFULL;
constexpr Bitboard RANK_8_BB = RANK_1_BB << 56;
constexpr Bitboard LIGHT_SQUARES = 0x55AA55AA55AA55AAULL;
constexpr Bitboard DARK_SQUARES = ~LIGHT_SQUARES;

constexpr Bitboard file_bb(int f) { return FILE_A_BB << f; }
constexpr Bitboard rank_bb(int r) { return RANK_1_BB << (8 * r); }

inline int popcount(Bitboard b) { return std::popcount(b); }
inline Square lsb(Bitboard b) { return Square(std::countr_zero(b)); }
inline Square pop_lsb(Bitboard& b) {
  Square s = lsb(b);
  b &= b - 1;
  return s;
}
constexpr bool more_than_one(Bitboard b) { return (b & (b - 1)) != 0; }

// Shift a whole bitboard one step, dropping what falls off the board.
template <int D>
constexpr Bitboard shift(Bitboard b) {
  if constexpr (D == 8) return b << 8;
  if constexpr (D == -8) return b >> 8;
  if constexpr (D == 16) return b << 16;
  if constexpr (D == -16) return b >> 16;
  if constexpr (D == 9) return (b & ~FILE_H_BB) << 9;
  if constexpr (D == 7) return (b & ~FILE_A_BB) << 7;
  if constexpr (D == -7) return (b & ~FILE_H_BB) >> 7;
  if constexpr (D == -9) return (b & ~FILE_A_BB) >> 9;
  return 0;
}

template <Color C>
constexpr Bitboard pawn_attacks_bb(Bitboard pawns) {
  return C == WHITE ? shift<9>(pawns) | shift<7>(pawns) : shift<-7>(pawns) | shift<-9>(pawns);
}

struct Magic {
  Bitboard mask;
  Bitboard magic;
  Bitboard* attacks;
  uint16_t* packed;  // PEXT builds: each attack set packed by PEXT over `rays` (see packed_*)
  Bitboard rays;     // the attacks on an empty board
  unsigned shift;
  unsigned index(Bitboard occupied) const {
#if CHESSFORMER_USE_PEXT
    return unsigned(_pext_u64(occupied, mask));
#else
    return unsigned(((occupied & mask) * magic) >> shift);
#endif
  }
};

namespace tables {
extern Magic rook_magics[64];
extern Magic bishop_magics[64];
extern Bitboard pawn_attacks[2][64];
extern Bitboard knight_attacks[64];
extern Bitboard king_attacks[64];
extern Bitboard between[64][64];  // squares strictly between a and b on a line, plus b; else only b
extern Bitboard line[64][64];     // the whole line through a and b, or 0
}  // namespace tables

inline Bitboard rook_attacks(int s, Bitboard occupied) {
  const Magic& m = tables::rook_magics[s];
  return m.attacks[m.index(occupied)];
}
inline Bitboard bishop_attacks(int s, Bitboard occupied) {
  const Magic& m = tables::bishop_magics[s];
  return m.attacks[m.index(occupied)];
}
// The same attack sets from tables of 16-bit entries (PEXT builds; elsewhere the plain lookups):
// a quarter of the memory (the rook table is 200 KB instead of 800 KB) for a PDEP per lookup.
// Code that looks up scattered squares between other memory-heavy work (the PGN replay) misses
// the cache less with them; move generation, whose lookups stay hot, is faster with the others.
inline Bitboard packed_attacks(const Magic& m, Bitboard occupied) {
#if CHESSFORMER_USE_PEXT
  return _pdep_u64(m.packed[m.index(occupied)], m.rays);
#else
  return m.attacks[m.index(occupied)];
#endif
}
inline Bitboard packed_rook_attacks(int s, Bitboard occupied) {
  return packed_attacks(tables::rook_magics[s], occupied);
}
inline Bitboard packed_bishop_attacks(int s, Bitboard occupied) {
  return packed_attacks(tables::bishop_magics[s], occupied);
}
inline Bitboard queen_attacks(int s, Bitboard occupied) {
  return rook_attacks(s, occupied) | bishop_attacks(s, occupied);
}
inline Bitboard knight_attacks(int s) { return tables::knight_attacks[s]; }
inline Bitboard king_attacks(int s) { return tables::king_attacks[s]; }
inline Bitboard pawn_attacks(Color c, int s) { return tables::pawn_attacks[c][s]; }
// Squares between a and b (exclusive) plus b itself: the check-blocking mask of a slider on b.
inline Bitboard between_bb(int a, int b) { return tables::between[a][b]; }
inline Bitboard line_bb(int a, int b) { return tables::line[a][b]; }
inline bool aligned(int a, int b, int c) { return (line_bb(a, b) & bb(c)) != 0; }

template <PieceType P>
inline Bitboard attacks_bb(int s, Bitboard occupied) {
  if constexpr (P == KNIGHT) return knight_attacks(s);
  if constexpr (P == BISHOP) return bishop_attacks(s, occupied);
  if constexpr (P == ROOK) return rook_attacks(s, occupied);
  if constexpr (P == QUEEN) return queen_attacks(s, occupied);
  if constexpr (P == KING) return king_attacks(s);
  return 0;
}

// Call before using the tables from another static initialiser; otherwise done at load time.
void init_bitboards();

}  // namespace chess
