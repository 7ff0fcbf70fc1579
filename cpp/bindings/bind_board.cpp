// Binds chess::Position as _core.Board. The Python facade (chessformer.board) adds Move objects
// and python-chess interoperability on top; this layer deals in ints and strings.
#include <pybind11/stl.h>

#include <sstream>

#include "bindings/bindings.h"
#include "core/position.h"

namespace chess::bindings {

void bind_exceptions(py::module_& m) {
  // All three refine ValueError, so `except ValueError` keeps working for callers.
  py::register_exception<chess::FenError>(m, "InvalidFenError", PyExc_ValueError);
  py::register_exception<chess::IllegalMoveError>(m, "IllegalMoveError", PyExc_ValueError);
  py::register_exception<chess::AmbiguousMoveError>(m, "AmbiguousMoveError", PyExc_ValueError);
}

namespace {

using chess::Move;
using chess::Position;

// (from, to, promotion) as python-chess spells a move: castling is the king's destination unless
// the board is in Chess960 mode (then king takes rook); promotion 0 means none.
py::tuple move_tuple(const Position& pos, Move m) {
  if (m == Move::null()) return py::make_tuple(0, 0, 0);
  int to = m.to();
  if (m.kind() == Move::CASTLING && !pos.chess960())
    to = chess::castle_king_to(pos.side_to_move(), m.to() > m.from());
  return py::make_tuple(int(m.from()), to, int(m.promotion()));
}

Move from_uci_checked(const Position& pos, const std::string& uci) {
  Move m = pos.parse_uci(uci);  // throws IllegalMoveError naming the move
  return m;
}

const char* termination_name(chess::Termination t) {
  switch (t) {
    case chess::Termination::CHECKMATE: return "CHECKMATE";
    case chess::Termination::STALEMATE: return "STALEMATE";
    case chess::Termination::INSUFFICIENT_MATERIAL: return "INSUFFICIENT_MATERIAL";
    case chess::Termination::SEVENTYFIVE_MOVES: return "SEVENTYFIVE_MOVES";
    case chess::Termination::FIVEFOLD_REPETITION: return "FIVEFOLD_REPETITION";
    case chess::Termination::FIFTY_MOVES: return "FIFTY_MOVES";
    case chess::Termination::THREEFOLD_REPETITION: return "THREEFOLD_REPETITION";
    default: return "";
  }
}

}  // namespace

void bind_board(py::module_& m) {
  py::class_<Position>(m, "Board")
      .def(py::init([](const std::string& fen, bool chess960) { return Position::from_fen(fen, chess960); }),
           py::arg("fen") = std::string(Position::START_FEN), py::arg("chess960") = false)
      .def("copy", [](const Position& p) { return Position(p); })
      .def("fen", &Position::fen)
      .def("board_fen", &Position::board_fen)
      .def("start_fen", &Position::start_fen)
      .def_property("chess960", &Position::chess960, &Position::set_chess960)
      .def_property_readonly("turn", [](const Position& p) { return int(p.side_to_move()); })
      .def_property_readonly("halfmove_clock", [](const Position& p) { return int(p.state().halfmove); })
      .def_property_readonly("fullmove_number", [](const Position& p) { return int(p.state().fullmove); })
      .def_property_readonly("ep_square",
                             [](const Position& p) -> py::object {
                               if (p.state().ep == chess::SQ_NONE) return py::none();
                               return py::int_(int(p.state().ep));
                             })
      .def_property_readonly("castling", [](const Position& p) { return int(p.state().castling); })
      .def_property_readonly("zobrist", [](const Position& p) { return p.state().key; })
      .def_property_readonly("ply", &Position::ply)
      .def("piece_at",
           [](const Position& p, int sq) -> py::object {
             if (sq < 0 || sq > 63)
               throw py::index_error("square " + std::to_string(sq) + " out of range 0..63");
             chess::Piece pc = p.state().board[sq];
             if (pc == chess::NO_PIECE) return py::none();
             return py::make_tuple(int(chess::type_of(pc)), int(chess::color_of(pc)));
           })
      .def("legal_moves",
           [](const Position& p) {
             chess::MoveList list = p.legal_moves();
             py::list out(list.size());
             for (int i = 0; i < list.size(); ++i) out[i] = move_tuple(p, list.moves[i]);
             return out;
           })
      .def("legal_moves_uci",
           [](const Position& p) {
             chess::MoveList list = p.legal_moves();
             std::vector<std::string> out;
             out.reserve(list.size());
             for (Move mv : list) out.push_back(p.uci(mv));
             return out;
           })
      .def("count_legal", &Position::count_legal)
      .def("is_legal_uci",
           [](const Position& p, const std::string& uci) {
             Move mv;
             return p.try_parse_uci(uci, mv) == chess::ParseStatus::OK;
           })
      .def("push_uci",
           [](Position& p, const std::string& uci) {
             Move mv = from_uci_checked(p, uci);
             if (mv == Move::null()) {
               p.push_null();
             } else {
               p.push(mv);
             }
           })
      .def("push_san",
           [](Position& p, const std::string& san) {
             Move mv = p.parse_san(san);
             py::tuple t = move_tuple(p, mv);
             if (mv == Move::null())
               p.push_null();
             else
               p.push(mv);
             return t;
           })
      .def("parse_san",
           [](const Position& p, const std::string& san) { return move_tuple(p, p.parse_san(san)); })
      .def("san_of_uci",
           [](const Position& p, const std::string& uci) { return p.san(from_uci_checked(p, uci)); })
      .def(
          "sans",
          [](const Position& p) {
            chess::MoveList list = p.legal_moves();
            std::vector<std::string> out;
            out.reserve(list.size());
            for (Move mv : list) out.push_back(p.san(mv));
            return out;
          },
          "SAN of every legal move, in legal_moves() order")
      .def("pop",
           [](Position& p) {
             if (p.ply() == 0) throw py::index_error("pop from an empty move stack");
             Move last = p.move_stack().back();
             p.pop();
             return move_tuple(p, last);
           })
      .def("move_stack",
           [](const Position& p) {
             // Replay from the start to express each move in its own position's notation.
             std::vector<std::string> out;
             Position replay = Position::from_fen(p.start_fen(), p.chess960());
             for (Move mv : p.move_stack()) {
               out.push_back(replay.uci(mv));
               if (mv == Move::null())
                 replay.push_null();
               else
                 replay.push(mv);
             }
             return out;
           })
      .def("is_check", &Position::is_check)
      .def("is_checkmate", &Position::is_checkmate)
      .def("is_stalemate", &Position::is_stalemate)
      .def("is_insufficient_material", &Position::is_insufficient_material)
      .def("has_insufficient_material",
           [](const Position& p, int color) { return p.has_insufficient_material(chess::Color(color & 1)); })
      .def("is_fifty_moves", &Position::is_fifty_moves)
      .def("is_seventyfive_moves", &Position::is_seventyfive_moves)
      .def("repetition_count", &Position::repetition_count)
      .def("can_claim_fifty_moves", &Position::can_claim_fifty_moves)
      .def("can_claim_threefold_repetition", &Position::can_claim_threefold_repetition)
      .def(
          "outcome",
          [](const Position& p, bool claim_draw) -> py::object {
            chess::Outcome o = p.outcome(claim_draw);
            if (o.termination == chess::Termination::NONE) return py::none();
            return py::make_tuple(termination_name(o.termination), o.winner);
          },
          py::arg("claim_draw") = false)
      .def("perft",
           [](const Position& p, int depth) {
             if (depth < 0) throw py::value_error("perft depth must be >= 0, got " + std::to_string(depth));
             // Pure C++ on a private copy of the position: safe to run without the GIL.
             py::gil_scoped_release release;
             return chess::perft(p.state(), p.castling_info(), depth);
           })
      .def("perft_divide",
           [](const Position& p, int depth) {
             if (depth < 1)
               throw py::value_error("perft divide needs depth >= 1, got " + std::to_string(depth));
             std::vector<std::pair<std::string, uint64_t>> out;
             chess::MoveList list = p.legal_moves();
             {
               py::gil_scoped_release release;
               for (Move mv : list) {
                 chess::BoardState next;
                 chess::make_move(p.state(), p.castling_info(), mv, next);
                 out.emplace_back(std::string(), chess::perft(next, p.castling_info(), depth - 1));
               }
             }
             for (int i = 0; i < list.size(); ++i) out[i].first = p.uci(list.moves[i]);
             return out;
           })
      .def("__copy__", [](const Position& p) { return Position(p); })
      .def("__deepcopy__", [](const Position& p, py::dict) { return Position(p); });
}

}  // namespace chess::bindings
