// A chess position, its legal moves, and the notations around it (FEN, SAN, UCI).
//
// BoardState is a plain ~170-byte value: make-move copies it (copy-make), which is both the undo
// mechanism (Position keeps a stack of them) and the fast path of perft. CastlingInfo holds what is
// fixed for a whole game: where the castling rooks start (Chess960 included) and the derived masks.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "core/bitboard.h"
#include "core/types.h"

namespace chess {

// ---- errors -----------------------------------------------------------------------------------
// Thrown only by the convenience API; hot paths (PGN replay) use the non-throwing try_* functions.
struct FenError : std::invalid_argument {
  FenError(std::string_view fen, const std::string& rule)
      : std::invalid_argument("invalid FEN '" + std::string(fen) + "': " + rule) {}
};
struct IllegalMoveError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};
struct AmbiguousMoveError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

// ---- state ------------------------------------------------------------------------------------
struct BoardState {
  Bitboard by_type[7];  // [0]: all pieces; [PAWN..KING]: both colours
  Bitboard by_color[2];
  Piece board[64];
  uint64_t key;  // Zobrist hash of placement, side, castling rights and (legal) en passant
  Square ep;     // en passant target square, set only when a legal en passant capture exists
  Color side;
  uint8_t castling;   // CastlingRight bits
  uint16_t halfmove;  // plies since the last capture or pawn move
  uint16_t fullmove;  // starts at 1, incremented after Black's move

  Bitboard pieces() const { return by_type[0]; }
  Bitboard pieces(PieceType t) const { return by_type[t]; }
  Bitboard pieces(Color c) const { return by_color[c]; }
  Bitboard pieces(Color c, PieceType t) const { return by_color[c] & by_type[t]; }
  Bitboard pieces(Color c, PieceType a, PieceType b) const { return by_color[c] & (by_type[a] | by_type[b]); }
  Square king(Color c) const { return lsb(pieces(c, KING)); }
  Piece piece_on(int s) const { return board[s]; }

  // Pieces of colour `by` attacking square s, given an occupancy.
  Bitboard attackers_to(int s, Color by, Bitboard occupied) const;
  bool attacked(int s, Color by, Bitboard occupied) const { return attackers_to(s, by, occupied) != 0; }
  Bitboard checkers() const { return attackers_to(king(side), ~side, pieces()); }
  bool in_check() const { return checkers() != 0; }

  void put(Piece p, int s);
  void remove(int s);
};

struct CastlingInfo {
  bool chess960 = false;
  Square rook_from[16];     // indexed by a single CastlingRight bit
  Bitboard empty_path[16];  // squares that must be empty (except king and this rook)
  Bitboard king_path[16];   // squares the king crosses, destination included; none may be attacked
  uint8_t rights_mask[64];  // rights lost when a move touches this square (from or to)

  void clear();
  void add(Color c, CastlingRight right, Square king_sq, Square rook_sq);
};

// Squares the king and rook land on when castling.
constexpr Square castle_king_to(Color c, bool king_side) {
  return make_square(king_side ? 6 : 2, c == WHITE ? 0 : 7);
}
constexpr Square castle_rook_to(Color c, bool king_side) {
  return make_square(king_side ? 5 : 3, c == WHITE ? 0 : 7);
}

namespace zobrist {
extern uint64_t psq[16][64];
extern uint64_t castling[16];
extern uint64_t ep_file[8];
extern uint64_t side;
}  // namespace zobrist

// ---- move generation (movegen.cpp) ------------------------------------------------------------
// All legal moves: checks and pins are resolved during generation, not by make-and-test.
int generate_legal(const BoardState& s, const CastlingInfo& ci, Move* out);
// The number of legal moves, without materialising the list (perft's bulk count).
int count_legal(const BoardState& s, const CastlingInfo& ci);
bool has_legal_move(const BoardState& s, const CastlingInfo& ci);
// Copy-make: `next` becomes the position after the legal move m.
void make_move(const BoardState& s, const CastlingInfo& ci, Move m, BoardState& next);
void make_null_move(const BoardState& s, BoardState& next);
// True when s.ep (a candidate) can actually be captured en passant legally.
bool ep_capture_is_legal(const BoardState& s, Square ep);
uint64_t compute_key(const BoardState& s);
uint64_t perft(const BoardState& s, const CastlingInfo& ci, int depth);

