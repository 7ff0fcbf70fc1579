// Streaming PGN parser (see pgn_parser.h and docs/pgn.md).
//
// Buffer invariant: [p_, e_) holds unconsumed bytes; everything before p_ may be discarded by fill().
// A token, comment or tag line that is being read starts at p_ and is only consumed (p_ advanced)
// once complete, so fill() preserves it by moving it to the front of the buffer when space runs out.
// Every scanner checks its cap before calling fill(), so the kept region never exceeds the largest
// cap and the buffer (largest cap + read_size) always has room to read into. Scanners resume from
// where they stopped, never from the token start, so the total work stays linear in the input.
//
// Outcomes must not depend on where chunk boundaries fall: every decision that looks at more than
// one byte either has all of them in the buffer (tag lines, tokens, comments) or is a per-byte state
// machine (line_start_, col0_, variation depth).
#include "pgn/pgn_parser.h"

#include <algorithm>
#include <charconv>
#include <cstring>

#include "pgn/parser_run.h"
#include "pgn/scan.h"

namespace chess::pgn {

// ---- Sources ------------------------------------------------------------------------------------

size_t MemorySource::read(char* buf, size_t n) {
  size_t k = std::min({n, max_chunk_, data_.size() - pos_});
  if (k) std::memcpy(buf, data_.data() + pos_, k);
  pos_ += k;
  return k;
}

FileSource::FileSource(const std::string& path) : f_(std::fopen(path.c_str(), "rb")), owned_(true) {}

FileSource::~FileSource() {
  if (owned_ && f_) std::fclose(f_);
}

size_t FileSource::read(char* buf, size_t n) { return f_ ? std::fread(buf, 1, n, f_) : 0; }

// ---- Small helpers ------------------------------------------------------------------------------

std::string_view error_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::kNone: return "none";
    case ErrorCode::kBadTag: return "bad_tag";
    case ErrorCode::kTagQuoteRecovered: return "tag_quote_recovered";
    case ErrorCode::kTagTooLong: return "tag_too_long";
    case ErrorCode::kCommentTooLong: return "comment_too_long";
    case ErrorCode::kUnexpectedChar: return "unexpected_char";
    case ErrorCode::kMissingResult: return "missing_result";
    case ErrorCode::kResultMismatch: return "result_mismatch";
    case ErrorCode::kFenCastlingDropped: return "fen_castling_dropped";
    case ErrorCode::kTokenTooLong: return "token_too_long";
    case ErrorCode::kNulByte: return "nul_byte";
    case ErrorCode::kUnclosedVariation: return "unclosed_variation";
    case ErrorCode::kEofInTags: return "eof_in_tags";
    case ErrorCode::kEofInMovetext: return "eof_in_movetext";
    case ErrorCode::kEofInComment: return "eof_in_comment";
    case ErrorCode::kUnterminatedComment: return "unterminated_comment";
    case ErrorCode::kMovetextCut: return "movetext_cut";
    case ErrorCode::kEofInVariation: return "eof_in_variation";
  }
  return "unknown";
}

Result parse_result(std::string_view s) {
  if (s == "1-0") return Result::kWhiteWins;
  if (s == "0-1") return Result::kBlackWins;
  if (s == "1/2-1/2") return Result::kDraw;
  if (s == "*") return Result::kUnfinished;
  return Result::kNone;
}

std::string_view result_string(Result r) {
  switch (r) {
    case Result::kWhiteWins: return "1-0";
    case Result::kBlackWins: return "0-1";
    case Result::kDraw: return "1/2-1/2";
    case Result::kUnfinished: return "*";
    case Result::kNone: break;
  }
  return "";
}

bool GameInfo::ok() const { return !truncated && !has_fatal_error; }

bool GameInfo::has_error(ErrorCode c) const {
  return std::any_of(errors.begin(), errors.end(), [c](const ParseError& e) { return e.code == c; });
}

using detail::is_digit;
using detail::is_space;
using detail::trim;

// ---- Parser -------------------------------------------------------------------------------------

Parser::Parser(ParserOptions options) : options_(options) {
  options_.read_size = std::max<size_t>(options_.read_size, 1);
  options_.max_token = std::max<size_t>(options_.max_token, ParseError::kTokenCap);
  options_.max_comment = std::max<size_t>(options_.max_comment, ParseError::kTokenCap);
  options_.max_tag_line = std::max<size_t>(options_.max_tag_line, 64);
  size_t largest = std::max({options_.max_token, options_.max_comment, options_.max_tag_line});
  // +2 for the delimiter scanned past a cap; + read_size so a kept token never blocks a read.
  buffer_.resize(largest + 2 + options_.read_size + 16);
}

StreamStats Visitor::run_parser(const ParserOptions& options, std::vector<char>& buffer, ByteSource& source) {
  detail::Run<Visitor> run(options, buffer, source, *this);
  return run.run();
}

