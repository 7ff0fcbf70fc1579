// SAN replay (see replay.h). resolve_san and append_san are the per-ply hot path of `prep`.
#include "pgn/replay.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>

#include "core/bitboard.h"
#include "pgn/parser_run.h"

namespace chess::pgn {

namespace {

// The per-ply path (SAN resolution and make) compiles into ReplayVisitor::san as one function.
#if defined(__GNUC__)
#define CHESSFORMER_INLINE inline __attribute__((always_inline))
#else
#define CHESSFORMER_INLINE inline
#endif

constexpr uint64_t kFnvOffset = 0xcbf29ce484222325ULL, kFnvPrime = 0x100000001b3ULL;

// The game hash (the train/val split, docs/formats.md), version 2: each tag name and value is folded
// in 16 bytes at a time, one 64x64->128-bit multiply (low half XOR high half) per block. A field of
// up to 16 bytes (nearly every tag) takes one multiply: it is read as two words that overlap when
// it is shorter and together cover every byte, and its length is folded in with them, so no two
// different fields give the same pair and ("ab", "c") differs from ("a", "bc"). Version 1, an FNV-1a
// over every tag byte, was a chain of one multiply per byte and cost about 2% of prep's time on
// Lichess exports (17 tags a game). The moves are folded in by FNV (san()), then mix64.
constexpr uint64_t kFoldA = 0xa0761d6478bd642fULL, kFoldB = 0xe7037ed1a0b428dbULL;
inline uint64_t fold(uint64_t a, uint64_t b) {
  const unsigned __int128 r = static_cast<unsigned __int128>(a) * b;
  return uint64_t(r) ^ uint64_t(r >> 64);
}
// Little-endian loads on every host, so a game hashes the same everywhere.
inline uint64_t load64(const unsigned char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap64(v);
  return v;
}
inline uint64_t load32(const unsigned char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap32(v);
  return v;
}
inline uint64_t hash_field(uint64_t h, std::string_view field) {
  const auto* p = reinterpret_cast<const unsigned char*>(field.data());
  const size_t size = field.size();
  size_t n = size;
  uint64_t a = 0, b = 0;
  if (n > 16) {
    for (; n > 16; n -= 16, p += 16) h = fold(load64(p) ^ kFoldA ^ h, load64(p + 8) ^ kFoldB);
    a = load64(p + n - 16);  // the last 16 bytes (overlapping the previous block)
    b = load64(p + n - 8);
  } else if (n >= 8) {
    a = load64(p);
    b = load64(p + n - 8);
  } else if (n >= 4) {
    a = load32(p);
    b = load32(p + n - 4);
  } else if (n > 0) {
    a = uint64_t(p[0]) << 16 | uint64_t(p[n >> 1]) << 8 | p[n - 1];
  }
  return fold(a ^ kFoldA ^ h, b ^ kFoldB ^ size);
}

inline uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// Rook attacks for the replay, as a rank part and a file part from one 512-byte table: the attacks
// along a line of 8 squares depend only on the slider's place on it and the occupancy of the 6
// inner squares. With PEXT/PDEP that is two small lookups instead of one in the 200 KB packed rook
// table, whose lines the parser's streaming evicts between moves (GNU move tokens +4.5%, Lichess
// +0.5%, char +1.5%; docs/pgn-diary.md, round 5).
#if CHESSFORMER_USE_PEXT
struct SplitRook {
  uint8_t along[8][64];  // [place on the line][inner occupancy]: the attacked places, as 8 bits
  Bitboard rank_inner[8], file_inner[8], rank_all[8], file_all[8];
  SplitRook() {
    for (int i = 0; i < 8; ++i) {
      rank_all[i] = Bitboard(0xFF) << (8 * i);
      file_all[i] = Bitboard(0x0101010101010101ULL) << i;
      rank_inner[i] = rank_all[i] & ~(bb(8 * i) | bb(8 * i + 7));
      file_inner[i] = file_all[i] & ~(bb(i) | bb(56 + i));
    }
    for (int place = 0; place < 8; ++place)
      for (unsigned inner = 0; inner < 64; ++inner) {
        const unsigned line = inner << 1;  // occupancy of places 1..6
        unsigned a = 0;
        for (int q = place + 1; q < 8; ++q) {
          a |= 1u << q;
          if (line >> q & 1) break;
        }
        for (int q = place - 1; q >= 0; --q) {
          a |= 1u << q;
          if (line >> q & 1) break;
        }
        along[place][inner] = uint8_t(a);
      }
  }
};
const SplitRook kSplitRook;

inline Bitboard rook_reach(int s, Bitboard occ) {
  const int r = s >> 3, f = s & 7;
  const SplitRook& t = kSplitRook;
  return _pdep_u64(t.along[f][_pext_u64(occ, t.rank_inner[r])], t.rank_all[r]) |
         _pdep_u64(t.along[r][_pext_u64(occ, t.file_inner[f])], t.file_all[f]);
}
#else
inline Bitboard rook_reach(int s, Bitboard occ) { return packed_rook_attacks(s, occ); }
#endif

// Pieces of colour `us` and type pt that attack (pawns: capture onto) square `to`.
inline Bitboard reaching(const BoardState& s, Color us, PieceType pt, int to) {
  const Bitboard occ = s.pieces();
  Bitboard from = 0;
  switch (pt) {
    case KNIGHT: from = knight_attacks(to); break;
    case BISHOP: from = packed_bishop_attacks(to, occ); break;
    case ROOK: from = rook_reach(to, occ); break;
    case QUEEN: from = (rook_reach(to, occ) | packed_bishop_attacks(to, occ)); break;
    case KING: from = king_attacks(to); break;
    case PAWN: from = pawn_attacks(~us, to); break;
    default: break;
  }
  return from & s.pieces(us, pt);
}

// Pieces of colour `them` attacking square sq given an occupancy (BoardState::attackers_to, inline).
inline Bitboard attackers(const BoardState& s, int sq, Color them, Bitboard occ) {
  return ((pawn_attacks(~them, sq) & s.by_type[PAWN]) | (knight_attacks(sq) & s.by_type[KNIGHT]) |
          (king_attacks(sq) & s.by_type[KING]) |
          (packed_bishop_attacks(sq, occ) & (s.by_type[BISHOP] | s.by_type[QUEEN])) |
          (rook_reach(sq, occ) & (s.by_type[ROOK] | s.by_type[QUEEN]))) &
         s.by_color[them];
}

// Whether the (pseudo-legal, non-castling) move from -> to of the side to move leaves its king
// safe. `captured` is the square of the captured piece (to, or the en passant pawn), or SQ_NONE.
inline bool king_safe_after(const BoardState& s, int from, int to, int captured) {
  const Color us = s.side, them = ~us;
  Bitboard occ = (s.pieces() ^ bb(from)) | bb(to);
  Bitboard removed = 0;
  if (captured != SQ_NONE) {
    removed = bb(captured);
    if (captured != to) occ ^= bb(captured);
  }
  const int ksq = type_of(s.board[from]) == KING ? to : s.king(us);
  return !(attackers(s, ksq, them, occ) & ~removed);
}

// Small per-square tables of the replay, built once from the core's attack tables.
struct ReplayTables {
  Bitboard jump[2][7][64];  // [colour][piece type][s]: squares a pawn or knight on s attacks; else 0
  ReplayTables() {
    init_bitboards();
    for (int c = 0; c < 2; ++c)
      for (int pt = 0; pt < 7; ++pt)
        for (int s = 0; s < 64; ++s)
          jump[c][pt][s] = pt == PAWN ? pawn_attacks(Color(c), s) : pt == KNIGHT ? knight_attacks(s) : 0;
  }
};
const ReplayTables kTables;

// The king-safety facts of one position that decide most moves without simulating them: a move
// of a piece that is not on a line with its (unchecked) king can never expose it.
struct KingGuard {
  const BoardState& s;
  int ksq;
  bool in_check;
  // in_check: whether the side to move is in check (the replay tracks it move by move).
  KingGuard(const BoardState& st, bool check) : s(st), ksq(st.king(st.side)), in_check(check) {}
  explicit KingGuard(const BoardState& st)
      : KingGuard(st, attackers(st, st.king(st.side), ~st.side, st.pieces()) != 0) {}

