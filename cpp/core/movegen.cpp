// Legal move generation, copy-make and perft.
//
// Generation is fully legal: the king never steps onto a square attacked with the king itself
// removed from the board (so sliders x-ray through it), a double check allows only king moves,
// a single check restricts the others to capturing or blocking the checker, and pinned pieces
// move only along their pin line. Only en passant (rare) is verified by simulating the capture.
// The template flag Count makes the same code count moves with popcounts instead of listing
// them: perft's leaves never materialise a move list.
#include <cstring>

#include "core/position.h"

namespace chess {

namespace zobrist {
uint64_t psq[16][64];
uint64_t castling[16];
uint64_t ep_file[8];
uint64_t side;

namespace {
struct Init {
  Init() {
    uint64_t x = 0x2545F4914F6CDD1DULL;  // fixed seed: keys are stable across runs and builds
    auto next = [&x]() {
      // splitmix64
      uint64_t z = (x += 0x9E3779B97F4A7C15ULL);
      z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
      z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
      return z ^ (z >> 31);
    };
    for (auto& row : psq)
      for (auto& k : row) k = next();
    for (int i = 0; i < 16; ++i) {
      castling[i] = 0;
    }
    // Combined rights hash as the XOR of per-right keys, so updates are a single XOR of masks.
    uint64_t single[4] = {next(), next(), next(), next()};
    for (int i = 0; i < 16; ++i)
      for (int b = 0; b < 4; ++b)
        if (i & (1 << b)) castling[i] ^= single[b];
    for (auto& k : ep_file) k = next();
    side = next();
  }
} init;
}  // namespace
}  // namespace zobrist

Bitboard BoardState::attackers_to(int s, Color by, Bitboard occupied) const {
  const Bitboard them = by_color[by];
  return ((pawn_attacks(~by, s) & by_type[PAWN]) | (knight_attacks(s) & by_type[KNIGHT]) |
          (king_attacks(s) & by_type[KING]) |
          (bishop_attacks(s, occupied) & (by_type[BISHOP] | by_type[QUEEN])) |
          (rook_attacks(s, occupied) & (by_type[ROOK] | by_type[QUEEN]))) &
         them;
}

void BoardState::put(Piece p, int s) {
  board[s] = p;
  by_type[0] |= bb(s);
  by_type[type_of(p)] |= bb(s);
  by_color[color_of(p)] |= bb(s);
}

void BoardState::remove(int s) {
  Piece p = board[s];
  board[s] = NO_PIECE;
  by_type[0] &= ~bb(s);
  by_type[type_of(p)] &= ~bb(s);
  by_color[color_of(p)] &= ~bb(s);
}

uint64_t compute_key(const BoardState& s) {
  uint64_t k = 0;
  for (Bitboard b = s.pieces(); b;) {
    Square sq = pop_lsb(b);
    k ^= zobrist::psq[s.board[sq]][sq];
  }
  k ^= zobrist::castling[s.castling];
  if (s.ep != SQ_NONE) k ^= zobrist::ep_file[file_of(s.ep)];
  if (s.side == BLACK) k ^= zobrist::side;
  return k;
}

namespace {

// Clocks saturate instead of wrapping: a FEN may start them near the 16-bit limit.
constexpr uint16_t saturating_inc(uint16_t v) { return v == UINT16_MAX ? v : uint16_t(v + 1); }

// Squares attacked by `them`, computed with our king removed so that it cannot hide behind itself.
template <Color Them>
inline Bitboard danger_map(const BoardState& s, Bitboard occupied) {
  Bitboard danger = pawn_attacks_bb<Them>(s.pieces(Them, PAWN)) | king_attacks(s.king(Them));
  for (Bitboard b = s.pieces(Them, KNIGHT); b;) danger |= knight_attacks(pop_lsb(b));
  for (Bitboard b = s.pieces(Them, BISHOP, QUEEN); b;) danger |= bishop_attacks(pop_lsb(b), occupied);
  for (Bitboard b = s.pieces(Them, ROOK, QUEEN); b;) danger |= rook_attacks(pop_lsb(b), occupied);
  return danger;
}

template <bool Count>
struct Sink {
  Move* out;
  int n = 0;
  // All moves from `from` to each square of `targets`.
  inline void add_all(int from, Bitboard targets) {
    if constexpr (Count) {
      n += popcount(targets);
    } else {
      while (targets) out[n++] = Move(from, pop_lsb(targets));
    }
  }
  // Moves to each square of `targets`, each coming from `to - delta`.
  inline void add_shifted(Bitboard targets, int delta, Move::Kind kind = Move::NORMAL) {
    if constexpr (Count) {
      n += popcount(targets);
    } else {
      while (targets) {
        int to = pop_lsb(targets);
        out[n++] = Move::make(to - delta, to, kind);
      }
    }
  }
  inline void add_promotions_shifted(Bitboard targets, int delta) {
    if constexpr (Count) {
      n += 4 * popcount(targets);
    } else {
      while (targets) {
        int to = pop_lsb(targets);
        for (PieceType p : {QUEEN, ROOK, BISHOP, KNIGHT})
          out[n++] = Move::make(to - delta, to, Move::PROMOTION, p);
      }
    }
  }
  inline void add(Move m) {
    if constexpr (Count) {
      ++n;
    } else {
      out[n++] = m;
    }
  }
};

template <Color Us, bool Count>
int generate(const BoardState& s, const CastlingInfo& ci, Move* out) {
  constexpr Color Them = ~Us;
  constexpr int Up = Us == WHITE ? 8 : -8;
  constexpr int UpLeft = Us == WHITE ? 7 : -9;   // towards the a-file
  constexpr int UpRight = Us == WHITE ? 9 : -7;  // towards the h-file
  constexpr Bitboard Rank3 = rank_bb(Us == WHITE ? 2 : 5);
  constexpr Bitboard Rank8 = rank_bb(Us == WHITE ? 7 : 0);

  Sink<Count> sink{out};
  const Square ksq = s.king(Us);
  const Bitboard occ = s.pieces();
  const Bitboard us = s.pieces(Us);
  const Bitboard them = s.pieces(Them);

  // King moves.
  const Bitboard danger = danger_map<Them>(s, occ ^ bb(ksq));
  sink.add_all(ksq, king_attacks(ksq) & ~us & ~danger);

  const Bitboard checkers = s.attackers_to(ksq, Them, occ);
  if (more_than_one(checkers)) return sink.n;

  // Squares the other pieces may move to: anywhere not ours, or (in check) onto the checker or
  // between it and the king.
  const Bitboard target = checkers ? between_bb(ksq, lsb(checkers)) : ~us;

  // Pinned pieces: ours, alone between the king and an enemy slider on a line with it.
  Bitboard pinned = 0;
  Bitboard snipers = ((rook_attacks(ksq, them) & s.pieces(Them, ROOK, QUEEN)) |
                      (bishop_attacks(ksq, them) & s.pieces(Them, BISHOP, QUEEN)));
  while (snipers) {
    Square sn = pop_lsb(snipers);
    Bitboard blockers = between_bb(ksq, sn) & occ & ~bb(sn);
    if (blockers && !more_than_one(blockers) && (blockers & us)) pinned |= blockers;
  }

  // Knights: a pinned knight can never move.
  for (Bitboard b = s.pieces(Us, KNIGHT) & ~pinned; b;) {
    Square from = pop_lsb(b);
    sink.add_all(from, knight_attacks(from) & target);
  }
  for (Bitboard b = s.pieces(Us, BISHOP, QUEEN); b;) {
    Square from = pop_lsb(b);
    Bitboard t = bishop_attacks(from, occ) & target;
    if (pinned & bb(from)) t &= line_bb(ksq, from);
    sink.add_all(from, t);
  }
  for (Bitboard b = s.pieces(Us, ROOK, QUEEN); b;) {
    Square from = pop_lsb(b);
    Bitboard t = rook_attacks(from, occ) & target;
    if (pinned & bb(from)) t &= line_bb(ksq, from);
    sink.add_all(from, t);
  }

  // Pawns. Unpinned pawns are generated set-wise; pinned ones (rare) one at a time.
  const Bitboard empty = ~occ;
  const Bitboard pawns = s.pieces(Us, PAWN);
  {
    const Bitboard free_pawns = pawns & ~pinned;
    Bitboard push1 = shift<Up>(free_pawns) & empty;
    Bitboard push2 = shift<Up>(push1 & Rank3) & empty & target;
    push1 &= target;
    Bitboard cap_l = shift<UpLeft>(free_pawns) & them & target;
    Bitboard cap_r = shift<UpRight>(free_pawns) & them & target;
    sink.add_shifted(push1 & ~Rank8, Up);
    sink.add_shifted(push2, 2 * Up);
    sink.add_shifted(cap_l & ~Rank8, UpLeft);
    sink.add_shifted(cap_r & ~Rank8, UpRight);
    sink.add_promotions_shifted(push1 & Rank8, Up);
    sink.add_promotions_shifted(cap_l & Rank8, UpLeft);
    sink.add_promotions_shifted(cap_r & Rank8, UpRight);
  }
  for (Bitboard b = pawns & pinned; b;) {
    // A pinned pawn cannot resolve a check, and only moves along its pin line.
    Square from = pop_lsb(b);
    Bitboard pin_line = line_bb(ksq, from);
    Bitboard one = shift<Up>(bb(from)) & empty;
    Bitboard two = shift<Up>(one & Rank3) & empty;
    Bitboard t = ((one | two) | (pawn_attacks(Us, from) & them)) & target & pin_line;
    while (t) {
      Square to = pop_lsb(t);
      if (bb(to) & Rank8) {
        if constexpr (Count) {
          sink.n += 4;
        } else {
          for (PieceType p : {QUEEN, ROOK, BISHOP, KNIGHT})
            sink.add(Move::make(from, to, Move::PROMOTION, p));
        }
      } else {
        sink.add(Move(from, to));
      }
    }
  }
  if (s.ep != SQ_NONE) {
    // Rare enough to verify by simulation: the capture removes two pawns from one rank (the
    // classic horizontal discovered check) and may or may not resolve a check.
    const Square capsq = Square(s.ep - Up);
    for (Bitboard b = pawn_attacks(Them, s.ep) & pawns; b;) {
      Square from = pop_lsb(b);
      Bitboard after = (occ ^ bb(from) ^ bb(capsq)) | bb(s.ep);
      if (!(s.attackers_to(ksq, Them, after) & ~bb(capsq)))
        sink.add(Move::make(from, s.ep, Move::EN_PASSANT));
    }
  }

  // Castling: not out of check, through empty squares, and the king never crosses an attacked one.
  if (!checkers && (s.castling & (Us == WHITE ? (WHITE_OO | WHITE_OOO) : (BLACK_OO | BLACK_OOO)))) {
    for (CastlingRight cr : {Us == WHITE ? WHITE_OO : BLACK_OO, Us == WHITE ? WHITE_OOO : BLACK_OOO}) {
      if (!(s.castling & cr)) continue;
      const Square rsq = ci.rook_from[cr];
      if (ci.empty_path[cr] & occ & ~(bb(ksq) | bb(rsq))) continue;
      if (!ci.chess960) {
        if (ci.king_path[cr] & danger) continue;
      } else {
        // In Chess960 the castling rook itself may shield a path square from a rook or queen on
        // the back rank, so test every square with the king and that rook both lifted.
        const Bitboard lifted = occ ^ bb(ksq) ^ bb(rsq);
        bool safe = true;
        for (Bitboard p = ci.king_path[cr]; p && safe;) safe = !s.attacked(pop_lsb(p), Them, lifted);
        if (!safe) continue;
      }
      sink.add(Move::make(ksq, rsq, Move::CASTLING));
    }
  }
  return sink.n;
}

// Full = false is perft's lean variant: no Zobrist key (unused there), and the en passant
// square is kept whenever an enemy pawn could capture -- generation verifies each en passant
// capture anyway, so the counts are the same.
template <Color Us, bool Full = true>
inline void make_move_impl(const BoardState& s, const CastlingInfo& ci, Move m, BoardState& n) {
  constexpr Color Them = ~Us;
  constexpr int Up = Us == WHITE ? 8 : -8;
  std::memcpy(&n, &s, sizeof(BoardState));
  uint64_t key = 0;
  if constexpr (Full) {
    key = s.key ^ zobrist::side;
    if (s.ep != SQ_NONE) key ^= zobrist::ep_file[file_of(s.ep)];
  }
  n.ep = SQ_NONE;
  n.halfmove = saturating_inc(s.halfmove);
  if (Us == BLACK) n.fullmove = saturating_inc(s.fullmove);
  n.side = Them;

  const Square from = m.from(), to = m.to();
  const Piece pc = s.board[from];
  const Move::Kind kind = m.kind();

  if (kind == Move::CASTLING) {
    const bool king_side = to > from;
    const Square kto = castle_king_to(Us, king_side), rto = castle_rook_to(Us, king_side);
    const Piece rook = s.board[to];
    n.remove(from);
    n.remove(to);
    n.put(pc, kto);
    n.put(rook, rto);
    if constexpr (Full)
      key ^=
          zobrist::psq[pc][from] ^ zobrist::psq[pc][kto] ^ zobrist::psq[rook][to] ^ zobrist::psq[rook][rto];
  } else {
    Square capsq = to;
    if (kind == Move::EN_PASSANT) capsq = Square(to - Up);
    const Piece captured = s.board[capsq];
    if (captured != NO_PIECE) {
      n.remove(capsq);
      if constexpr (Full) key ^= zobrist::psq[captured][capsq];
      n.halfmove = 0;
    }
    // Moving: remove then put (works for both quiet moves and captures, board[to] now empty).
    n.remove(from);
    Piece placed = pc;
    if (kind == Move::PROMOTION) placed = make_piece(Us, m.promotion());
    n.put(placed, to);
    if constexpr (Full) key ^= zobrist::psq[pc][from] ^ zobrist::psq[placed][to];
    if (type_of(pc) == PAWN) {
      n.halfmove = 0;
      if ((from ^ to) == 16) {
        // Record the en passant square only if a capture there is actually legal, so that FEN
        // output, the hash and repetition detection all agree with the legal-move set.
        const Square ep = Square(from + Up);
        if ((pawn_attacks(Us, ep) & n.pieces(Them, PAWN)) && (!Full || ep_capture_is_legal(n, ep))) {
          n.ep = ep;
          if constexpr (Full) key ^= zobrist::ep_file[file_of(ep)];
        }
      }
    }
  }
  const uint8_t rights = s.castling & ci.rights_mask[from] & ci.rights_mask[to];
  if (rights != s.castling) {
    if constexpr (Full) key ^= zobrist::castling[s.castling] ^ zobrist::castling[rights];
    n.castling = rights;
  }
  n.key = key;
}

template <Color Us>
uint64_t perft_impl(const BoardState& s, const CastlingInfo& ci, int depth) {
  if (depth == 1) return uint64_t(generate<Us, true>(s, ci, nullptr));
  Move moves[MAX_MOVES];
  const int n = generate<Us, false>(s, ci, moves);
  uint64_t nodes = 0;
  BoardState next;
  for (int i = 0; i < n; ++i) {
    make_move_impl<Us, false>(s, ci, moves[i], next);
    nodes += perft_impl<~Us>(next, ci, depth - 1);
  }
  return nodes;
}

}  // namespace

bool ep_capture_is_legal(const BoardState& s, Square ep) {
  // s: the side to move would capture on `ep`; the pawn that just double-pushed stands in front.
  const Color us = s.side, them = ~us;
  const Square ksq = s.king(us);
  const Square capsq = Square(us == WHITE ? ep - 8 : ep + 8);
  const Bitboard occ = s.pieces();
  for (Bitboard b = pawn_attacks(them, ep) & s.pieces(us, PAWN); b;) {
    Square from = pop_lsb(b);
    Bitboard after = (occ ^ bb(from) ^ bb(capsq)) | bb(ep);
    if (!(s.attackers_to(ksq, them, after) & ~bb(capsq))) return true;
  }
  return false;
}

int generate_legal(const BoardState& s, const CastlingInfo& ci, Move* out) {
  return s.side == WHITE ? generate<WHITE, false>(s, ci, out) : generate<BLACK, false>(s, ci, out);
}

int count_legal(const BoardState& s, const CastlingInfo& ci) {
  return s.side == WHITE ? generate<WHITE, true>(s, ci, nullptr) : generate<BLACK, true>(s, ci, nullptr);
}

bool has_legal_move(const BoardState& s, const CastlingInfo& ci) {
  // A king step to a square no enemy attacks (with the king lifted) settles most positions
  // without generating the move list.
  const Color us = s.side, them = ~us;
  if (const Bitboard kings = s.pieces(us, KING)) {
    const int ksq = lsb(kings);
    const Bitboard occ = s.pieces() ^ kings;
    for (Bitboard t = king_attacks(ksq) & ~s.pieces(us); t;)
      if (!s.attackers_to(pop_lsb(t), them, occ)) return true;
  }
  return count_legal(s, ci) > 0;
}

void make_move(const BoardState& s, const CastlingInfo& ci, Move m, BoardState& next) {
  if (s.side == WHITE)
    make_move_impl<WHITE>(s, ci, m, next);
  else
    make_move_impl<BLACK>(s, ci, m, next);
}

void make_null_move(const BoardState& s, BoardState& n) {
  std::memcpy(&n, &s, sizeof(BoardState));
  uint64_t key = s.key ^ zobrist::side;
  if (s.ep != SQ_NONE) key ^= zobrist::ep_file[file_of(s.ep)];
  n.ep = SQ_NONE;
  n.halfmove = saturating_inc(s.halfmove);
  if (s.side == BLACK) n.fullmove = saturating_inc(s.fullmove);
  n.side = ~s.side;
  n.key = key;
}

uint64_t perft(const BoardState& s, const CastlingInfo& ci, int depth) {
  if (depth <= 0) return 1;
  return s.side == WHITE ? perft_impl<WHITE>(s, ci, depth) : perft_impl<BLACK>(s, ci, depth);
}

}  // namespace chess
