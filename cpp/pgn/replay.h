// SAN replay: the layer between the lexical PGN parser and everything that needs legal moves.
//
// ReplayVisitor is a pgn::Visitor that plays each game's main-line tokens on a Position (from the
// `[FEN]` tag when `[SetUp "1"]` or a FEN is present; Chess960 castling when `[Variant "Chess960"]`
// and allowed), and cuts the game at the first null move or at the first token that does not
// resolve to exactly one legal move. The cut is recorded (code, ply, token, byte offset) and the
// rest of the game is ignored: never resynchronised, so no move after a doubtful one ever reaches
// training data. Subclasses decide per game, at end_tags(), whether to skip the movetext (the
// parser then skips it cheaply) and what to do with the finished game (prep.h, the bindings).
//
// SAN resolution does not generate the legal move list: resolve_san() parses the token, finds the
// pieces of the right type that reach the destination (reverse attack lookups) and checks each for
// legality (out of check: no enemy slider reaches the king once it has moved; in check: the king
// is tested after the move); standard castling is checked against the castling path directly. Only
// unusual spellings (UCI, `Ng1-f3`, `e8q`, castling as a king move, Chess960 castling) and failures
// go to Position::try_parse_san, so the accepted forms and the verdicts (INVALID / ILLEGAL /
// AMBIGUOUS) are exactly the core's. The replay makes each move in place (no Zobrist key) and learns
// from the move whether the side to move is now in check; a Position for the core is brought up to
// date only when a token needs it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/position.h"
#include "pgn/pgn_parser.h"

namespace chess::pgn {

// ---- SAN in and out ----------------------------------------------------------------------------

// Resolves a SAN (or lenient SAN / UCI) token on `pos`. Same verdicts as pos.try_parse_san.
ParseStatus resolve_san(const Position& pos, std::string_view token, Move& out);
// Appends the canonical SAN of the legal move m of `s` (as Position::san) given the position after
// it, without generating the legal move list.
void append_san(const BoardState& s, const CastlingInfo& ci, Move m, const BoardState& next,
                std::string& out);

// ---- Replay ------------------------------------------------------------------------------------

enum class ReplayCode : uint8_t {
  kNone = 0,
  kInvalidSan,    // the token is not a move in any accepted notation
  kIllegalSan,    // no legal move matches
  kAmbiguousSan,  // several legal moves match
  kNullMove,      // `--`, `Z0`, `0000`, `@@@@`: the game is cut there
  kBadFen,        // the FEN tag does not parse; no move is replayed
};
constexpr int kNumReplayCodes = int(ReplayCode::kBadFen) + 1;
std::string_view replay_code_name(ReplayCode c);  // "illegal_san", ...

struct ReplayError {
  ReplayCode code = ReplayCode::kNone;
  uint32_t ply = 0;     // index of the offending move (= moves replayed before it)
  uint64_t offset = 0;  // byte offset of the game in the stream (the parser reports no token offsets)
  std::string token;    // the offending token (or FEN), at most 64 bytes
};

// Tags that filters and metadata use, parsed once per game. Elo and TimeControl keep the parsed
// value; -1 means unknown/absent.
struct GameTags {
  int white_elo = -1, black_elo = -1;
  int tc_base = -1, tc_inc = -1;   // seconds; -1: unknown, "-" (correspondence) or absent
  bool tc_correspondence = false;  // TimeControl "-"
  Result result_tag = Result::kNone;
  std::string termination;  // Lichess `Termination` ("" when absent)
  std::string variant;      // `Variant` ("" when absent)
  std::string fen;          // `FEN` ("" when absent)
  bool setup = false;       // `SetUp "1"`
};

struct ReplayOptions {
  bool allow_chess960 = true;  // replay `[Variant "Chess960"]` games with Chess960 castling
  bool annotations = false;    // collect [%eval] / [%clk] per ply (evals(), clocks())
  bool canonical_san = false;  // build the paper's transcript ";1.e4 e5 2.Nf3" (transcript())
  bool keep_tags = false;      // keep every tag (tags()); the filter tags are always parsed
};

// Variant tag values that mean standard chess (absent, "Standard", "From Position", "chess").
bool is_standard_variant(std::string_view v);
bool is_chess960_variant(std::string_view v);

class ReplayVisitor : public Visitor {
 public:
  explicit ReplayVisitor(ReplayOptions options = {});

