// Move notations: UCI (standard and Chess960 castling) and SAN (strict output, lenient input).
#include <algorithm>
#include <cctype>

#include "core/position.h"

namespace chess {

namespace {

constexpr char PROMO_CHARS[] = " pnbrqk";

PieceType piece_from_letter(char c) {
  switch (c) {
    case 'P': return PAWN;
    case 'N': return KNIGHT;
    case 'B': return BISHOP;
    case 'R': return ROOK;
    case 'Q': return QUEEN;
    case 'K': return KING;
    default: return NO_PIECE_TYPE;
  }
}

PieceType promo_from_letter(char c) {
  switch (c) {
    case 'N':
    case 'n': return KNIGHT;
    case 'B':
    case 'b': return BISHOP;
    case 'R':
    case 'r': return ROOK;
    case 'Q':
    case 'q': return QUEEN;
    default: return NO_PIECE_TYPE;
  }
}

bool is_file(char c) { return c >= 'a' && c <= 'h'; }
bool is_rank(char c) { return c >= '1' && c <= '8'; }

bool is_null_token(std::string_view s) { return s == "--" || s == "Z0" || s == "0000" || s == "@@@@"; }

// Strip what annotates a move without changing it: NAGs ($n), !/? suffixes, check marks, e.p.
std::string_view strip_suffixes(std::string_view s) {
  for (;;) {
    size_t before = s.size();
    while (!s.empty() && (s.back() == '!' || s.back() == '?' || s.back() == '+' || s.back() == '#'))
      s.remove_suffix(1);
    // $123
    size_t i = s.size();
    while (i > 0 && std::isdigit(static_cast<unsigned char>(s[i - 1]))) --i;
    if (i > 0 && i < s.size() && s[i - 1] == '$') s = s.substr(0, i - 1);
    for (std::string_view ep : {"e.p.", "ep"}) {
      if (s.size() > ep.size() + 1 && s.substr(s.size() - ep.size()) == ep &&
          is_rank(s[s.size() - ep.size() - 1]))
        s.remove_suffix(ep.size());
    }
    if (s.size() == before) return s;
  }
}

}  // namespace

std::string Position::uci(Move m) const {
  if (m == Move::null()) return "0000";
  if (!m.is_ok()) return "(none)";
  Square to = m.to();
  if (m.kind() == Move::CASTLING && !ci_.chess960)
    to = castle_king_to(color_of(state().board[m.from()]), m.to() > m.from());
  std::string out = square_name(m.from()) + square_name(to);
  if (m.kind() == Move::PROMOTION) out += PROMO_CHARS[m.promotion()];
  return out;
}

ParseStatus Position::try_parse_uci(std::string_view s, Move& out) const {
  out = Move::none();
  if (s == "0000") return ParseStatus::NULL_MOVE;
  if (s.size() != 4 && s.size() != 5) return ParseStatus::INVALID;
  if (!is_file(s[0]) || !is_rank(s[1]) || !is_file(s[2]) || !is_rank(s[3])) return ParseStatus::INVALID;
  const Square from = make_square(s[0] - 'a', s[1] - '1'), to = make_square(s[2] - 'a', s[3] - '1');
  PieceType promo = NO_PIECE_TYPE;
  if (s.size() == 5) {
    promo = promo_from_letter(s[4]);
    if (promo == NO_PIECE_TYPE) return ParseStatus::INVALID;
  }
  const MoveList moves = legal_moves();
  const BoardState& st = state();
  for (Move m : moves) {
    if (m.from() != from || m.promotion() != promo) continue;
    if (m.kind() == Move::CASTLING) {
      // King takes rook (always accepted) or, outside Chess960, the king's two-square form; in
      // Chess960 the latter can collide with a plain king move, so it is not accepted there.
      const Square kto = castle_king_to(st.side, m.to() > m.from());
      if (m.to() == to || (!ci_.chess960 && kto == to)) {
        out = m;
        return ParseStatus::OK;
      }
    } else if (m.to() == to) {
      out = m;
      return ParseStatus::OK;
    }
  }
  return ParseStatus::ILLEGAL;
}

std::string Position::san(Move m) const {
  if (m == Move::null()) return "--";
  const BoardState& s = state();
  std::string out;
  const Square from = m.from(), to = m.to();
  const PieceType pt = type_of(s.board[from]);
  if (m.kind() == Move::CASTLING) {
    out = to > from ? "O-O" : "O-O-O";
  } else if (pt == PAWN) {
    const bool capture = m.kind() == Move::EN_PASSANT || s.board[to] != NO_PIECE;
    if (capture) {
      out += char('a' + file_of(from));
      out += 'x';
    }
    out += square_name(to);
    if (m.kind() == Move::PROMOTION) {
      out += '=';
      out += char(std::toupper(PROMO_CHARS[m.promotion()]));
    }
  } else {
    out += " PNBRQK"[pt];
    // Disambiguate against other legal moves of the same piece type to the same square.
    bool others = false, same_file = false, same_rank = false;
    for (Move o : legal_moves()) {
      if (o == m || o.to() != to || o.kind() == Move::CASTLING || type_of(s.board[o.from()]) != pt) continue;
      others = true;
      if (file_of(o.from()) == file_of(from)) same_file = true;
      if (rank_of(o.from()) == rank_of(from)) same_rank = true;
    }
    if (others) {
      if (!same_file)
        out += char('a' + file_of(from));
      else if (!same_rank)
        out += char('1' + rank_of(from));
      else
        out += square_name(from);
    }
    if (s.board[to] != NO_PIECE) out += 'x';
    out += square_name(to);
  }
  BoardState next;
  make_move(s, ci_, m, next);
  if (next.in_check()) out += has_legal_move(next, ci_) ? '+' : '#';
  return out;
}

ParseStatus Position::try_parse_san(std::string_view raw, Move& out) const {
  out = Move::none();
  // Trim surrounding whitespace.
  while (!raw.empty() && std::isspace(static_cast<unsigned char>(raw.front()))) raw.remove_prefix(1);
  while (!raw.empty() && std::isspace(static_cast<unsigned char>(raw.back()))) raw.remove_suffix(1);
  if (raw.empty() || raw.size() > 16) return ParseStatus::INVALID;
  if (is_null_token(raw)) return ParseStatus::NULL_MOVE;
  std::string_view s = strip_suffixes(raw);
  if (s.empty()) return ParseStatus::INVALID;
  if (is_null_token(s)) return ParseStatus::NULL_MOVE;

  const BoardState& st = state();
  const MoveList moves = legal_moves();

  // Castling: O-O, 0-0, o-o (and the three-part forms).
  {
    std::string norm;
    for (char c : s) norm += (c == '0' || c == 'o') ? 'O' : c;
    if (norm == "O-O" || norm == "O-O-O") {
      const bool king_side = norm == "O-O";
      for (Move m : moves)
        if (m.kind() == Move::CASTLING && (m.to() > m.from()) == king_side) {
          out = m;
          return ParseStatus::OK;
        }
      return ParseStatus::ILLEGAL;
    }
  }

  // Pure UCI (g1f3, e7e8q) is unambiguous when it parses.
  if ((s.size() == 4 || s.size() == 5) && is_file(s[0]) && is_rank(s[1]) && is_file(s[2]) && is_rank(s[3])) {
    Move m;
    if (try_parse_uci(s, m) == ParseStatus::OK) {
      out = m;
      return ParseStatus::OK;
    }
  }

  // General SAN: [piece] [from file] [from rank] [x|-|:] to-file to-rank [=promo | promo].
  size_t i = 0;
  PieceType pt = PAWN;
  if (piece_from_letter(s[0]) != NO_PIECE_TYPE) {
    pt = piece_from_letter(s[0]);
    ++i;
  }
  std::string body;  // squares only, separators removed
  PieceType promo = NO_PIECE_TYPE;
  for (; i < s.size(); ++i) {
    char c = s[i];
    if (c == 'x' || c == '-' || c == ':') continue;
    if (c == '=') {
      if (i + 2 != s.size()) return ParseStatus::INVALID;
      promo = promo_from_letter(s[i + 1]);
      if (promo == NO_PIECE_TYPE) return ParseStatus::INVALID;
      break;
    }
    if (is_file(c) || is_rank(c)) {
      body += c;
      continue;
    }
    // A promotion letter glued to the destination (e8Q, e8q); 'b' is a file, so only at the end.
    if (i + 1 == s.size() && promo_from_letter(c) != NO_PIECE_TYPE && !body.empty() && is_rank(body.back())) {
      promo = promo_from_letter(c);
      continue;
    }
    if (i + 1 == s.size() && c == 'b' && !body.empty() && is_rank(body.back())) {
      promo = BISHOP;
      continue;
    }
    return ParseStatus::INVALID;
  }
  // 'b' glued after a rank is also a file letter above; a trailing file letter is a bishop promotion.
  if (body.size() >= 3 && is_file(body.back()) && is_rank(body[body.size() - 2]) && promo == NO_PIECE_TYPE &&
      pt == PAWN && body.back() == 'b') {
    promo = BISHOP;
    body.pop_back();
  }
  if (body.size() < 2 || body.size() > 4) return ParseStatus::INVALID;
  const char tf = body[body.size() - 2], tr = body[body.size() - 1];
  if (!is_file(tf) || !is_rank(tr)) return ParseStatus::INVALID;
  const Square to = make_square(tf - 'a', tr - '1');
  int from_file = -1, from_rank = -1;
  for (size_t k = 0; k + 2 < body.size(); ++k) {
    char c = body[k];
    if (is_file(c) && from_file < 0 && from_rank < 0)
      from_file = c - 'a';
    else if (is_rank(c) && from_rank < 0)
      from_rank = c - '1';
    else
      return ParseStatus::INVALID;
  }
  if (promo != NO_PIECE_TYPE && pt != PAWN) return ParseStatus::INVALID;

  Move found = Move::none();
  int matches = 0;
  for (Move m : moves) {
    if (m.kind() == Move::CASTLING) continue;
    if (m.to() != to || type_of(st.board[m.from()]) != pt) continue;
    if (from_file >= 0 && file_of(m.from()) != from_file) continue;
    if (from_rank >= 0 && rank_of(m.from()) != from_rank) continue;
    if (m.promotion() != promo) continue;
    found = m;
    ++matches;
  }
  if (matches == 1) {
    out = found;
    return ParseStatus::OK;
  }
  if (matches == 0 && pt == KING) {
    // Castling written as the king's move (Kg1, Kc8) or king-takes-rook.
    for (Move m : moves)
      if (m.kind() == Move::CASTLING && from_file < 0 && from_rank < 0 &&
          (castle_king_to(st.side, m.to() > m.from()) == to || m.to() == to)) {
        out = m;
        return ParseStatus::OK;
      }
  }
  return matches == 0 ? ParseStatus::ILLEGAL : ParseStatus::AMBIGUOUS;
}

Move Position::parse_uci(std::string_view s) const {
  Move m;
  switch (try_parse_uci(s, m)) {
    case ParseStatus::OK: return m;
    case ParseStatus::NULL_MOVE: return Move::null();
    case ParseStatus::INVALID: throw IllegalMoveError("invalid UCI move '" + std::string(s) + "'");
    default: throw IllegalMoveError("illegal UCI move '" + std::string(s) + "' in " + fen());
  }
}

Move Position::parse_san(std::string_view s) const {
  Move m;
  switch (try_parse_san(s, m)) {
    case ParseStatus::OK: return m;
    case ParseStatus::NULL_MOVE: return Move::null();
    case ParseStatus::INVALID: throw IllegalMoveError("invalid SAN '" + std::string(s) + "'");
    case ParseStatus::AMBIGUOUS:
      throw AmbiguousMoveError("ambiguous SAN '" + std::string(s) + "' in " + fen());
    default: throw IllegalMoveError("illegal SAN '" + std::string(s) + "' in " + fen());
  }
}

}  // namespace chess
