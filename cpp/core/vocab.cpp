#include "core/vocab.h"

#include <array>
#include <cstdlib>
#include <stdexcept>

namespace chess::vocab {
namespace {

struct Tables {
  std::array<Entry, NUM_MOVES> entries{};
  int16_t plain[64][64];
  int16_t promo[64][64];  // id of the knight promotion; +1 bishop, +2 rook, +3 queen

  Tables() {
    init_bitboards();
    int id = 0;
    for (int f = 0; f < 64; ++f)
      for (int t = 0; t < 64; ++t) {
        plain[f][t] = promo[f][t] = -1;
        if (f == t) continue;
        if ((queen_attacks(f, 0) | knight_attacks(f)) & bb(t)) {
          plain[f][t] = int16_t(id);
          entries[id++] = Entry{uint8_t(f), uint8_t(t), NO_PIECE_TYPE};
        }
      }
    if (id != NUM_PLAIN) throw std::logic_error("move vocabulary: wrong number of plain moves");
    for (int f = 0; f < 64; ++f) {
      const int r = rank_of(f);
      if (r != 1 && r != 6) continue;
      const int dr = r == 6 ? 1 : -1;  // white promotes from rank 7, black from rank 2
      for (int t = 0; t < 64; ++t) {
        if (rank_of(t) != r + dr || std::abs(file_of(t) - file_of(f)) > 1) continue;
        promo[f][t] = int16_t(id);
        for (PieceType p : {KNIGHT, BISHOP, ROOK, QUEEN}) entries[id++] = Entry{uint8_t(f), uint8_t(t), p};
      }
    }
    if (id != NUM_MOVES) throw std::logic_error("move vocabulary: wrong number of moves");
  }
};

const Tables& tables() {
  static const Tables t;
  return t;
}

}  // namespace

int id_of(int from, int to, PieceType promotion) {
  if (from < 0 || from > 63 || to < 0 || to > 63) return -1;
  const Tables& t = tables();
  if (promotion == NO_PIECE_TYPE) return t.plain[from][to];
  if (promotion < KNIGHT || promotion > QUEEN || t.promo[from][to] < 0) return -1;
  return t.promo[from][to] + (promotion - KNIGHT);
}

int id_of(const BoardState& s, Move m, bool chess960) {
  Square to = m.to();
  if (m.kind() == Move::CASTLING && !chess960) to = castle_king_to(s.side, m.to() > m.from());
  return id_of(m.from(), to, m.promotion());
}

const Entry& entry(int id) {
  if (id < 0 || id >= NUM_MOVES) throw std::out_of_range("move id " + std::to_string(id) + " out of range");
  return tables().entries[id];
}

std::string uci_of(int id) {
  const Entry& e = entry(id);
  std::string s = square_name(e.from) + square_name(e.to);
  if (e.promotion != NO_PIECE_TYPE) s += " pnbrqk"[e.promotion];
  return s;
}

}  // namespace chess::vocab