  // Legality of the pseudo-legal non-king, non-en-passant move from -> to (a capture on `to` when
  // the square holds an enemy piece). Out of check, only a slider behind `from` can be uncovered:
  // any enemy slider reaching the king after the move, other than one captured on `to`. Both
  // slider lookups are done rather than branching on whether `from` is on a line with the king
  // (about a third of moves are, unpredictably).
  CHESSFORMER_INLINE bool safe(int from, int to) const {
    if (in_check) return king_safe_after(s, from, to, (s.pieces(~s.side) & bb(to)) ? to : int(SQ_NONE));
    const Color them = ~s.side;
    if (!(line_bb(ksq, from) & s.by_color[them] & (s.by_type[BISHOP] | s.by_type[ROOK] | s.by_type[QUEEN])))
      return true;
    const Bitboard occ = (s.pieces() ^ bb(from)) | bb(to);
    const Bitboard sliders = (rook_reach(ksq, occ) & s.pieces(them, ROOK, QUEEN)) |
                             (packed_bishop_attacks(ksq, occ) & s.pieces(them, BISHOP, QUEEN));
    return !(sliders & ~bb(to));
  }
};

// SAN piece letters (N B R Q K) to their type; 0 for every other byte.
constexpr std::array<uint8_t, 256> make_piece_letters() {
  std::array<uint8_t, 256> t{};
  t['N'] = KNIGHT;
  t['B'] = BISHOP;
  t['R'] = ROOK;
  t['Q'] = QUEEN;
  t['K'] = KING;
  return t;
}
constexpr std::array<uint8_t, 256> kPieceLetter = make_piece_letters();

// Standard castling written O-O / O-O-O (0-0 / 0-0-0), checked against the path directly.
// Returns the move, or Move::none() to mean "ask the core".
[[gnu::noinline]] Move fast_castle(const BoardState& s, const CastlingInfo& ci, std::string_view t) {
  const bool king_side = t == "O-O" || t == "0-0";
  if (ci.chess960 || !(king_side || t == "O-O-O" || t == "0-0-0")) return Move::none();
  const Color us = s.side, them = ~us;
  const CastlingRight cr =
      us == WHITE ? (king_side ? WHITE_OO : WHITE_OOO) : (king_side ? BLACK_OO : BLACK_OOO);
  if (!(s.castling & cr)) return Move::none();
  const int ksq = s.king(us), rsq = ci.rook_from[cr];
  const Bitboard occ = s.pieces();
  if (ci.empty_path[cr] & occ & ~(bb(ksq) | bb(rsq))) return Move::none();
  if (attackers(s, ksq, them, occ)) return Move::none();
  for (Bitboard p = ci.king_path[cr]; p;)
    if (attackers(s, pop_lsb(p), them, occ ^ bb(ksq))) return Move::none();
  return Move::make(ksq, rsq, Move::CASTLING);
}

// The square named by a file and a rank byte, or -1.
inline int square_of(char f, char r) {
  const unsigned ff = unsigned(f - 'a'), rr = unsigned(r - '1');
  return (ff | rr) < 8 ? int(rr * 8 + ff) : -1;
}

// A pawn move written e4, exd5, e8=Q or exd8=Q (t[0] is a file letter; check marks stripped).
CHESSFORMER_INLINE ParseStatus fast_pawn(const BoardState& s, bool in_check, const char* t, size_t n,
                                         Move& out) {
  const Color us = s.side;
  const int up = us == WHITE ? 8 : -8;
  const Bitboard occ = s.pieces(), pawns = s.pieces(us, PAWN);
  PieceType promo = NO_PIECE_TYPE;
  bool capture = false;
  int to;
  if (n == 2) {
    to = square_of(t[0], t[1]);
  } else if (n == 4 && t[1] == 'x') {
    to = square_of(t[2], t[3]);
    capture = true;
  } else if (n == 4 && t[2] == '=') {
    to = square_of(t[0], t[1]);
    promo = PieceType(kPieceLetter[uint8_t(t[3])]);
    if (promo == NO_PIECE_TYPE || promo == KING) return ParseStatus::INVALID;
  } else if (n == 6 && t[1] == 'x' && t[4] == '=') {
    to = square_of(t[2], t[3]);
    capture = true;
    promo = PieceType(kPieceLetter[uint8_t(t[5])]);
    if (promo == NO_PIECE_TYPE || promo == KING) return ParseStatus::INVALID;
  } else {
    return ParseStatus::INVALID;
  }
  if (to < 0) return ParseStatus::INVALID;
  const int rel_rank = relative_rank(us, rank_of(to));
  if ((rel_rank == 7) != (promo != NO_PIECE_TYPE)) return ParseStatus::INVALID;
  Move::Kind kind = promo != NO_PIECE_TYPE ? Move::PROMOTION : Move::NORMAL;
  int from;
  if (!capture) {
    if (occ & bb(to)) return ParseStatus::INVALID;
    if (rel_rank == 0) return ParseStatus::INVALID;  // no square behind it
    const int one = to - up;
    if (pawns & bb(one)) {
      from = one;
    } else if (!(occ & bb(one)) && rel_rank == 3 && (pawns & bb(one - up))) {
      from = one - up;
    } else {
      return ParseStatus::INVALID;
    }
    if (!KingGuard(s, in_check).safe(from, to)) return ParseStatus::INVALID;
  } else {
    const int ff = t[0] - 'a', df = ff - file_of(to);
    if (df != 1 && df != -1) return ParseStatus::INVALID;
    const int fr = rank_of(to) - (us == WHITE ? 1 : -1);
    if (fr < 0 || fr > 7) return ParseStatus::INVALID;
    from = make_square(ff, fr);
    if (!(pawns & bb(from))) return ParseStatus::INVALID;
    if (s.pieces(~us) & bb(to)) {
      if (!KingGuard(s, in_check).safe(from, to)) return ParseStatus::INVALID;
    } else if (to == s.ep) {
      kind = Move::EN_PASSANT;
      if (!king_safe_after(s, from, to, to - up)) return ParseStatus::INVALID;
    } else {
      return ParseStatus::INVALID;
    }
  }
  out = Move::make(from, to, kind, promo == NO_PIECE_TYPE ? KNIGHT : promo);
  return ParseStatus::OK;
}

// The fast path: well-formed SAN only. Returns OK with the move, or INVALID to mean "ask the core"
// (which then gives the exact verdict for every other spelling and for every failure).
// in_check: whether the side to move is in check. rivals: for a piece move, the other pieces of
// its type that reach the destination (legal or not: the SAN writer's disambiguation candidates);
// left alone otherwise.
CHESSFORMER_INLINE ParseStatus fast_resolve(const BoardState& s, const CastlingInfo& ci, bool in_check,
                                            std::string_view tok, Move& out, Bitboard& rivals) {
  const char* t = tok.data();
  size_t n = tok.size();
  while (n && (t[n - 1] == '+' || t[n - 1] == '#')) --n;
  if (n < 2 || n > 7) return ParseStatus::INVALID;
  if (unsigned(t[0] - 'a') < 8) return fast_pawn(s, in_check, t, n, out);
  const PieceType pt = PieceType(kPieceLetter[uint8_t(t[0])]);
  if (pt == NO_PIECE_TYPE) {
    if (t[0] == 'O' || t[0] == '0') {
      out = fast_castle(s, ci, std::string_view(t, n));
      return out == Move::none() ? ParseStatus::INVALID : ParseStatus::OK;
    }
    return ParseStatus::INVALID;
  }
  // N [file] [rank] [x] to: the middle part is at most three bytes.
  const int to = square_of(t[n - 2], t[n - 1]);
  if (to < 0 || n > 6) return ParseStatus::INVALID;
  const Color us = s.side;
  if (s.pieces(us) & bb(to)) return ParseStatus::INVALID;
  const char* mid = t + 1;
  size_t m = n - 3;
  // Branch-free (whether a piece move captures is unpredictable): t[m] is mid's last byte, or the
  // piece letter when m == 0.
  m -= size_t((t[m] == 'x') & (m != 0));
  Bitboard mask = ~Bitboard(0);
  if (m) {
    size_t i = 0;
    if (unsigned(mid[0] - 'a') < 8) mask = file_bb(mid[i++] - 'a');
    if (i < m && unsigned(mid[i] - '1') < 8) mask &= rank_bb(mid[i++] - '1');
    if (i != m) return ParseStatus::INVALID;
  }
  // Pieces of type pt reaching `to`, without branching on the type: each attack set is limited to
  // the types that move that way, then to pt.
  const Bitboard occ = s.pieces();
  const Bitboard reach = (packed_bishop_attacks(to, occ) & (s.by_type[BISHOP] | s.by_type[QUEEN])) |
                         (rook_reach(to, occ) & (s.by_type[ROOK] | s.by_type[QUEEN])) |
                         (knight_attacks(to) & s.by_type[KNIGHT]) | (king_attacks(to) & s.by_type[KING]);
  const Bitboard all = reach & s.pieces(us, pt);
  Bitboard cands = all & mask;
  if (!cands) return ParseStatus::INVALID;
  if (pt == KING) {  // one king; its destination must not be attacked (king lifted)
    const int from = lsb(cands);
    if (!king_safe_after(s, from, to, (s.pieces(~us) & bb(to)) ? to : int(SQ_NONE)))
      return ParseStatus::INVALID;
    out = Move(from, to);
    rivals = 0;
    return ParseStatus::OK;
  }
  const KingGuard guard(s, in_check);
  if (!more_than_one(cands)) {
    const int from = lsb(cands);
    if (!guard.safe(from, to)) return ParseStatus::INVALID;
    out = Move(from, to);
    rivals = all ^ bb(from);
    return ParseStatus::OK;
  }
  Move found;
  int k = 0;
  while (cands) {
    const int from = pop_lsb(cands);
    if (!guard.safe(from, to)) continue;
    found = Move(from, to);
    ++k;
  }
  if (k != 1) return ParseStatus::INVALID;
  out = found;
  rivals = all ^ bb(found.from());
  return ParseStatus::OK;
}

constexpr uint16_t saturating_inc(uint16_t v) { return v == UINT16_MAX ? v : uint16_t(v + 1); }

// make_move for the replay, in place: the same resulting position (placement, side, castling
// rights, en passant square, clocks) but no Zobrist key (BoardState::key is left stale; nothing in
// the replay reads it), with only the touched bitboards and squares written. Returns whether the
// side to move is then in check, found from the move alone: the side that just moved was not in
// check, so only the moved piece (direct) or a slider behind its origin (discovered) can give it.
template <Color Us>
CHESSFORMER_INLINE bool play_impl(BoardState& n, const CastlingInfo& ci, Move m) {
  constexpr Color Them = ~Us;
  constexpr int Up = Us == WHITE ? 8 : -8;
  const int from = m.from(), to = m.to();
  const Bitboard fb = bb(from), tb = bb(to);
  const Piece pc = n.board[from], cap = n.board[to];
  const PieceType pt = type_of(pc);
  // The captured piece (none: by_type[0], rewritten below) leaves `to`, then the mover arrives.
  Bitboard occ = (n.by_type[0] ^ fb) | tb;
  n.by_type[type_of(cap)] ^= tb;
  n.by_color[Them] ^= cap != NO_PIECE ? tb : 0;
  n.by_color[Us] ^= fb | tb;
  n.board[from] = NO_PIECE;
  const Move::Kind kind = m.kind();
  PieceType placed = pt;
  bool unusual = false;  // en passant also uncovers the captured pawn's square
  if (kind == Move::NORMAL) {
    n.by_type[pt] ^= fb | tb;
    n.board[to] = pc;
  } else if (kind == Move::PROMOTION) {
    placed = m.promotion();
    n.by_type[PAWN] ^= fb;
    n.by_type[placed] ^= tb;
    n.board[to] = make_piece(Us, placed);
  } else {  // en passant
    const int capsq = to - Up;
    n.by_type[PAWN] ^= fb | tb | bb(capsq);
    n.by_color[Them] ^= bb(capsq);
    n.board[to] = pc;
    n.board[capsq] = NO_PIECE;
    occ ^= bb(capsq);
    unusual = true;
  }
  n.by_type[0] = occ;
  n.side = Them;
  // Branch-free: zero after a pawn move or a capture, else a saturating increment.
  const bool zeroing = (pt == PAWN) | (cap != NO_PIECE);
  n.halfmove = uint16_t(saturating_inc(n.halfmove) * !zeroing);
  if (Us == BLACK) n.fullmove = saturating_inc(n.fullmove);
  n.castling &= ci.rights_mask[from] & ci.rights_mask[to];
  n.ep = SQ_NONE;
  // As make_move: a double push records the en passant square only if a capture there is legal
  // (tested only when an enemy pawn stands beside the pushed one, which is rare).
  const Square ep = Square((from + to) >> 1);  // the square passed over, for a double push
  const bool double_push = (pt == PAWN) & ((from ^ to) == 16);
  if ((pawn_attacks(Us, ep) & n.pieces(Them, PAWN) & (Bitboard(0) - double_push)) &&
      ep_capture_is_legal(n, ep))
    n.ep = ep;
  const Bitboard kbb = n.by_color[Them] & n.by_type[KING];
  const int ksq = lsb(kbb);
  if (unusual) return attackers(n, ksq, Us, occ) != 0;
  // A pawn or knight checks only if it is the piece that moved; any of our sliders reaching the
  // king now does (none did before).
  const Bitboard sliders = (rook_reach(ksq, occ) & (n.by_type[ROOK] | n.by_type[QUEEN])) |
                           (packed_bishop_attacks(ksq, occ) & (n.by_type[BISHOP] | n.by_type[QUEEN]));
  return ((sliders & n.by_color[Us]) | (kTables.jump[Us][placed][to] & kbb)) != 0;
}

// Castling (rare) through the core's copy-make, out of line so that play() keeps a small frame.
[[gnu::noinline]] bool play_castling(BoardState& s, const CastlingInfo& ci, Move m) {
  BoardState next;
  make_move(s, ci, m, next);
  s = next;
  return attackers(s, s.king(s.side), ~s.side, s.pieces()) != 0;
}

// `s` becomes the position after its legal move m (make_move in place, without the key). Returns
// whether the side to move is then in check.
CHESSFORMER_INLINE bool play(BoardState& s, const CastlingInfo& ci, Move m) {
  if (m.kind() == Move::CASTLING) return play_castling(s, ci, m);
  return s.side == WHITE ? play_impl<WHITE>(s, ci, m) : play_impl<BLACK>(s, ci, m);
}

}  // namespace

ParseStatus resolve_san(const Position& pos, std::string_view token, Move& out) {
  const BoardState& s = pos.state();
  const bool in_check = attackers(s, s.king(s.side), ~s.side, s.pieces()) != 0;
  Bitboard rivals;
  if (fast_resolve(s, pos.castling_info(), in_check, token, out, rivals) == ParseStatus::OK)
    return ParseStatus::OK;
  return pos.try_parse_san(token, out);
}

namespace {

// rivals value meaning "not known": san_body finds them itself.
constexpr Bitboard kUnknownRivals = ~Bitboard(0);

// The SAN of the legal move m of `s` without its check suffix, written at buf (at least 8 bytes);
// returns its length. in_check: whether the side to move in `s` is in check. rivals: the other
// pieces of the mover's type that reach the destination (as fast_resolve gives them), or
// kUnknownRivals.
int san_body(const BoardState& s, Move m, bool in_check, Bitboard rivals, char* buf) {
  int n = 0;
  const Square from = m.from(), to = m.to();
  if (m.kind() == Move::CASTLING) {
    const bool king_side = to > from;
    std::memcpy(buf, "O-O-O", 5);
    return king_side ? 3 : 5;
  }
  const PieceType pt = type_of(s.board[from]);
  const bool capture = m.kind() == Move::EN_PASSANT || s.board[to] != NO_PIECE;
  if (pt == PAWN) {
    if (capture) {
      buf[n++] = char('a' + file_of(from));
      buf[n++] = 'x';
    }
  } else {
    buf[n++] = " PNBRQK"[pt];
    // Other legal moves of the same piece type to the same square decide the disambiguation.
    Bitboard others = rivals != kUnknownRivals ? rivals
                      : pt == KING             ? 0
                                               : reaching(s, s.side, pt, to) & ~bb(from);
    if (others) {
      bool any = false, same_file = false, same_rank = false;
      const KingGuard guard(s, in_check);
      while (others) {
        const int o = pop_lsb(others);
        if (!guard.safe(o, to)) continue;
        any = true;
        same_file |= file_of(o) == file_of(from);
        same_rank |= rank_of(o) == rank_of(from);
      }
      if (any) {
        if (!same_file) {
          buf[n++] = char('a' + file_of(from));
        } else if (!same_rank) {
          buf[n++] = char('1' + rank_of(from));
        } else {
          buf[n++] = char('a' + file_of(from));
          buf[n++] = char('1' + rank_of(from));
        }
      }
    }
    if (capture) buf[n++] = 'x';
  }
  buf[n++] = char('a' + file_of(to));
  buf[n++] = char('1' + rank_of(to));
  if (m.kind() == Move::PROMOTION) {
    buf[n++] = '=';
    buf[n++] = " PNBRQK"[m.promotion()];
  }
  return n;
}

}  // namespace

void append_san(const BoardState& s, const CastlingInfo& ci, Move m, const BoardState& next,
                std::string& out) {
  char buf[16];  // the longest SAN is 7 bytes (Qa1xb2+, exd8=Q#)
  int n = san_body(s, m, attackers(s, s.king(s.side), ~s.side, s.pieces()) != 0, kUnknownRivals, buf);
  if (attackers(next, next.king(next.side), ~next.side, next.pieces()) != 0)
    buf[n++] = has_legal_move(next, ci) ? '+' : '#';
  out.append(buf, size_t(n));
}

std::string_view replay_code_name(ReplayCode c) {
  switch (c) {
    case ReplayCode::kNone: return "none";
    case ReplayCode::kInvalidSan: return "invalid_san";
    case ReplayCode::kIllegalSan: return "illegal_san";
    case ReplayCode::kAmbiguousSan: return "ambiguous_san";
    case ReplayCode::kNullMove: return "null_move";
    case ReplayCode::kBadFen: return "bad_fen";
  }
  return "unknown";
}

bool is_standard_variant(std::string_view v) {
  return v.empty() || v == "Standard" || v == "standard" || v == "From Position" || v == "chess" ||
         v == "Chess";
}

bool is_chess960_variant(std::string_view v) {
  return v == "Chess960" || v == "chess960" || v == "Chess 960" || v == "Fischerandom" ||
         v == "Fischer Random" || v == "fischerandom";
}

ReplayVisitor::ReplayVisitor(ReplayOptions options) : options_(options) {}

uint64_t ReplayVisitor::game_hash() const { return mix64(hash_ ^ moves_.size()); }

void ReplayVisitor::begin_game(uint64_t offset) {
  offset_ = offset;
  tags_ = GameTags{};
  all_tags_.clear();
  moves_.clear();
  evals_.clear();
  clocks_.clear();
  transcript_.clear();
  error_ = ReplayError{};
  fen_castling_dropped_.clear();
  hash_ = kFnvOffset;
  chess960_ = false;
  standard_start_ = true;
  skipping_ = false;
}

void ReplayVisitor::tag(std::string_view name, std::string_view value) {
  hash_ = hash_field(hash_field(hash_, name), value);
  if (options_.keep_tags) all_tags_.emplace_back(name, value);
  switch (name.size()) {
    case 3:
      if (name == "FEN") tags_.fen.assign(value);
      break;
    case 5:
      if (name == "SetUp") tags_.setup = value == "1";
      break;
    case 6:
      if (name == "Result") tags_.result_tag = parse_result(value);
      break;
    case 7:
      if (name == "Variant") tags_.variant.assign(value);
      break;
    case 8:
      if (name == "WhiteElo") tags_.white_elo = parse_int_tag(value).value_or(-1);
      if (name == "BlackElo") tags_.black_elo = parse_int_tag(value).value_or(-1);
      break;
    case 11:
      if (name == "TimeControl") {
        if (auto tc = parse_time_control(value)) {
          tags_.tc_base = tc->base_seconds;
          tags_.tc_inc = tc->increment_seconds;
        } else {
          tags_.tc_correspondence = value == "-";
        }
      }
      if (name == "Termination") tags_.termination.assign(value);
      break;
    default: break;
  }
}

bool ReplayVisitor::end_tags() {
  chess960_ = options_.allow_chess960 && is_chess960_variant(tags_.variant);
  if (!tags_.fen.empty()) {
    try {
      custom_ = Position::from_fen(tags_.fen, chess960_, &fen_castling_dropped_);
      start_ = &custom_;
      standard_start_ = custom_.fen() == Position::START_FEN && !chess960_;
    } catch (const std::exception&) {
      start_ = &standard_;            // standard_start_ stays true; no move is replayed
      fen_castling_dropped_.clear();  // the bad_fen error says it all
      fail(ReplayCode::kBadFen, tags_.fen);
    }
  } else {
    start_ = chess960_ ? &standard960_ : &standard_;
    standard_start_ = !chess960_;
  }
  state_ = start_->state();
  in_check_ = state_.in_check();
  ci_ = &start_->castling_info();
  slow_valid_ = false;
  if (options_.canonical_san) transcript_.assign(1, ';');
  skipping_ = !accept_tags();
  return skipping_;
}

const Position& ReplayVisitor::slow_position() {
  if (!slow_valid_) {
    slow_ = *start_;
    slow_plies_ = 0;
    slow_valid_ = true;
  }
  while (slow_plies_ < moves_.size()) slow_.push(moves_[slow_plies_++]);
  return slow_;
}

void ReplayVisitor::fail(ReplayCode code, std::string_view token) {
  error_.code = code;
  error_.ply = uint32_t(moves_.size());
  error_.offset = offset_;
  error_.token.assign(token.substr(0, 64));
}

void ReplayVisitor::san(std::string_view token, uint32_t /*ply*/) {
  if (error_.code != ReplayCode::kNone) return;
  BoardState& s = state_;
  Move m;
  Bitboard rivals = kUnknownRivals;
  if (fast_resolve(s, *ci_, in_check_, token, m, rivals) != ParseStatus::OK) {
    m = slow_san(token);
    if (m == Move::none()) return;
    rivals = kUnknownRivals;
  }
  const Color mover = s.side;
  if (options_.canonical_san) {
    play_and_write_san(m, rivals);
  } else {
    in_check_ = play(s, *ci_, m);
  }
  moves_.push_back(m);
  hash_ = (hash_ ^ m.raw()) * kFnvPrime;  // off the per-ply critical path, unlike a loop at the end
  ++total_plies_;
  if (options_.annotations) add_annotation_slots();
  if (move_hook_) on_move(mover, m);
}

// The rare and the optional parts of san(), out of line so that its hot path stays small.
Move ReplayVisitor::slow_san(std::string_view token) {
  Move m;
  switch (slow_position().try_parse_san(token, m)) {
    case ParseStatus::OK: return m;
    case ParseStatus::NULL_MOVE: fail(ReplayCode::kNullMove, token); break;
    case ParseStatus::AMBIGUOUS: fail(ReplayCode::kAmbiguousSan, token); break;
    case ParseStatus::ILLEGAL: fail(ReplayCode::kIllegalSan, token); break;
    case ParseStatus::INVALID: fail(ReplayCode::kInvalidSan, token); break;
  }
  return Move::none();
}

void ReplayVisitor::play_and_write_san(Move m, Bitboard rivals) {
  // ";1.e4 e5 2.Nf3": the move number before White's moves, the SAN written from the position
  // before the move, then the move made in place and the check suffix added from the result.
  char buf[32];
  int n = 0;
  const size_t i = moves_.size();
  if (i % 2 == 0) {
    if (i) buf[n++] = ' ';
    char digits[12];
    int k = 0;
    for (uint32_t v = uint32_t(i / 2 + 1); v; v /= 10) digits[k++] = char('0' + v % 10);
    while (k) buf[n++] = digits[--k];
    buf[n++] = '.';
  } else {
    buf[n++] = ' ';
  }
  n += san_body(state_, m, in_check_, rivals, buf + n);
  in_check_ = play(state_, *ci_, m);
  if (in_check_) buf[n++] = has_legal_move(state_, *ci_) ? '+' : '#';
  transcript_.append(buf, size_t(n));
}

void ReplayVisitor::add_annotation_slots() {
  evals_.push_back(std::numeric_limits<float>::quiet_NaN());
  clocks_.push_back(std::numeric_limits<float>::quiet_NaN());
}

void ReplayVisitor::comment(std::string_view text, uint32_t ply) {
  // A comment with ply p annotates move p - 1; only moves that were replayed get values.
  if (!options_.annotations || ply == 0 || ply > moves_.size()) return;
  if (text.find("[%") == std::string_view::npos) return;
  if (auto e = parse_eval(text)) {
    evals_[ply - 1] = e->is_mate ? float(e->mate > 0 ? 1000 - e->mate : -1000 - e->mate) : e->pawns;
  }
  if (auto c = parse_clock(text)) clocks_[ply - 1] = float(*c);
}

void ReplayVisitor::end_game(const GameInfo& info) {
  if (fen_castling_dropped_.empty()) return finish(info);
  // The FEN tag's impossible castling rights were dropped (end_tags): a warning of the game, first
  // in its list, as the tags come before the moves.
  GameInfo with = info;
  ParseError e;
  e.code = ErrorCode::kFenCastlingDropped;
  e.offset = info.offset;
  e.token_len = uint8_t(std::min(fen_castling_dropped_.size(), ParseError::kTokenCap));
  std::memcpy(e.token_buf, fen_castling_dropped_.data(), e.token_len);
  with.errors.insert(with.errors.begin(), e);
  ++with.n_errors;
  finish(with);
}

StreamStats ReplayVisitor::run_parser(const ParserOptions& options, std::vector<char>& buffer,
                                      ByteSource& source) {
  detail::Run<ReplayVisitor> run(options, buffer, source, *this);
  return run.run();
}

}  // namespace chess::pgn
