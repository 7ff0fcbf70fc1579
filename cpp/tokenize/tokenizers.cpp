#include "tokenize/tokenizers.h"

#include <algorithm>

#include "core/vocab.h"

namespace chess::tokenize {

namespace {

struct CharTable {
  int8_t id[256];
  CharTable() {
    std::fill(std::begin(id), std::end(id), int8_t(-1));
    for (size_t i = 0; i < CHAR_VOCAB.size(); ++i) id[uint8_t(CHAR_VOCAB[i])] = int8_t(i);
  }
};
const CharTable char_table;

int fen_id(char c) {
  const size_t i = FEN_VOCAB.find(c);
  return i == std::string_view::npos ? -1 : int(i);
}

Decoded fail(Decoded d, std::string what) {
  d.error = std::move(what);
  return d;
}

}  // namespace

int char_id(char c) { return char_table.id[uint8_t(c)]; }

bool char_transcript(const Position& start, const std::vector<Move>& moves, std::string& out) {
  const BoardState& s0 = start.state();
  if (s0.side != WHITE || s0.fullmove != 1) return false;
  Position pos = start;
  std::string text = ";";
  for (size_t i = 0; i < moves.size(); ++i) {
    if (!moves[i].is_ok()) return false;
    if (i % 2 == 0) {
      if (i) text += ' ';
      text += std::to_string(i / 2 + 1);
      text += '.';
    } else {
      text += ' ';
    }
    text += pos.san(moves[i]);
    pos.push(moves[i]);
  }
  out += text;
  return true;
}

void chars_to_ids(std::string_view text, std::vector<uint8_t>& out) {
  for (char c : text) {
    const int id = char_id(c);
    if (id >= 0) out.push_back(uint8_t(id));  // characters outside the vocabulary are dropped
  }
}

void encode_move(const Position& start, const std::vector<Move>& moves, std::string_view result,
                 bool with_result, std::vector<uint16_t>& out) {
  Position pos = start;
  out.push_back(MOVE_BOS);
  for (Move m : moves) {
    out.push_back(uint16_t(vocab::id_of(pos.state(), m, pos.chess960())));
    pos.push(m);
  }
  if (with_result) {
    const auto* named = std::find(MOVE_RESULT_NAMES.begin(), MOVE_RESULT_NAMES.end(), result);
    out.push_back(uint16_t(named == MOVE_RESULT_NAMES.end()
                               ? MOVE_UNKNOWN_RESULT
                               : MOVE_WHITE_WINS + (named - MOVE_RESULT_NAMES.begin())));
  }
}

void encode_position(const BoardState& s, std::vector<uint16_t>& out) {
  static constexpr char PIECES[] = ".PNBRQK..pnbrqk";
  out.push_back(uint16_t(fen_id(s.side == WHITE ? 'w' : 'b')));
  for (int r = 7; r >= 0; --r)
    for (int f = 0; f < 8; ++f) out.push_back(uint16_t(fen_id(PIECES[s.board[make_square(f, r)]])));
  const char castle[4] = {'K', 'Q', 'k', 'q'};
  const uint8_t bits[4] = {WHITE_OO, WHITE_OOO, BLACK_OO, BLACK_OOO};
  for (int i = 0; i < 4; ++i) out.push_back(uint16_t(fen_id((s.castling & bits[i]) ? castle[i] : '.')));
  if (s.ep == SQ_NONE) {
    out.push_back(uint16_t(fen_id('-')));
    out.push_back(uint16_t(fen_id('.')));
  } else {
    out.push_back(uint16_t(fen_id(char('a' + file_of(s.ep)))));
    out.push_back(uint16_t(fen_id(char('1' + rank_of(s.ep)))));
  }
  for (int value : {std::min<int>(s.halfmove, 999), std::min<int>(s.fullmove, 999)}) {
    out.push_back(uint16_t(fen_id(char('0' + value / 100))));
    out.push_back(uint16_t(fen_id(char('0' + value / 10 % 10))));
    out.push_back(uint16_t(fen_id(char('0' + value % 10))));
  }
}

void encode_fen(const Position& start, const std::vector<Move>& moves, std::vector<uint16_t>& out) {
  Position pos = start;
  encode_position(pos.state(), out);
  for (Move m : moves) {
    out.push_back(uint16_t(FEN_MOVE_OFFSET + vocab::id_of(pos.state(), m, pos.chess960())));
    pos.push(m);
    encode_position(pos.state(), out);
  }
}

Decoded decode_char(const uint8_t* ids, size_t n) {
  Decoded d;
  d.start_fen = Position::START_FEN;
  std::string text;
  for (size_t i = 0; i < n; ++i) {
    if (ids[i] >= CHAR_VOCAB_SIZE)
      return fail(d, "token " + std::to_string(i) + " out of the char vocabulary");
    text += CHAR_VOCAB[ids[i]];
  }
  if (text.empty() || text[0] != ';') return fail(d, "a char game must start with ';'");
  Position pos;
  size_t i = 1;
  int ply = 0;
  while (i < text.size()) {
    size_t j = text.find(' ', i);
    if (j == std::string::npos) j = text.size();
    std::string_view tok(text.data() + i, j - i);
    i = j + 1;
    if (tok.empty()) continue;
    if (ply % 2 == 0) {
      // White's move carries its number: "12.Nf3".
      const size_t dot = tok.find('.');
      if (dot == std::string_view::npos || tok.substr(0, dot) != std::to_string(ply / 2 + 1))
        return fail(
            d, "expected move number " + std::to_string(ply / 2 + 1) + ". before '" + std::string(tok) + "'");
      tok.remove_prefix(dot + 1);
    }
    Move m;
    if (pos.try_parse_san(tok, m) != ParseStatus::OK)
      return fail(d, "ply " + std::to_string(ply + 1) + ": '" + std::string(tok) + "' is not a legal move");
    d.uci.push_back(pos.uci(m));
    pos.push(m);
    ++ply;
  }
  return d;
}

Decoded decode_move(const uint16_t* ids, size_t n) {
  Decoded d;
  d.start_fen = Position::START_FEN;
  if (n == 0 || ids[0] != MOVE_BOS) return fail(d, "a move-token game must start with BOS");
  Position pos;
  for (size_t i = 1; i < n; ++i) {
    const int t = ids[i];
    if (t >= MOVE_WHITE_WINS && t <= MOVE_UNKNOWN_RESULT) {
      d.result = MOVE_RESULT_NAMES[size_t(t - MOVE_WHITE_WINS)];
      if (i + 1 != n) return fail(d, "tokens after the result token at index " + std::to_string(i));
      break;
    }
    if (t >= vocab::NUM_MOVES)
      return fail(d, "unexpected token " + std::to_string(t) + " at index " + std::to_string(i));
    const std::string uci = vocab::uci_of(t);
    Move m;
    if (pos.try_parse_uci(uci, m) != ParseStatus::OK)
      return fail(d, "index " + std::to_string(i) + ": move " + uci + " is not legal");
    d.uci.push_back(uci);
    pos.push(m);
  }
  return d;
}

Decoded decode_fen(const uint16_t* ids, size_t n) {
  Decoded d;
  if (n < size_t(FEN_TOKENS) || (n - FEN_TOKENS) % (FEN_TOKENS + 1) != 0)
    return fail(d, "a fen-token game has 77 + 78k tokens, got " + std::to_string(n));
  auto position_fen = [&](const uint16_t* t) -> std::string {
    std::string board;
    for (int r = 0; r < 8; ++r) {
      int empty = 0;
      for (int f = 0; f < 8; ++f) {
        const char c = t[1 + r * 8 + f] < FEN_VOCAB.size() ? FEN_VOCAB[t[1 + r * 8 + f]] : '?';
        if (c == '.') {
          ++empty;
        } else {
          if (empty) board += char('0' + empty);
          empty = 0;
          board += c;
        }
      }
      if (empty) board += char('0' + empty);
      if (r < 7) board += '/';
    }
    auto ch = [&](int k) { return t[k] < FEN_VOCAB.size() ? FEN_VOCAB[t[k]] : '?'; };
    std::string castling;
    for (int k = 65; k < 69; ++k)
      if (ch(k) != '.') castling += ch(k);
    std::string ep = ch(69) == '-' ? "-" : std::string{ch(69), ch(70)};
    auto num = [&](int k) {
      return std::to_string((ch(k) - '0') * 100 + (ch(k + 1) - '0') * 10 + (ch(k + 2) - '0'));
    };
    return board + ' ' + ch(0) + ' ' + (castling.empty() ? "-" : castling) + ' ' + ep + ' ' + num(71) + ' ' +
           num(74);
  };
  try {
    Position pos = Position::from_fen(position_fen(ids));
    d.start_fen = pos.fen();
    std::vector<uint16_t> expect;
    for (size_t i = FEN_TOKENS; i < n; i += FEN_TOKENS + 1) {
      const int t = int(ids[i]) - FEN_MOVE_OFFSET;
      if (t < 0 || t >= vocab::NUM_MOVES)
        return fail(d, "expected a move token at index " + std::to_string(i));
      const std::string uci = vocab::uci_of(t);
      Move m;
      if (pos.try_parse_uci(uci, m) != ParseStatus::OK)
        return fail(d, "index " + std::to_string(i) + ": move " + uci + " is not legal");
      d.uci.push_back(uci);
      pos.push(m);
      expect.clear();
      encode_position(pos.state(), expect);
      if (!std::equal(expect.begin(), expect.end(), ids + i + 1))
        return fail(d, "position after index " + std::to_string(i) + " does not match the move");
    }
  } catch (const FenError& e) {
    return fail(d, e.what());
  }
  return d;
}

}  // namespace chess::tokenize
