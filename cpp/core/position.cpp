// Position: FEN in and out, history (push/pop), and game-end rules.
#include "core/position.h"

#include <charconv>
#include <cstring>

namespace chess {

void CastlingInfo::clear() {
  chess960 = false;
  for (int i = 0; i < 16; ++i) {
    rook_from[i] = SQ_NONE;
    empty_path[i] = king_path[i] = 0;
  }
  for (auto& m : rights_mask) m = ALL_CASTLING;
}

void CastlingInfo::add(Color c, CastlingRight right, Square king_sq, Square rook_sq) {
  const bool king_side = rook_sq > king_sq;
  const Square kto = castle_king_to(c, king_side), rto = castle_rook_to(c, king_side);
  rook_from[right] = rook_sq;
  empty_path[right] = (between_bb(king_sq, kto) | between_bb(rook_sq, rto) | bb(kto) | bb(rto)) &
                      ~(bb(king_sq) | bb(rook_sq));
  king_path[right] = between_bb(king_sq, kto) | bb(kto);
  rights_mask[king_sq] &= uint8_t(~(c == WHITE ? (WHITE_OO | WHITE_OOO) : (BLACK_OO | BLACK_OOO)));
  rights_mask[rook_sq] &= uint8_t(~right);
}

namespace {

constexpr std::string_view PIECE_CHARS = " PNBRQK  pnbrqk";

Piece piece_from_char(char ch) {
  auto i = PIECE_CHARS.find(ch);
  if (i == std::string_view::npos || ch == ' ') return NO_PIECE;
  return Piece(i);
}

std::vector<std::string_view> split_fields(std::string_view s) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
    size_t j = i;
    while (j < s.size() && s[j] != ' ' && s[j] != '\t') ++j;
    if (j > i) out.push_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

bool parse_uint(std::string_view s, unsigned& v) {
  if (s.empty() || s.size() > 6) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  auto res = std::from_chars(s.data(), s.data() + s.size(), v);
  return res.ec == std::errc();
}

const char* color_name(Color c) { return c == WHITE ? "white" : "black"; }

// A character for an error message: 'x' when printable ASCII, else "byte 0xNN" (a lone byte of a
// UTF-8 sequence would make the message invalid UTF-8, which Python cannot decode).
std::string quote_char(char c) {
  const unsigned char u = static_cast<unsigned char>(c);
  if (u >= 32 && u < 127) return std::string("'") + c + "'";
  static constexpr char HEX[] = "0123456789ABCDEF";
  return std::string("byte 0x") + HEX[u >> 4] + HEX[u & 15];
}

// The FEN with control characters escaped as \xNN (a NUL would cut the Python message short).
std::string escape_controls(std::string_view s) {
  std::string out;
  for (char c : s) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (u < 32 || u == 127) {
      static constexpr char HEX[] = "0123456789abcdef";
      out += "\\x";
      out += HEX[u >> 4];
      out += HEX[u & 15];
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

Position::Position() : Position(from_fen(START_FEN)) {}

Position Position::from_fen(std::string_view fen, bool chess960, std::string* dropped_castling) {
  init_bitboards();
  Position pos{Uninit{}};
  pos.states_.clear();
  pos.ci_.clear();
  pos.ci_.chess960 = chess960;
  BoardState s;
  std::memset(&s, 0, sizeof(s));
  s.ep = SQ_NONE;

  for (char c : fen)
    if (static_cast<unsigned char>(c) < 32 && c != '\t')
      throw FenError(escape_controls(fen), "contains a control character");
  auto fields = split_fields(fen);
  if (fields.empty()) throw FenError(fen, "empty string");
  if (fields.size() > 6) throw FenError(fen, "more than 6 space-separated fields");

  // 1. Piece placement, rank 8 first.
  {
    std::string_view board = fields[0];
    int rank = 7, file = 0;
    bool last_digit = false;
    for (size_t i = 0; i < board.size(); ++i) {
      char c = board[i];
      if (c == '/') {
        if (file != 8)
          throw FenError(fen, "rank " + std::to_string(rank + 1) + " describes " + std::to_string(file) +
                                  " squares, expected 8");
        if (rank == 0) throw FenError(fen, "board has more than 8 ranks");
        --rank;
        file = 0;
        last_digit = false;
      } else if (c >= '1' && c <= '8') {
        if (last_digit)
          throw FenError(fen, "two adjacent empty-square counts in rank " + std::to_string(rank + 1));
        file += c - '0';
        last_digit = true;
        if (file > 8)
          throw FenError(fen, "rank " + std::to_string(rank + 1) + " describes more than 8 squares");
      } else {
        Piece p = piece_from_char(c);
        if (p == NO_PIECE) throw FenError(fen, "invalid character " + quote_char(c) + " in piece placement");
        if (file >= 8)
          throw FenError(fen, "rank " + std::to_string(rank + 1) + " describes more than 8 squares");
        s.put(p, make_square(file, rank));
        ++file;
        last_digit = false;
      }
    }
    if (rank != 0) throw FenError(fen, "board has " + std::to_string(8 - rank) + " ranks, expected 8");
    if (file != 8) throw FenError(fen, "rank 1 describes " + std::to_string(file) + " squares, expected 8");
  }
  for (Color c : {WHITE, BLACK}) {
    int kings = popcount(s.pieces(c, KING));
    if (kings != 1)
      throw FenError(
          fen, std::string(color_name(c)) + " has " + std::to_string(kings) + " kings, expected exactly 1");
    if (popcount(s.pieces(c)) > 16)
      throw FenError(fen, std::string(color_name(c)) + " has more than 16 pieces");
    if (popcount(s.pieces(c, PAWN)) > 8)
      throw FenError(fen, std::string(color_name(c)) + " has more than 8 pawns");
  }
  if (s.pieces(PAWN) & (RANK_1_BB | RANK_8_BB)) throw FenError(fen, "pawn on the first or last rank");

  // 2. Side to move.
  s.side = WHITE;
  if (fields.size() > 1) {
    if (fields[1] == "w")
      s.side = WHITE;
    else if (fields[1] == "b")
      s.side = BLACK;
    else
      throw FenError(fen, "side to move must be 'w' or 'b', got '" + std::string(fields[1]) + "'");
  }

  // 3. Castling: KQkq (X-FEN: outermost rook), or Shredder-FEN/X-FEN rook files A-H / a-h.
  s.castling = NO_CASTLING;
  if (fields.size() > 2 && fields[2] != "-") {
    for (char c : fields[2]) {
      const Color col = (c >= 'a' && c <= 'z') ? BLACK : WHITE;
      const char u = char(c & ~0x20);
      const int back = col == WHITE ? 0 : 7;
      const Square ksq = s.king(col);
      if (!((u == 'K' || u == 'Q') || (u >= 'A' && u <= 'H')))
        throw FenError(fen, "invalid castling character " + quote_char(c));
      // A right this position cannot have: thrown, or dropped when the caller asks for that.
      auto impossible = [&](const std::string& rule) {
        if (!dropped_castling) throw FenError(fen, std::string("castling right '") + c + "' " + rule);
        dropped_castling->push_back(c);
      };
      if (rank_of(ksq) != back) {
        impossible(std::string("but the ") + color_name(col) + " king is not on its back rank");
        continue;
      }
      Square rsq = SQ_NONE;
      const Bitboard rooks = s.pieces(col, ROOK) & rank_bb(back);
      if (u == 'K') {
        for (int f = 7; f > file_of(ksq); --f)
          if (rooks & bb(make_square(f, back))) {
            rsq = make_square(f, back);
            break;
          }
      } else if (u == 'Q') {
        for (int f = 0; f < file_of(ksq); ++f)
          if (rooks & bb(make_square(f, back))) {
            rsq = make_square(f, back);
            break;
          }
      } else {
        rsq = make_square(u - 'A', back);
        if (!(rooks & bb(rsq))) rsq = SQ_NONE;
      }
      if (rsq == SQ_NONE) {
        impossible(std::string("but no ") + color_name(col) + " rook stands where it needs to");
        continue;
      }
      const bool king_side = rsq > ksq;
      const CastlingRight cr = CastlingRight((col == WHITE ? 1 : 4) << (king_side ? 0 : 1));
      if (s.castling & cr) {
        impossible("given twice");
        continue;
      }
      if (!chess960 && (file_of(ksq) != 4 || (file_of(rsq) != (king_side ? 7 : 0)))) {
        impossible("needs the king on the e-file and the rook in the corner (use chess960 mode)");
        continue;
      }
      s.castling |= cr;
      pos.ci_.add(col, cr, ksq, rsq);
    }
  }

  // 4. En passant target square.
  Square ep = SQ_NONE;
  if (fields.size() > 3 && fields[3] != "-") {
    std::string_view e = fields[3];
    if (e.size() != 2 || e[0] < 'a' || e[0] > 'h' || e[1] < '1' || e[1] > '8')
      throw FenError(fen, "en passant square '" + std::string(e) + "' is not a square");
    ep = make_square(e[0] - 'a', e[1] - '1');
    const int want = s.side == WHITE ? 5 : 2;
    if (rank_of(ep) != want)
      throw FenError(fen, "en passant square '" + std::string(e) + "' must be on rank " +
                              std::to_string(want + 1) + " when " + color_name(s.side) + " is to move");
    const int up = s.side == WHITE ? 8 : -8;  // from the capturer's view
    const Square pawn_sq = Square(ep - up), origin = Square(ep + up);
    if (s.board[pawn_sq] != make_piece(~s.side, PAWN))
      throw FenError(fen, "en passant square '" + std::string(e) + "' without a " + color_name(~s.side) +
                              " pawn in front of it");
    if (s.board[ep] != NO_PIECE || s.board[origin] != NO_PIECE)
      throw FenError(fen, "en passant square '" + std::string(e) + "' but the pawn's path is not empty");
  }

  // 5-6. Clocks.
  unsigned half = 0, full = 1;
  if (fields.size() > 4 && !parse_uint(fields[4], half))
    throw FenError(fen, "halfmove clock '" + std::string(fields[4]) + "' is not a non-negative integer");
  if (fields.size() > 5 && !parse_uint(fields[5], full))
    throw FenError(fen, "fullmove number '" + std::string(fields[5]) + "' is not a non-negative integer");
  if (half > 65535) throw FenError(fen, "halfmove clock is too large");
  if (full > 65535) throw FenError(fen, "fullmove number is too large");
  s.halfmove = uint16_t(half);
  s.fullmove = uint16_t(full == 0 ? 1 : full);

  // Position-level rules.
  if (s.attackers_to(s.king(~s.side), s.side, s.pieces()))
    throw FenError(fen, std::string("the side not to move (") + color_name(~s.side) + ") is in check");
  const Bitboard checkers = s.checkers();
  if (popcount(checkers) > 2) throw FenError(fen, "more than two pieces give check");

  if (ep != SQ_NONE && ep_capture_is_legal(s, ep)) s.ep = ep;
  s.key = compute_key(s);
  pos.states_.push_back(s);
  pos.start_fen_ = pos.fen();
  return pos;
}

std::string Position::board_fen() const {
  const BoardState& s = state();
  std::string out;
  for (int r = 7; r >= 0; --r) {
    int empty = 0;
    for (int f = 0; f < 8; ++f) {
      Piece p = s.board[make_square(f, r)];
      if (p == NO_PIECE) {
        ++empty;
      } else {
        if (empty) out += char('0' + empty);
        empty = 0;
        out += PIECE_CHARS[p];
      }
    }
    if (empty) out += char('0' + empty);
    if (r) out += '/';
  }
  return out;
}

std::string Position::fen() const {
  const BoardState& s = state();
  std::string out = board_fen();
  out += s.side == WHITE ? " w " : " b ";
  if (!s.castling) {
    out += '-';
  } else {
    for (CastlingRight cr : {WHITE_OO, WHITE_OOO, BLACK_OO, BLACK_OOO}) {
      if (!(s.castling & cr)) continue;
      const Color c = (cr & (WHITE_OO | WHITE_OOO)) ? WHITE : BLACK;
      const bool king_side = cr == WHITE_OO || cr == BLACK_OO;
      const Square rsq = ci_.rook_from[cr];
      // X-FEN: KQkq when the castling rook is the outermost one on its side, else its file.
      bool outermost = true;
      const Bitboard rooks = s.pieces(c, ROOK) & rank_bb(rank_of(rsq));
      for (Bitboard b = rooks; b;) {
        Square o = pop_lsb(b);
        if (king_side ? (o > rsq) : (o < rsq)) outermost = false;
      }
      char ch = outermost ? (king_side ? 'K' : 'Q') : char('A' + file_of(rsq));
      if (c == BLACK) ch = char(ch | 0x20);
      out += ch;
    }
  }
  out += ' ';
  out += s.ep == SQ_NONE ? std::string("-") : square_name(s.ep);
  out += ' ' + std::to_string(s.halfmove) + ' ' + std::to_string(s.fullmove);
  return out;
}

MoveList Position::legal_moves() const {
  MoveList list;
  list.count = generate_legal(state(), ci_, list.moves);
  return list;
}

bool Position::is_legal(Move m) const {
  if (!m.is_ok()) return false;
  return legal_moves().contains(m);
}

void Position::push(Move m) {
  BoardState next;
  make_move(state(), ci_, m, next);
  states_.push_back(next);
  moves_.push_back(m);
}

void Position::push_null() {
  BoardState next;
  make_null_move(state(), next);
  states_.push_back(next);
  moves_.push_back(Move::null());
}

void Position::pop() {
  if (moves_.empty()) throw std::out_of_range("pop from an empty move stack");
  states_.pop_back();
  moves_.pop_back();
}

bool Position::has_insufficient_material(Color c) const {
  const BoardState& s = state();
  const Bitboard ours = s.pieces(c);
  if (ours & (s.pieces(PAWN) | s.pieces(ROOK) | s.pieces(QUEEN))) return false;
  // A lone knight cannot force mate, but the opponent's own pieces could let it help-mate.
  if (ours & s.pieces(KNIGHT))
    return popcount(ours) <= 2 && !(s.pieces(~c) & ~s.pieces(KING) & ~s.pieces(QUEEN));
  // Bishops all on one colour cannot mate unless the opponent has pawns or knights to block with.
  if (ours & s.pieces(BISHOP)) {
    const Bitboard b = s.pieces(BISHOP);
    const bool same_colour = !(b & DARK_SQUARES) || !(b & LIGHT_SQUARES);
    return same_colour && !s.pieces(PAWN) && !s.pieces(KNIGHT);
  }
  return true;
}

int Position::repetition_count() const {
  const int n = int(states_.size());
  const BoardState& cur = states_.back();
  int count = 1;
  // Only positions since the last capture or pawn move can repeat; earlier ones differ in material.
  const int limit = std::max(0, n - 1 - int(cur.halfmove));
  for (int i = n - 3; i >= limit; i -= 2)
    if (states_[i].key == cur.key) ++count;
  return count;
}

bool Position::can_claim_fifty_moves() const {
  const BoardState& s = state();
  if (s.halfmove < 99) return false;
  const MoveList moves = legal_moves();
  if (moves.size() == 0) return false;
  if (s.halfmove >= 100) return true;
  for (Move m : moves) {
    const bool zeroing =
        type_of(s.board[m.from()]) == PAWN || (m.kind() != Move::CASTLING && s.board[m.to()] != NO_PIECE);
    if (!zeroing) return true;
  }
  return false;
}

bool Position::can_claim_threefold_repetition() const {
  if (repetition_count() >= 3) return true;
  const int n = int(states_.size());
  for (Move m : legal_moves()) {
    BoardState next;
    make_move(state(), ci_, m, next);
    if (next.halfmove == 0) continue;  // a capture or pawn move cannot repeat anything
    int seen = 0;
    for (int i = std::max(0, n - int(next.halfmove)); i < n; ++i) seen += states_[i].key == next.key;
    if (seen >= 2) return true;
  }
  return false;
}

Outcome Position::outcome(bool claim_draw) const {
  const BoardState& s = state();
  const bool any_move = has_legal_move(s, ci_);
  if (!any_move && s.in_check()) return {Termination::CHECKMATE, int(~s.side)};
  if (is_insufficient_material()) return {Termination::INSUFFICIENT_MATERIAL, -1};
  if (!any_move) return {Termination::STALEMATE, -1};
  if (is_seventyfive_moves()) return {Termination::SEVENTYFIVE_MOVES, -1};
  if (repetition_count() >= 5) return {Termination::FIVEFOLD_REPETITION, -1};
  if (claim_draw) {
    if (can_claim_fifty_moves()) return {Termination::FIFTY_MOVES, -1};
    if (can_claim_threefold_repetition()) return {Termination::THREEFOLD_REPETITION, -1};
  }
  return {};
}

}  // namespace chess
