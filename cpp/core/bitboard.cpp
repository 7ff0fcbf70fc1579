#include "core/bitboard.h"

#include <cstdlib>
#include <mutex>
#include <new>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace chess {
namespace tables {
Magic rook_magics[64];
Magic bishop_magics[64];
Bitboard pawn_attacks[2][64];
Bitboard knight_attacks[64];
Bitboard king_attacks[64];
Bitboard between[64][64];
Bitboard line[64][64];
}  // namespace tables

namespace {

// 102400 rook + 5248 bishop entries: the exact totals of 2^popcount(mask) over all squares.
struct SliderTables {
  Bitboard rook[102400];
  Bitboard bishop[5248];
#if CHESSFORMER_USE_PEXT
  uint16_t packed_rook[102400];
  uint16_t packed_bishop[5248];
#endif
};

// The slider tables (1 MB) in one block that a transparent huge page can back on Linux: lookups
// at scattered squares then cost no TLB misses. Elsewhere (or if the allocation fails) a static
// block. Never freed: the tables live as long as the process.
SliderTables& slider_tables() {
  static SliderTables* tables = [] {
#if defined(__linux__)
    constexpr size_t kHuge = size_t(2) << 20;
    static_assert(sizeof(SliderTables) <= kHuge);
    if (void* p = std::aligned_alloc(kHuge, kHuge)) {
      madvise(p, kHuge, MADV_HUGEPAGE);  // a hint: without THP it is ordinary memory
      return new (p) SliderTables;
    }
#endif
    static SliderTables fallback;
    return &fallback;
  }();
  return *tables;
}

// Attacks of a slider on s along the given directions, stopping at the first occupied square.
Bitboard slide(int s, Bitboard occupied, const int (*dirs)[2]) {
  Bitboard result = 0;
  for (int d = 0; d < 4; ++d) {
    int f = file_of(s) + dirs[d][0], r = rank_of(s) + dirs[d][1];
    while (f >= 0 && f < 8 && r >= 0 && r < 8) {
      result |= bb(make_square(f, r));
      if (occupied & bb(make_square(f, r))) break;
      f += dirs[d][0];
      r += dirs[d][1];
    }
  }
  return result;
}

constexpr int ROOK_DIRS[4][2] = {{1, 0}, {-1, 0}, {0, 1}, {0, -1}};
constexpr int BISHOP_DIRS[4][2] = {{1, 1}, {1, -1}, {-1, 1}, {-1, -1}};

// Deterministic xorshift for the magic search; sparse candidates find magics fastest.
struct Prng {
  uint64_t s;
  uint64_t next() {
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    return s * 2685821657736338717ULL;
  }
  uint64_t sparse() { return next() & next() & next(); }
};

void init_sliders(Magic* magics, Bitboard* table, [[maybe_unused]] uint16_t* packed, const int (*dirs)[2]) {
  Bitboard occupancy[4096], reference[4096];
  int epoch[4096] = {};
  int attempt = 0;
  Bitboard* next_table = table;
  [[maybe_unused]] Prng rng{0x9E3779B97F4A7C15ULL};
  for (int s = 0; s < 64; ++s) {
    // Edges do not matter for the slider's own square's attacks unless it sits on them.
    Bitboard edges =
        ((RANK_1_BB | RANK_8_BB) & ~rank_bb(rank_of(s))) | ((FILE_A_BB | FILE_H_BB) & ~file_bb(file_of(s)));
    Magic& m = magics[s];
    m.mask = slide(s, 0, dirs) & ~edges;
    m.shift = 64 - popcount(m.mask);
    m.attacks = next_table;
    m.rays = slide(s, 0, dirs);
    m.packed = nullptr;
    // Enumerate all subsets of the mask (Carry-Rippler).
    int size = 0;
    Bitboard b = 0;
    do {
      occupancy[size] = b;
      reference[size] = slide(s, b, dirs);
      ++size;
      b = (b - m.mask) & m.mask;
    } while (b);
    next_table += size;
#if CHESSFORMER_USE_PEXT
    m.packed = packed + (m.attacks - table);
    for (int i = 0; i < size; ++i) {
      const unsigned idx = unsigned(_pext_u64(occupancy[i], m.mask));
      m.attacks[idx] = reference[i];
      m.packed[idx] = uint16_t(_pext_u64(reference[i], m.rays));
    }
#else
    for (;;) {
      do {
        m.magic = rng.sparse();
      } while (popcount((m.magic * m.mask) >> 56) < 6);
      ++attempt;
      int i = 0;
      for (; i < size; ++i) {
        unsigned idx = m.index(occupancy[i]);
        if (epoch[idx] < attempt) {
          epoch[idx] = attempt;
          m.attacks[idx] = reference[i];
        } else if (m.attacks[idx] != reference[i]) {
          break;
        }
      }
      if (i == size) break;
    }
#endif
  }
  (void)attempt;
  (void)epoch;
}

void init_all() {
  for (int s = 0; s < 64; ++s) {
    Bitboard b = bb(s);
    tables::pawn_attacks[WHITE][s] = pawn_attacks_bb<WHITE>(b);
    tables::pawn_attacks[BLACK][s] = pawn_attacks_bb<BLACK>(b);
    Bitboard k = 0, n = 0;
    static constexpr int KD[8][2] = {{1, 0}, {-1, 0}, {0, 1}, {0, -1}, {1, 1}, {1, -1}, {-1, 1}, {-1, -1}};
    static constexpr int ND[8][2] = {{1, 2}, {2, 1}, {2, -1}, {1, -2}, {-1, -2}, {-2, -1}, {-2, 1}, {-1, 2}};
    for (int i = 0; i < 8; ++i) {
      int f = file_of(s) + KD[i][0], r = rank_of(s) + KD[i][1];
      if (f >= 0 && f < 8 && r >= 0 && r < 8) k |= bb(make_square(f, r));
      f = file_of(s) + ND[i][0];
      r = rank_of(s) + ND[i][1];
      if (f >= 0 && f < 8 && r >= 0 && r < 8) n |= bb(make_square(f, r));
    }
    tables::king_attacks[s] = k;
    tables::knight_attacks[s] = n;
  }
  SliderTables& st = slider_tables();
#if CHESSFORMER_USE_PEXT
  init_sliders(tables::rook_magics, st.rook, st.packed_rook, ROOK_DIRS);
  init_sliders(tables::bishop_magics, st.bishop, st.packed_bishop, BISHOP_DIRS);
#else
  init_sliders(tables::rook_magics, st.rook, nullptr, ROOK_DIRS);
  init_sliders(tables::bishop_magics, st.bishop, nullptr, BISHOP_DIRS);
#endif
  for (int a = 0; a < 64; ++a) {
    for (int b = 0; b < 64; ++b) {
      tables::between[a][b] = bb(b);
      tables::line[a][b] = 0;
      if (a == b) continue;
      for (const auto* dirs : {ROOK_DIRS, BISHOP_DIRS}) {
        const bool rook = dirs == ROOK_DIRS;
        Bitboard from_a = rook ? rook_attacks(a, 0) : bishop_attacks(a, 0);
        if (from_a & bb(b)) {
          Bitboard from_b = rook ? rook_attacks(b, 0) : bishop_attacks(b, 0);
          tables::line[a][b] = (from_a & from_b) | bb(a) | bb(b);
          Bitboard ray_a = rook ? rook_attacks(a, bb(b)) : bishop_attacks(a, bb(b));
          Bitboard ray_b = rook ? rook_attacks(b, bb(a)) : bishop_attacks(b, bb(a));
          tables::between[a][b] = (ray_a & ray_b) | bb(b);
        }
      }
    }
  }
}

std::once_flag init_flag;

struct Initializer {
  Initializer() { init_bitboards(); }
} initializer;

}  // namespace

void init_bitboards() { std::call_once(init_flag, init_all); }

}  // namespace chess
