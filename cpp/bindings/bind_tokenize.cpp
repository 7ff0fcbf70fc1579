// Tokenizer bindings: encode a game (start FEN + UCI moves, or a Board's history) to a numpy array
// and decode one back. Games are replayed in C++ with the GIL released.
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include "bindings/bindings.h"
#include "bindings/numpy_util.h"
#include "core/position.h"
#include "tokenize/tokenizers.h"

namespace chess::bindings {

namespace {

namespace tk = chess::tokenize;
using chess::Position;

enum class Kind { CHAR, MOVE, FEN };
Kind kind_of(const std::string& name) {
  if (name == "char") return Kind::CHAR;
  if (name == "move") return Kind::MOVE;
  if (name == "fen") return Kind::FEN;
  throw py::value_error("unknown tokenizer '" + name + "' (expected 'char', 'move' or 'fen')");
}

// Encodes a replayed game; moves are legal by construction.
py::array encode(Kind kind, const Position& start, const std::vector<chess::Move>& moves,
                 const std::string& result, bool with_result) {
  if (kind == Kind::CHAR) {
    std::string text;
    std::vector<uint8_t> ids;
    {
      py::gil_scoped_release release;
      if (tk::char_transcript(start, moves, text)) tk::chars_to_ids(text, ids);
    }
    if (text.empty())
      throw py::value_error(
          "the char tokenizer needs a game from the standard start with White to move at move 1");
    return owned_array(std::move(ids));
  }
  std::vector<uint16_t> ids;
  {
    py::gil_scoped_release release;
    if (kind == Kind::MOVE)
      tk::encode_move(start, moves, result, with_result, ids);
    else
      tk::encode_fen(start, moves, ids);
  }
  return owned_array(std::move(ids));
}

}  // namespace

void bind_tokenize(py::module_& m) {
  // The vocabularies' constants; chessformer.data.tokenizers builds its one description from them.
  m.attr("TOKENIZER_VERSION") = tk::VERSION;
  m.attr("CHAR_VOCAB") = std::string(tk::CHAR_VOCAB);
  m.attr("CHAR_GAME_START") = int(tk::CHAR_GAME_START);
  m.attr("MOVE_PAD") = tk::MOVE_PAD;
  m.attr("MOVE_BOS") = tk::MOVE_BOS;
  py::dict results;  // result -> its token
  for (size_t i = 0; i < tk::MOVE_RESULT_NAMES.size(); ++i)
    results[py::str(std::string(tk::MOVE_RESULT_NAMES[i]))] = tk::MOVE_WHITE_WINS + int(i);
  m.attr("MOVE_RESULT_TOKENS") = results;
  m.attr("MOVE_VOCAB_SIZE") = tk::MOVE_VOCAB_SIZE;
  m.attr("FEN_VOCAB") = std::string(tk::FEN_VOCAB);
  m.attr("FEN_MOVE_OFFSET") = tk::FEN_MOVE_OFFSET;
  m.attr("FEN_TOKENS") = tk::FEN_TOKENS;
  m.attr("FEN_VOCAB_SIZE") = tk::FEN_VOCAB_SIZE;

  m.def(
      "encode_game",
      [](const std::string& tokenizer, const std::string& start_fen,
         const std::vector<std::string>& uci_moves, const std::string& result, bool chess960,
         bool with_result) {
        const Kind kind = kind_of(tokenizer);
        Position pos = Position::from_fen(start_fen, chess960);
        const Position start = pos;
        std::vector<chess::Move> moves;
        moves.reserve(uci_moves.size());
        for (size_t i = 0; i < uci_moves.size(); ++i) {
          chess::Move mv;
          if (pos.try_parse_uci(uci_moves[i], mv) != chess::ParseStatus::OK)
            throw chess::IllegalMoveError("ply " + std::to_string(i + 1) + ": illegal UCI move '" +
                                          uci_moves[i] + "' in " + pos.fen());
          moves.push_back(mv);
          pos.push(mv);
        }
        return encode(kind, start, moves, result, with_result);
      },
      py::arg("tokenizer"), py::arg("start_fen"), py::arg("uci_moves"), py::arg("result") = "*",
      py::arg("chess960") = false, py::arg("with_result") = true,
      "Encode a game given as start FEN + UCI moves.");

  m.def(
      "encode_board",
      [](const std::string& tokenizer, const Position& board, bool with_result, const std::string& result) {
        const Kind kind = kind_of(tokenizer);
        const Position start = Position::from_fen(board.start_fen(), board.chess960());
        for (chess::Move mv : board.move_stack())
          if (!mv.is_ok()) throw py::value_error("cannot tokenize a game containing a null move");
        return encode(kind, start, board.move_stack(), result, with_result);
      },
      py::arg("tokenizer"), py::arg("board"), py::arg("with_result") = false, py::arg("result") = "*",
      "Encode a Board's game (its start position and move stack).");

  m.def(
      "char_transcript",
      [](const Position& board) {
        const Position start = Position::from_fen(board.start_fen(), board.chess960());
        std::string text;
        if (!tk::char_transcript(start, board.move_stack(), text))
          throw py::value_error("the char transcript needs a game from the standard start");
        return text;
      },
      py::arg("board"), "The paper's transcript ';1.e4 e5 2.Nf3' of a Board's game.");

  m.def(
      "decode_game",
      [](const std::string& tokenizer,
         py::array_t<int64_t, py::array::c_style | py::array::forcecast> tokens) {
        const Kind kind = kind_of(tokenizer);
        auto t = tokens.unchecked<1>();
        tk::Decoded d;
        if (kind == Kind::CHAR) {
          std::vector<uint8_t> ids(size_t(t.shape(0)));
          for (py::ssize_t i = 0; i < t.shape(0); ++i) ids[size_t(i)] = uint8_t(std::min<int64_t>(t(i), 255));
          py::gil_scoped_release release;
          d = tk::decode_char(ids.data(), ids.size());
        } else {
          std::vector<uint16_t> ids(size_t(t.shape(0)));
          for (py::ssize_t i = 0; i < t.shape(0); ++i)
            ids[size_t(i)] = uint16_t(std::min<int64_t>(t(i), 65535));
          py::gil_scoped_release release;
          d = kind == Kind::MOVE ? tk::decode_move(ids.data(), ids.size())
                                 : tk::decode_fen(ids.data(), ids.size());
        }
        return py::make_tuple(d.start_fen, d.uci, d.result, d.error);
      },
      py::arg("tokenizer"), py::arg("tokens"),
      "Decode tokens: (start_fen, uci_moves, result, error); error is '' on success.");
}

}  // namespace chess::bindings