// ---- game end ---------------------------------------------------------------------------------
enum class Termination : uint8_t {
  NONE = 0,
  CHECKMATE,
  STALEMATE,
  INSUFFICIENT_MATERIAL,
  SEVENTYFIVE_MOVES,
  FIVEFOLD_REPETITION,
  FIFTY_MOVES,
  THREEFOLD_REPETITION,
};
struct Outcome {
  Termination termination = Termination::NONE;
  int winner = -1;  // 0 white, 1 black, -1 draw or game not over
};

// Result codes for the non-throwing parsers.
enum class ParseStatus : uint8_t { OK = 0, INVALID, ILLEGAL, AMBIGUOUS, NULL_MOVE };

// ---- Position: a game from a start position, with its history --------------------------------
class Position {
 public:
  Position();  // the standard start position
  // Throws FenError naming the broken rule. Accepts X-FEN and Shredder-FEN castling fields;
  // the half/fullmove fields may be omitted (default 0 and 1). Given dropped_castling, a castling
  // right the position cannot have (no king or rook where it needs them, given twice, or outside
  // the corners in standard chess) is left out and its character appended there instead of throwing:
  // the PGN replay reads FEN tags of real files so (python-chess keeps only the possible rights
  // too); a FEN given by a user stays strict.
  static Position from_fen(std::string_view fen, bool chess960 = false,
                           std::string* dropped_castling = nullptr);
  static constexpr const char* START_FEN = "rnbqkbnr/pppppppp/8/8/8/8/PPPPPPPP/RNBQKBNR w KQkq - 0 1";

  std::string fen() const;
  std::string board_fen() const;
  const BoardState& state() const { return states_.back(); }
  const CastlingInfo& castling_info() const { return ci_; }
  bool chess960() const { return ci_.chess960; }
  void set_chess960(bool v) { ci_.chess960 = v; }
  Color side_to_move() const { return state().side; }
  int ply() const { return int(moves_.size()); }
  const std::vector<Move>& move_stack() const { return moves_; }
  const std::string& start_fen() const { return start_fen_; }

  MoveList legal_moves() const;
  int count_legal() const { return chess::count_legal(state(), ci_); }
  bool is_legal(Move m) const;
  void push(Move m);  // m must be legal (checked by the callers that take user input)
  void push_null();
  void pop();  // throws std::out_of_range when there is nothing to undo

  bool is_check() const { return state().in_check(); }
  bool is_checkmate() const { return is_check() && !has_legal_move(state(), ci_); }
  bool is_stalemate() const { return !is_check() && !has_legal_move(state(), ci_); }
  bool has_insufficient_material(Color c) const;
  bool is_insufficient_material() const {
    return has_insufficient_material(WHITE) && has_insufficient_material(BLACK);
  }
  bool is_fifty_moves() const { return state().halfmove >= 100; }
  bool is_seventyfive_moves() const { return state().halfmove >= 150; }
  // How many times the current position has occurred (1 = only now).
  int repetition_count() const;
  bool is_repetition(int count = 3) const { return repetition_count() >= count; }
  // Claims as FIDE (and python-chess) allow them: the condition holds now, or the player to move
  // can reach it with a legal move (a non-zeroing move at 99 half-moves; a move repeating a
  // position for the third time).
  bool can_claim_fifty_moves() const;
  bool can_claim_threefold_repetition() const;
  Outcome outcome(bool claim_draw = false) const;

  // ---- notation ----
  std::string uci(Move m) const;  // e1g1 for castling unless chess960 (then e1h1)
  std::string san(Move m) const;  // exact disambiguation and +/#; m must be legal
  ParseStatus try_parse_uci(std::string_view s, Move& out) const;
  // Lenient SAN: 0-0/o-o, e8Q/e8=q, Ng1f3/Ng1-f3, Pe4, e.p., wrong or missing +/#, !?/$n suffixes,
  // pure UCI; null moves (--, Z0, 0000, @@@@) give NULL_MOVE.
  ParseStatus try_parse_san(std::string_view s, Move& out) const;
  Move parse_uci(std::string_view s) const;  // throws IllegalMoveError
  Move parse_san(std::string_view s) const;  // throws IllegalMoveError / AmbiguousMoveError

 private:
  struct Uninit {};
  explicit Position(Uninit) {}

  std::vector<BoardState> states_;
  std::vector<Move> moves_;
  CastlingInfo ci_;
  std::string start_fen_;
};

}  // namespace chess
