// The per-chunk work of `chessformer prep`: PGN bytes in, filtered and tokenized games out.
//
// The Python driver (python/chessformer/prep.py) cuts each input stream into chunks at lines that
// start with `[Event "` (where the parser always starts a new game, even inside an unterminated
// comment) and runs prep_chunk on several threads with the GIL released. A chunk that is not the end
// of its stream gets a sentinel `[Event ""]` line appended, so its last game ends exactly as it
// would in one sequential parse: outputs do not depend on where chunks are cut, which is what makes
// resumed runs byte-identical to uninterrupted ones.
//
// Each kept game goes to the train or the val split by its game hash (ReplayVisitor::game_hash), so
// the split is the same on every run, machine, worker count and chunking.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "pgn/replay.h"

namespace chess::pgn {

enum class TokenizerKind : uint8_t { kChar = 0, kMove, kFen };

// Lichess's rule on the estimated duration base + 40 * increment (seconds).
enum class TimeClass : uint8_t {
  kUltraBullet = 0,  // < 30 s
  kBullet,           // < 180 s
  kBlitz,            // < 480 s
  kRapid,            // < 1500 s
  kClassical,        // >= 1500 s
  kCorrespondence,   // TimeControl "-"
  kUnknown,          // missing or unparseable
};
constexpr int kNumTimeClasses = int(TimeClass::kUnknown) + 1;
TimeClass time_class(const GameTags& t);
std::string_view time_class_name(TimeClass c);

// Lichess `Termination` values, as stored in the metadata column.
enum class TerminationCode : uint8_t {
  kNone = 0,  // tag absent
  kNormal,
  kTimeForfeit,
  kAbandoned,
  kUnterminated,
  kRulesInfraction,
  kOther,
};
TerminationCode termination_code(std::string_view v);

// Why a game was not kept (the first filter it failed, in this order).
enum class DropReason : uint8_t {
  kVariant = 0,    // not standard (or Chess960 when not allowed)
  kBadFen,         // FEN tag does not parse
  kStartPosition,  // not the standard start: char and move tokens cannot represent it
  kEloUnknown,     // an Elo filter is set and an Elo is missing
  kEloAbove,       // max(WhiteElo, BlackElo) > max_elo
  kEloBelow,       // min(WhiteElo, BlackElo) < min_elo
  kTimeControl,    // time class not selected
  kTermination,    // Termination tag in the dropped set (Abandoned, Unterminated by default)
  kParseError,     // the parser flagged the game (truncated, NUL byte, unclosed variation, ...)
  kIllegalMove,    // replay cut at an illegal, ambiguous or unreadable move
  kNullMove,       // replay cut at a null move
  kUnfinished,     // result `*` (or none)
  kTooShort,       // fewer than min_plies moves
};
constexpr int kNumDropReasons = int(DropReason::kTooShort) + 1;
std::string_view drop_reason_name(DropReason r);

struct PrepConfig {
  TokenizerKind tokenizer = TokenizerKind::kMove;
  int max_elo = -1;  // -1: no bound
  int min_elo = -1;
  bool keep_unknown_elo = false;
  uint32_t time_classes = (1u << kNumTimeClasses) - 1;  // bit per TimeClass
  std::vector<std::string> drop_terminations = {"Abandoned", "Unterminated"};
  int min_plies = 0;
  bool allow_chess960 = false;
  bool keep_unfinished = false;  // keep games whose result is `*` or missing
  bool keep_partial = false;     // keep the replayed prefix of flagged/cut games (result `*`)
  double val_fraction = 0.05;
};

// Columnar output of one split (row i = game i).
struct SplitColumns {
  std::vector<uint8_t> tokens8;               // char tokenizer
  std::vector<uint16_t> tokens16;             // move / fen tokenizers
  std::vector<int64_t> offsets{0};            // n + 1 token offsets
  std::vector<int32_t> white_elo, black_elo;  // -1 unknown
  std::vector<int8_t> result;                 // 0 1-0, 1 0-1, 2 1/2-1/2, 3 *
  std::vector<int32_t> tc_base, tc_inc;       // seconds, -1 unknown
  std::vector<int8_t> time_class;             // TimeClass
  std::vector<int8_t> termination;            // TerminationCode
  std::vector<int32_t> plies;
  std::vector<int64_t> byte_offset;  // of the game's first `[` in the decompressed input stream
  std::vector<uint64_t> game_hash;
  std::vector<int64_t> ordinal;  // index among the chunk's kept games (both splits), for max_games
  size_t n_games() const { return offsets.size() - 1; }
};

struct PrepStats {
  uint64_t bytes = 0;
  uint64_t games = 0;
  uint64_t kept = 0;
  uint64_t plies_replayed = 0;
  uint64_t plies_kept = 0;
  uint64_t tokens_kept = 0;
  std::array<uint64_t, kNumDropReasons> dropped{};
  std::array<uint64_t, kNumErrorCodes> parse_errors{};    // by pgn::ErrorCode, all games
  std::array<uint64_t, kNumReplayCodes> replay_errors{};  // by ReplayCode, replayed games
};

struct PrepOutput {
  SplitColumns split[2];  // 0 train, 1 val
  PrepStats stats;
};

// A chunk's bytes, then (when the stream goes on) the sentinel line `[Event ""]`: the chunk's last
// game then ends exactly as in one sequential parse. Visitors ignore games that begin past the
// chunk (GameInfo::offset > size()). The bytes may come in several pieces (read back to back), so
// a caller holding decompressed blocks never has to join them.
class ChunkSource final : public ByteSource {
 public:
  ChunkSource(std::string_view data, bool more_follows)
      : ChunkSource(std::vector<std::string_view>{data}, more_follows) {}
  ChunkSource(std::vector<std::string_view> parts, bool more_follows);
  size_t read(char* buf, size_t n) override;
  std::string_view lend() override;  // the rest of the current piece
  uint64_t size() const { return size_; }
  static constexpr std::string_view kSentinel = "\n[Event \"\"]\n";

 private:
  std::vector<std::string_view> parts_;  // the chunk's pieces, then the sentinel
  size_t part_ = 0, pos_ = 0;
  uint64_t size_ = 0;
};

// Parses, filters and tokenizes one chunk. `more_follows`: the stream goes on after this chunk (a
// sentinel game boundary is appended). Byte offsets are base_offset + position in the chunk.
// Touches no shared state (a per-thread parser buffer is reused); safe to call from several threads at once.
PrepOutput prep_chunk(const PrepConfig& config, std::string_view data, bool more_follows,
                      uint64_t base_offset);
// The same over a chunk given in pieces (their concatenation is the chunk).
PrepOutput prep_chunk(const PrepConfig& config, const std::vector<std::string_view>& parts, bool more_follows,
                      uint64_t base_offset);

// True when the game with this hash goes to the validation split.
bool is_val(uint64_t game_hash, double val_fraction);

}  // namespace chess::pgn
