// Streaming PGN parser: bytes in, visitor callbacks out.
//
// The parser is purely lexical/syntactic. It splits a byte stream into games, tags and main-line
// move tokens and never checks move legality (that is the SAN replay layer's job). It reads from an
// abstract ByteSource in chunks, keeps one fixed buffer (sized by ParserOptions, independent of the
// input), runs in linear time, never recurses, never throws, and never stops on a broken game:
// problems become small ParseError values collected per game and handed to Visitor::end_game.
//
// Callback order for each game:
//   begin_game, tag*, end_tags, (san | comment | nag)*, result?, end_game
// end_tags is called exactly once per game, even for a game with no movetext. All string_views
// point into the parser's buffer and are valid only during the callback.
//
// Ply convention: san(token, ply) gets the 0-based index of the move in the main line; comment and
// nag get the number of main-line moves seen before them, so a comment with ply p annotates the move
// with index p - 1 (ply 0: before the first move). For Lichess `1. e4 { [%clk 0:03:00] }` that is
// san("e4", 0), comment("[%clk 0:03:00]", 1).
//
// Per-quirk behaviour is documented in docs/pgn.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace chess::pgn {

// Where bytes come from. read() may return fewer bytes than asked; 0 means end of stream.
// Decompressing sources (zstd) implement the same interface.
class ByteSource {
 public:
  virtual ~ByteSource() = default;
  virtual size_t read(char* buf, size_t n) = 0;
  // Asked whenever the parser has no bytes pending: the next bytes of the stream, valid and unchanged
  // for the whole parse, which the parser then reads in place instead of copying them into its
  // buffer (they are consumed: read() and lend() continue after them). Empty: nothing lent, read().
  virtual std::string_view lend() { return {}; }
};

// Reads from a borrowed buffer; max_chunk caps the bytes per read() (tests use it to move chunk
// boundaries around).
class MemorySource final : public ByteSource {
 public:
  explicit MemorySource(std::string_view data, size_t max_chunk = SIZE_MAX)
      : data_(data), max_chunk_(max_chunk ? max_chunk : 1) {}
  size_t read(char* buf, size_t n) override;

 private:
  std::string_view data_;
  size_t pos_ = 0;
  size_t max_chunk_;
};

// Reads from a FILE*. The path constructor opens (and later closes) the file; check ok().
class FileSource final : public ByteSource {
 public:
  explicit FileSource(const std::string& path);
  explicit FileSource(std::FILE* f) : f_(f), owned_(false) {}
  ~FileSource() override;
  FileSource(const FileSource&) = delete;
  FileSource& operator=(const FileSource&) = delete;
  bool ok() const { return f_ != nullptr; }
  size_t read(char* buf, size_t n) override;

 private:
  std::FILE* f_;
  bool owned_;
};

enum class ErrorCode : uint8_t {
  kNone = 0,
  // Warnings: the game's main line is still intact.
  kBadTag,              // a `[` line in the tag section that is not `[Name "value"]`; tag dropped
  kTagQuoteRecovered,   // unescaped `"` inside a tag value; value kept up to the last `"` before `]`
  kTagTooLong,          // tag line longer than max_tag_line; tag dropped
  kCommentTooLong,      // comment longer than max_comment; skipped, not delivered
  kUnexpectedChar,      // stray `)`, `}`, `]`, bad `$`, or `[` mid-line in movetext; skipped
  kMissingResult,       // no result token before the next game; the Result tag was used
  kResultMismatch,      // result token and Result tag disagree; the tag was used
  kFenCastlingDropped,  // the FEN tag gives castling rights its position cannot have; the replay
                        // (ReplayVisitor) dropped them, token = their characters
  // Errors: the main line may be incomplete or corrupted (GameInfo::ok() is false).
  kTokenTooLong,         // movetext token longer than max_token; skipped
  kNulByte,              // NUL byte inside the game
  kUnclosedVariation,    // the game ended with `(` still open (rest of the game was inside it)
  kEofInTags,            // stream ended in the tag section
  kEofInMovetext,        // stream ended in movetext before a result token
  kEofInComment,         // stream ended inside `{ ... }`
  kEofInVariation,       // stream ended inside `( ... )`
  kUnterminatedComment,  // a line starting `[Event "` inside `{ ... }`: the comment never closed
  kMovetextCut,          // a tag line other than `[Event` right after a movetext line (no blank
                         // line between) in a game with moves and no result token: a stray tag
                         // line or a cut game; the moves after it are not this game's
};
constexpr int kNumErrorCodes = int(ErrorCode::kMovetextCut) + 1;

// Stable lower_snake_case name (e.g. "unclosed_variation"), used by docs and bindings.
std::string_view error_name(ErrorCode code);
// True for codes at or after kTokenTooLong: the main line cannot be trusted.
constexpr bool is_fatal(ErrorCode c) { return uint8_t(c) >= uint8_t(ErrorCode::kTokenTooLong); }

// One problem in one game. A fixed-size value (no heap), so recording errors never allocates once
// the per-game vector has grown to max_errors_per_game.
struct ParseError {
  static constexpr size_t kTokenCap = 22;
  ErrorCode code = ErrorCode::kNone;
  uint8_t token_len = 0;
  char token_buf[kTokenCap] = {};  // first kTokenCap bytes of the offending text
  uint32_t ply = 0;                // main-line moves seen before the error
  uint64_t offset = 0;             // byte offset in the stream
  std::string_view token() const { return {token_buf, token_len}; }
};

enum class Result : uint8_t { kNone = 0, kWhiteWins, kBlackWins, kDraw, kUnfinished };
enum class ResultSource : uint8_t { kNone = 0, kToken, kTag };