StreamStats Parser::parse(ByteSource& source, Visitor& visitor) {
  return visitor.run_parser(options_, buffer_, source);
}

StreamStats parse_buffer(std::string_view data, Visitor& visitor, const ParserOptions& options) {
  MemorySource src(data);
  Parser parser(options);
  return parser.parse(src, visitor);
}

std::optional<StreamStats> parse_file(const std::string& path, Visitor& visitor,
                                      const ParserOptions& options) {
  FileSource src(path);
  if (!src.ok()) return std::nullopt;
  Parser parser(options);
  return parser.parse(src, visitor);
}

// ---- Comment and tag helpers --------------------------------------------------------------------

namespace {

// Returns the text after `[%key` and blanks, or nullopt.
std::optional<std::string_view> command_arg(std::string_view comment, std::string_view key) {
  size_t at = comment.find(key);
  if (at == std::string_view::npos) return std::nullopt;
  std::string_view s = comment.substr(at + key.size());
  if (s.empty() || !is_space(s[0])) return std::nullopt;
  while (!s.empty() && is_space(s[0])) s.remove_prefix(1);
  size_t end = s.find_first_of("] \t,\n\r");
  return s.substr(0, end == std::string_view::npos ? s.size() : end);
}

}  // namespace

std::optional<Eval> parse_eval(std::string_view comment) {
  auto arg = command_arg(comment, "[%eval");
  if (!arg || arg->empty()) return std::nullopt;
  std::string_view s = *arg;
  Eval ev;
  if (s[0] == '#') {
    s.remove_prefix(1);
    if (!s.empty() && s[0] == '+') s.remove_prefix(1);
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), ev.mate);
    if (ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
    ev.is_mate = true;
    return ev;
  }
  if (s[0] == '+') s.remove_prefix(1);
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), ev.pawns);
  if (ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  return ev;
}

std::optional<double> parse_clock(std::string_view comment) {
  auto arg = command_arg(comment, "[%clk");
  if (!arg || arg->empty()) return std::nullopt;
  std::string_view s = *arg;
  double total = 0;
  int fields = 0;
  while (!s.empty()) {
    size_t colon = s.find(':');
    std::string_view f = s.substr(0, colon);
    if (f.empty()) return std::nullopt;
    double x = 0;
    bool last = colon == std::string_view::npos;
    if (last) {
      auto [ptr, ec] = std::from_chars(f.data(), f.data() + f.size(), x);
      if (ec != std::errc() || ptr != f.data() + f.size() || x < 0) return std::nullopt;
    } else {
      int n = 0;
      auto [ptr, ec] = std::from_chars(f.data(), f.data() + f.size(), n);
      if (ec != std::errc() || ptr != f.data() + f.size() || n < 0) return std::nullopt;
      x = n;
    }
    total = total * 60 + x;
    if (++fields > 3) return std::nullopt;
    if (last) break;
    s.remove_prefix(colon + 1);
    if (s.empty()) return std::nullopt;
  }
  return total;
}

namespace {
// 1 to 9 ASCII digits and nothing else (the common Elo and TimeControl values): the number.
inline bool plain_digits(std::string_view v, int& out) {
  if (v.empty() || v.size() > 9) return false;
  int n = 0;
  for (char c : v) {
    const unsigned d = unsigned(c - '0');
    if (d > 9) return false;
    n = n * 10 + int(d);
  }
  out = n;
  return true;
}
}  // namespace

std::optional<int> parse_int_tag(std::string_view value) {
  if (int n; plain_digits(value, n)) return n;  // the same result as the general path below
  value = trim(value);
  if (!value.empty() && value[0] == '+') value.remove_prefix(1);
  int n = 0;
  auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
  if (value.empty() || ec != std::errc() || ptr != value.data() + value.size()) return std::nullopt;
  return n;
}

std::optional<TimeControl> parse_time_control(std::string_view value) {
  {  // "300+0" or "600": digits only on each side, as the general path below would read them
    const size_t plus = value.find('+');
    int base = 0, inc = 0;
    if (plus == std::string_view::npos
            ? plain_digits(value, base)
            : plain_digits(value.substr(0, plus), base) && plain_digits(value.substr(plus + 1), inc))
      return TimeControl{base, inc};
  }
  value = trim(value);
  size_t plus = value.find('+');
  auto base = parse_int_tag(value.substr(0, plus));
  if (!base || *base < 0 || (!value.empty() && !is_digit(value[0]))) return std::nullopt;
  TimeControl tc{*base, 0};
  if (plus != std::string_view::npos) {
    std::string_view inc_s = value.substr(plus + 1);
    if (inc_s.empty() || !is_digit(inc_s[0])) return std::nullopt;
    auto inc = parse_int_tag(inc_s);
    if (!inc) return std::nullopt;
    tc.increment_seconds = *inc;
  }
  return tc;
}

}  // namespace chess::pgn