  // Subclass hooks. accept_tags runs once the tags are parsed (start position already set up):
  // return false to skip the movetext. finish runs at the end of every game, skipped ones included.
  virtual bool accept_tags() { return true; }
  virtual void finish(const GameInfo& info) = 0;

  // ---- the current game (valid in accept_tags / finish) ----
  const GameTags& game_tags() const { return tags_; }
  const std::vector<std::pair<std::string, std::string>>& tags() const { return all_tags_; }
  const Position& start() const { return *start_; }
  const std::vector<Move>& moves() const { return moves_; }
  bool cut() const { return error_.code != ReplayCode::kNone; }
  const ReplayError& error() const { return error_; }
  bool chess960() const { return chess960_; }
  bool standard_start() const { return standard_start_; }
  uint64_t game_offset() const { return offset_; }
  // Hash of the tags (names and values, in order) and the replayed moves: deterministic across
  // runs, machines and chunkings (FNV-1a over the bytes, then a final mix).
  uint64_t game_hash() const;
  // Per ply: evaluation in pawns from White's view (mate: +/-(1000 - n)), NaN when absent.
  const std::vector<float>& evals() const { return evals_; }
  const std::vector<float>& clocks() const { return clocks_; }   // seconds, NaN when absent
  const std::string& transcript() const { return transcript_; }  // with canonical_san
  uint64_t plies_replayed() const { return total_plies_; }       // all games so far

  // ---- Visitor ----
  // Final: the parser's ReplayVisitor instantiation (run_parser) calls them directly; subclasses
  // use the hooks above and below.
  void begin_game(uint64_t offset) final;
  void tag(std::string_view name, std::string_view value) final;
  bool end_tags() final;
  void san(std::string_view token, uint32_t ply) final;
  void comment(std::string_view text, uint32_t ply) final;
  // Brace comments are delivered only with options_.annotations.
  bool wants_comments() final { return options_.annotations; }
  void end_game(const GameInfo& info) final;

 protected:
  StreamStats run_parser(const ParserOptions& options, std::vector<char>& buffer, ByteSource& source) final;
  // Called after each replayed move m, played by `mover`; state() is the position after it. Not
  // called at all once a subclass turns the hook off (set_move_hook(false)): a subclass that reads
  // moves() at the end of the game saves a virtual call per ply.
  virtual void on_move(Color /*mover*/, Move /*m*/) {}
  void set_move_hook(bool on) { move_hook_ = on; }
  // The position reached. Its Zobrist key (BoardState::key) is not maintained by the replay.
  const BoardState& state() const { return state_; }
  ReplayOptions options_;

 private:
  void fail(ReplayCode code, std::string_view token);
  // The current position as a Position, for the core's lenient SAN parser (rare tokens, errors):
  // brought up to date lazily, so each game replays each move into it at most once.
  const Position& slow_position();

  [[gnu::noinline]] Move slow_san(std::string_view token);  // Move::none(): the game is cut
  [[gnu::noinline]] void play_and_write_san(Move m, Bitboard rivals);
  [[gnu::noinline]] void add_annotation_slots();

  // The replay makes each move in place in state_ (no history); the canonical SAN writer writes
  // each move from the position before it and adds the check suffix after making it.
  BoardState state_;
  bool in_check_ = false;  // whether the side to move in state_ is in check
  const CastlingInfo* ci_ = nullptr;
  const Position standard_;  // the start position, used as is by ordinary games
  const Position standard960_ = chess960_start();
  Position custom_;  // the start of a game with a FEN tag
  const Position* start_ = &standard_;
  Position slow_;
  size_t slow_plies_ = 0;
  bool slow_valid_ = false;
  static Position chess960_start() {
    Position p;
    p.set_chess960(true);
    return p;
  }
  GameTags tags_;
  std::vector<std::pair<std::string, std::string>> all_tags_;
  std::vector<Move> moves_;
  std::vector<float> evals_, clocks_;
  std::string transcript_;
  ReplayError error_;
  std::string fen_castling_dropped_;  // the FEN tag's castling rights its position cannot have
  uint64_t offset_ = 0;
  uint64_t hash_ = 0;  // FNV-1a over the tags so far, then the replayed moves (game_hash)
  uint64_t total_plies_ = 0;
  bool chess960_ = false, standard_start_ = true, skipping_ = false;
  bool move_hook_ = true;
};

}  // namespace chess::pgn