// "1-0" -> kWhiteWins, "0-1", "1/2-1/2", "*"; anything else (e.g. "?") -> kNone.
Result parse_result(std::string_view s);
std::string_view result_string(Result r);  // "" for kNone
constexpr bool is_definite(Result r) {
  return r == Result::kWhiteWins || r == Result::kBlackWins || r == Result::kDraw;
}

struct GameInfo {
  uint64_t offset = 0;          // byte offset of the game's first `[`
  uint64_t end_offset = 0;      // byte offset just past the game's last consumed byte
  uint32_t plies = 0;           // san() calls (main-line move tokens, null moves included)
  int32_t first_null_ply = -1;  // index of the first null move (`--`, `Z0`, `0000`, `@@@@`), -1 if none
  uint32_t n_comments = 0;
  uint32_t n_errors = 0;                // all errors, including those beyond max_errors_per_game
  Result result = Result::kNone;        // the one to use (see result_source)
  Result result_tag = Result::kNone;    // parsed Result tag
  Result result_token = Result::kNone;  // movetext result token
  ResultSource result_source = ResultSource::kNone;
  bool truncated = false;          // the stream ended inside this game
  bool skipped = false;            // end_tags() asked to skip the movetext
  bool has_fatal_error = false;    // some error with is_fatal(code), kept in `errors` or not
  std::vector<ParseError> errors;  // first max_errors_per_game errors

  bool ok() const;  // not truncated and no fatal error: the main line is complete
  bool has_error(ErrorCode c) const;
};

struct ParserOptions {
  size_t read_size = size_t(1) << 16;     // bytes asked of the source per read
  size_t max_token = 256;                 // longest movetext token (SAN, NAG, move number)
  size_t max_comment = size_t(1) << 20;   // longest delivered comment; longer ones are skipped
  size_t max_tag_line = size_t(1) << 16;  // longest tag line
  size_t max_errors_per_game = 32;        // errors kept per game (n_errors counts all)
};

struct StreamStats {
  uint64_t bytes = 0;  // bytes read from the source
  uint64_t games = 0;  // end_game calls
  uint64_t skipped_games = 0;
  uint64_t prose_lines = 0;  // non-PGN lines skipped between games
  bool stopped = false;      // Visitor::should_stop ended the parse early
};

// Callbacks; every default does nothing, so a visitor overrides only what it needs.
class Visitor {
 public:
  virtual ~Visitor() = default;
  virtual void begin_game(uint64_t /*offset*/) {}
  virtual void tag(std::string_view /*name*/, std::string_view /*value*/) {}
  // Return true to skip this game's movetext: the parser then only tracks comments to find the next
  // game and delivers no san/comment/nag/result events.
  virtual bool end_tags() { return false; }
  virtual void san(std::string_view /*token*/, uint32_t /*ply*/) {}
  virtual void comment(std::string_view /*text*/, uint32_t /*ply*/) {}
  // Polled when each game begins: false means comment() is not called for `{...}` comments of that
  // game (they are still scanned, counted and checked against max_comment), which saves trimming
  // and delivering text nobody reads.
  virtual bool wants_comments() { return true; }
  virtual void nag(int /*n*/, uint32_t /*ply*/) {}
  virtual void result(std::string_view /*token*/) {}
  virtual void end_game(const GameInfo& /*info*/) {}
  // Polled after each end_game; return true to stop parsing.
  virtual bool should_stop() { return false; }

 protected:
  friend class Parser;
  // How Parser::parse runs this visitor over `source`: the parser's engine instantiated for
  // Visitor, calling the virtual callbacks above. A visitor whose callbacks are final overrides it
  // with the engine instantiated for its own type, where they are direct calls that can be inlined
  // (ReplayVisitor does).
  virtual StreamStats run_parser(const ParserOptions& options, std::vector<char>& buffer, ByteSource& source);
};

// Owns the buffer; reusable across streams. Not thread-safe; use one per thread. parse() touches no
// global state, so a binding may release the GIL around it when the visitor is C++.
class Parser {
 public:
  explicit Parser(ParserOptions options = {});
  StreamStats parse(ByteSource& source, Visitor& visitor);
  const ParserOptions& options() const { return options_; }

 private:
  ParserOptions options_;
  std::vector<char> buffer_;
};

// Convenience wrappers. parse_file returns nullopt if the file cannot be opened.
StreamStats parse_buffer(std::string_view data, Visitor& visitor, const ParserOptions& options = {});
std::optional<StreamStats> parse_file(const std::string& path, Visitor& visitor,
                                      const ParserOptions& options = {});

// ---- Comment and tag helpers -------------------------------------------------------------------

// Lichess `[%eval 0.17]`, `[%eval -1.5,23]` (pawns, White's view) or `[%eval #-4]` (mate in 4 for
// Black).
struct Eval {
  bool is_mate = false;
  float pawns = 0.0f;  // valid when !is_mate
  int mate = 0;        // valid when is_mate; sign = side that mates (+ White)
};
std::optional<Eval> parse_eval(std::string_view comment);
// `[%clk 0:03:00]`, `[%clk 1:02:03.4]` -> seconds.
std::optional<double> parse_clock(std::string_view comment);

// Integer tags (Elo, RatingDiff): nullopt for missing, "", "?", "-", or non-numeric values.
std::optional<int> parse_int_tag(std::string_view value);
// TimeControl "180+2" -> {180, 2}, "600" -> {600, 0}; nullopt for "-", "?", "" and anything else.
struct TimeControl {
  int base_seconds = 0;
  int increment_seconds = 0;
};
std::optional<TimeControl> parse_time_control(std::string_view value);

}  // namespace chess::pgn
