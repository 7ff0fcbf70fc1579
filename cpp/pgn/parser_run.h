// The parser's engine (see pgn_parser.cpp): byte classes, scanners and the Run state machine,
// templated on the visitor type. Parser::parse instantiates it for Visitor (virtual callbacks) and,
// through parse_replay (replay.cpp), for ReplayVisitor, whose callbacks are final: there the
// per-token calls are direct and the replay's san() can be inlined into the movetext loop.
// Internal: included only by pgn_parser.cpp and replay.cpp.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <charconv>
#include <cstring>
#include <string>
#include <vector>
#if defined(__SSE2__)
#include <immintrin.h>
#endif

#include "pgn/pgn_parser.h"

namespace chess::pgn {

class ReplayVisitor;
// Parser::parse for a ReplayVisitor (defined in replay.cpp).
StreamStats parse_replay(const ParserOptions& options, std::vector<char>& buffer, ByteSource& source,
                         ReplayVisitor& visitor);

namespace parser_detail {
namespace {

// Byte classes for the movetext dispatch.
enum Cls : uint8_t {
  kWord,
  kWs,
  kNl,
  kPercent,
  kLBrace,
  kSemi,
  kLParen,
  kRParen,
  kDollar,
  kLBracket,
  kStray,
  kNul
};

constexpr std::array<uint8_t, 256> make_classes() {
  std::array<uint8_t, 256> t{};
  for (auto& c : t) c = kWord;
  t[' '] = t['\t'] = t['\r'] = t['\f'] = t['\v'] = kWs;
  t['\n'] = kNl;
  t['%'] = kPercent;
  t['{'] = kLBrace;
  t[';'] = kSemi;
  t['('] = kLParen;
  t[')'] = kRParen;
  t['$'] = kDollar;
  t['['] = kLBracket;
  t['}'] = t[']'] = kStray;
  t[0] = kNul;
  return t;
}
constexpr std::array<uint8_t, 256> kClass = make_classes();

constexpr std::array<bool, 256> make_word_chars() {
  std::array<bool, 256> t{};
  for (int i = 0; i < 256; ++i) t[i] = kClass[i] == kWord || kClass[i] == kPercent;
  return t;
}
constexpr std::array<bool, 256> kWordChar = make_word_chars();

// Bytes the skimmer (variations, skipped games) must stop at.
constexpr std::array<bool, 256> make_skim_stops() {
  std::array<bool, 256> t{};
  for (unsigned char c : {'\n', '{', ';', '(', ')', '\0'}) t[c] = true;
  return t;
}
constexpr std::array<bool, 256> kSkimStop = make_skim_stops();

inline bool is_space(char c) { return kClass[uint8_t(c)] == kWs; }
inline bool is_digit(char c) { return c >= '0' && c <= '9'; }

constexpr std::array<bool, 256> make_blanks() {
  std::array<bool, 256> t{};
  for (int i = 0; i < 256; ++i) t[i] = kClass[i] == kWs || kClass[i] == kNl;
  return t;
}
constexpr std::array<bool, 256> kBlank = make_blanks();

std::string_view trim(std::string_view s) {
  size_t a = 0, b = s.size();
  while (a < b && kBlank[uint8_t(s[a])]) ++a;
  while (b > a && kBlank[uint8_t(s[b - 1])]) --b;
  return s.substr(a, b - a);
}

// The first byte in [q, e) equal to `a` or `b`, or e. Comments are scanned 16 (32) bytes at a time.
inline const char* find_either(const char* q, const char* e, char a, char b) {
#if defined(__AVX2__)
  const __m256i va = _mm256_set1_epi8(a), vb = _mm256_set1_epi8(b);
  while (e - q >= 32) {
    const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q));
    const unsigned m =
        unsigned(_mm256_movemask_epi8(_mm256_or_si256(_mm256_cmpeq_epi8(x, va), _mm256_cmpeq_epi8(x, vb))));
    if (m) return q + __builtin_ctz(m);
    q += 32;
  }
#endif
#if defined(__SSE2__)
  const __m128i wa = _mm_set1_epi8(a), wb = _mm_set1_epi8(b);
  while (e - q >= 16) {
    const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(q));
    const unsigned m =
        unsigned(_mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(x, wa), _mm_cmpeq_epi8(x, wb))));
    if (m) return q + __builtin_ctz(m);
    q += 16;
  }
#endif
  while (q < e && *q != a && *q != b) ++q;
  return q;
}

// Word terminators by nibbles: byte c ends a movetext word iff kTermHi[c >> 4] & kTermLo[c & 15] is
// non-zero (the complement of kWordChar; checked below). Bits: 1 = NUL \t \n \v \f \r, 2 = space
// $ ( ), 4 = ;, 8 = [ ] { }.
constexpr uint8_t kTermHi[16] = {1, 0, 2, 4, 0, 8, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0};
constexpr uint8_t kTermLo[16] = {1 | 2, 0, 0, 0, 2, 0, 0, 0, 2, 1 | 2, 1, 1 | 4 | 8, 1, 1 | 8, 0, 0};
constexpr bool check_term_tables() {
  for (int c = 0; c < 256; ++c)
    if (((kTermHi[c >> 4] & kTermLo[c & 15]) != 0) == kWordChar[c]) return false;
  return true;
}
static_assert(check_term_tables(), "kTermHi/kTermLo must be the complement of kWordChar");

// The first byte in [q, e) that is not a word byte, or e. Words are classified 16 bytes at a time
// (two nibble lookups) when the bytes are there.
inline const char* word_end(const char* q, const char* e) {
#if defined(__SSSE3__)
  const __m128i hi_tab = _mm_loadu_si128(reinterpret_cast<const __m128i*>(kTermHi));
  const __m128i lo_tab = _mm_loadu_si128(reinterpret_cast<const __m128i*>(kTermLo));
  const __m128i nib = _mm_set1_epi8(0x0F);
  while (e - q >= 16) {
    const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(q));
    const __m128i lo = _mm_shuffle_epi8(lo_tab, _mm_and_si128(x, nib));
    const __m128i hi = _mm_shuffle_epi8(hi_tab, _mm_and_si128(_mm_srli_epi16(x, 4), nib));
    const unsigned word =
        unsigned(_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_and_si128(lo, hi), _mm_setzero_si128())));
    if (word != 0xFFFF) return q + __builtin_ctz(~word);
    q += 16;
  }
#endif
  while (q < e && kWordChar[uint8_t(*q)]) ++q;
  return q;
}

// Bytes that end a tag name: blanks (is_space), `"`, `]`, `[`.
constexpr std::array<bool, 256> make_name_stops() {
  std::array<bool, 256> t{};
  for (int i = 0; i < 256; ++i) t[i] = kClass[i] == kWs;
  t['"'] = t[']'] = t['['] = true;
  return t;
}
constexpr std::array<bool, 256> kNameStop = make_name_stops();

// Name stops and the newline by nibbles (as kTermHi/kTermLo): bits 1 = \t \n \v \f \r, 2 = space ",
// 4 = [ ].
alignas(16) constexpr uint8_t kNameHi[16] = {1, 0, 2, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
alignas(16) constexpr uint8_t kNameLo[16] = {2, 0, 2, 0, 0, 0, 0, 0, 0, 1, 1, 1 | 4, 1, 1 | 4, 0, 0};
constexpr bool check_name_tables() {
  for (int c = 0; c < 256; ++c)
    if (((kNameHi[c >> 4] & kNameLo[c & 15]) != 0) != (kNameStop[c] || c == '\n')) return false;
  return true;
}
static_assert(check_name_tables(), "kNameHi/kNameLo must be kNameStop plus the newline");

// A 16-byte table repeated in each 128-bit lane of a 64-byte register (loaded whole: GCC 12 warns
// on _mm512_broadcast_i32x4).
struct Lanes64 {
  alignas(64) uint8_t b[64];
};
constexpr Lanes64 lanes64(const uint8_t (&t)[16]) {
  Lanes64 r{};
  for (int i = 0; i < 64; ++i) r.b[i] = t[i % 16];
  return r;
}
constexpr Lanes64 kNameHi64 = lanes64(kNameHi), kNameLo64 = lanes64(kNameLo);

#if defined(__AVX2__)
// 64 bytes in registers, asked bit masks of them (bit i = byte i): one AVX-512 register and
// compares straight into masks where the build has AVX-512BW, else two AVX2 halves.
class Bytes64 {
 public:
  explicit Bytes64(const char* p) {
#if defined(__AVX512BW__)
    x_ = _mm512_loadu_si512(p);
#else
    a_ = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    b_ = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 32));
#endif
  }
  uint64_t eq(char c) const {
#if defined(__AVX512BW__)
    return _mm512_cmpeq_epi8_mask(x_, _mm512_set1_epi8(c));
#else
    const __m256i v = _mm256_set1_epi8(c);
    return join(_mm256_cmpeq_epi8(a_, v), _mm256_cmpeq_epi8(b_, v));
#endif
  }
  // kNameStop bytes and the newline, by nibble lookups (as word_end)
  uint64_t name_stops() const {
#if defined(__AVX512BW__)
    const __m512i nib = _mm512_set1_epi8(0x0F);
    const __m512i lo = _mm512_shuffle_epi8(_mm512_load_si512(kNameLo64.b), _mm512_and_si512(x_, nib));
    const __m512i hi =
        _mm512_shuffle_epi8(_mm512_load_si512(kNameHi64.b), _mm512_and_si512(_mm512_srli_epi16(x_, 4), nib));
    return _mm512_test_epi8_mask(lo, hi);
#else
    const __m256i lo_tab = _mm256_load_si256(reinterpret_cast<const __m256i*>(kNameLo64.b));
    const __m256i hi_tab = _mm256_load_si256(reinterpret_cast<const __m256i*>(kNameHi64.b));
    const __m256i nib = _mm256_set1_epi8(0x0F);
    auto none = [&](__m256i x) {  // 0xFF where the byte is not a stop
      const __m256i lo = _mm256_shuffle_epi8(lo_tab, _mm256_and_si256(x, nib));
      const __m256i hi = _mm256_shuffle_epi8(hi_tab, _mm256_and_si256(_mm256_srli_epi16(x, 4), nib));
      return _mm256_cmpeq_epi8(_mm256_and_si256(lo, hi), _mm256_setzero_si256());
    };
    return ~join(none(a_), none(b_));
#endif
  }

 private:
#if defined(__AVX512BW__)
  __m512i x_;
#else
  static uint64_t join(__m256i lo, __m256i hi) {
    return uint64_t(uint32_t(_mm256_movemask_epi8(lo))) | uint64_t(uint32_t(_mm256_movemask_epi8(hi))) << 32;
  }
  __m256i a_, b_;
#endif
};
#endif

#if defined(__SSE2__)
// Bit i set when q[i] == c, for the 32 bytes at q.
inline unsigned bytes_equal_32(const char* q, char c) {
#if defined(__AVX2__)
  const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q));
  return unsigned(_mm256_movemask_epi8(_mm256_cmpeq_epi8(x, _mm256_set1_epi8(c))));
#else
  const __m128i v = _mm_set1_epi8(c);
  const __m128i lo = _mm_loadu_si128(reinterpret_cast<const __m128i*>(q));
  const __m128i hi = _mm_loadu_si128(reinterpret_cast<const __m128i*>(q + 16));
  return unsigned(_mm_movemask_epi8(_mm_cmpeq_epi8(lo, v))) |
         unsigned(_mm_movemask_epi8(_mm_cmpeq_epi8(hi, v))) << 16;
#endif
}
#endif

#if defined(__SSE2__)
// ` { [%clk 0:03:00] } ` (20 bytes), Lichess's comment after nearly every move: fixed bytes, and
// the seven clock bytes only asked to lie in 0x30..0x3F (digits and `:`, never `}` or a newline).
struct ClockPattern {
  alignas(32) uint8_t mask[32];
  alignas(32) uint8_t want[32];
};
constexpr ClockPattern make_clock_pattern() {
  ClockPattern c{};
  constexpr std::string_view kText = " { [%clk ???????] } ";
  for (size_t i = 0; i < kText.size(); ++i) {
    c.mask[i] = kText[i] == '?' ? 0xF0 : 0xFF;
    c.want[i] = kText[i] == '?' ? 0x30 : uint8_t(kText[i]);
  }
  return c;
}
constexpr ClockPattern kClockPattern = make_clock_pattern();
constexpr size_t kClockLength = 20;
// The parser never caps comments or tokens below kTokenCap (Parser::Parser), so the clock comment
// (16 bytes inside its braces) and every tabled move number (at most `256...`) are within the caps.
static_assert(ParseError::kTokenCap >= kClockLength - 4 && ParseError::kTokenCap >= 6);

// Whether the 32 bytes at q start with the clock comment (q + 32 must be readable).
inline bool clock_comment_at(const char* q) {
#if defined(__AVX2__)
  const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q));
  const __m256i m =
      _mm256_and_si256(x, _mm256_load_si256(reinterpret_cast<const __m256i*>(kClockPattern.mask)));
  return _mm256_movemask_epi8(_mm256_cmpeq_epi8(
             m, _mm256_load_si256(reinterpret_cast<const __m256i*>(kClockPattern.want)))) == -1;
#else
  auto half = [&](int at) {
    const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(q + at));
    const __m128i m =
        _mm_and_si128(x, _mm_load_si128(reinterpret_cast<const __m128i*>(kClockPattern.mask + at)));
    return _mm_movemask_epi8(
        _mm_cmpeq_epi8(m, _mm_load_si128(reinterpret_cast<const __m128i*>(kClockPattern.want + at))));
  };
  return (half(0) & half(16)) == 0xFFFF;
#endif
}
#endif

// The move number Lichess writes before ply p of a game from the standard start (`12. ` before
// White's move, `12... ` before Black's, space included), as 8 little-endian bytes, their mask
// and length: the parser compares the next bytes with it instead of scanning digits and dots.
struct NumberText {
  uint64_t text = 0, mask = 0;
  uint32_t length = 0;
};
constexpr size_t kNumberedPlies = 512;
struct NumberTexts {
  NumberText at[kNumberedPlies];
};
constexpr NumberTexts make_number_texts() {
  NumberTexts t{};
  for (size_t ply = 0; ply < kNumberedPlies; ++ply) {
    char buf[8] = {};
    uint32_t n = 0;
    char digits[4] = {};
    uint32_t nd = 0;
    for (size_t v = ply / 2 + 1; v; v /= 10) digits[nd++] = char('0' + v % 10);
    while (nd) buf[n++] = digits[--nd];
    buf[n++] = '.';
    if (ply % 2) {
      buf[n++] = '.';
      buf[n++] = '.';
    }
    buf[n++] = ' ';
    NumberText& e = t.at[ply];
    for (uint32_t i = 0; i < n; ++i) {
      e.text |= uint64_t(uint8_t(buf[i])) << (8 * i);
      e.mask |= uint64_t(0xFF) << (8 * i);
    }
    e.length = n;
  }
  return t;
}
constexpr NumberTexts kNumberTexts = make_number_texts();
static_assert(kNumberTexts.at[0].length == 3 && kNumberTexts.at[1].length == 5 &&
              kNumberTexts.at[511].length == 7);  // "1. ", "1... ", "256... "

int suffix_nag(std::string_view s) {
  if (s == "!") return 1;
  if (s == "?") return 2;
  if (s == "!!") return 3;
  if (s == "??") return 4;
  if (s == "!?") return 5;
  if (s == "?!") return 6;
  return 0;
}

// Letters a SAN token can start with on the fast path (Z starts the null move Z0).
constexpr std::array<bool, 256> make_san_lead() {
  std::array<bool, 256> t{};
  for (int c = 'a'; c <= 'z'; ++c) t[c] = true;
  for (int c = 'A'; c < 'Z'; ++c) t[c] = true;
  return t;
}
constexpr std::array<bool, 256> kSanLead = make_san_lead();

// Bytes a move token ends with on the fast path: a rank digit, a check mark, the O of castling or
// a promotion piece (token_general would only hand such a token on to san() unchanged).
constexpr std::array<bool, 256> make_move_end() {
  std::array<bool, 256> t{};
  for (int c = '0'; c <= '9'; ++c) t[c] = true;
  t['+'] = t['#'] = true;
  t['O'] = t['Q'] = t['R'] = t['B'] = t['N'] = true;
  return t;
}
constexpr std::array<bool, 256> kMoveEnd = make_move_end();

bool is_null_move(std::string_view s) {
  char c = s[0];
  if (c != '-' && c != 'Z' && c != '0' && c != '@') return false;  // most tokens leave here
  return s == "--" || s == "Z0" || s == "0000" || s == "@@@@";
}

struct Tag {
  std::string_view name, value;
  const char* end = nullptr;  // just past the closing `]`
  bool recovered = false;
};

enum class State { kBetween, kTags, kMovetext, kSkip, kDone };
// Where a `[` line was met; decides what a valid or invalid tag line means.
enum class Where { kBetween, kTags, kMovetext };

template <class V>
class Run {
 public:
  Run(const ParserOptions& o, std::vector<char>& buffer, ByteSource& src, V& v)
      : o_(o), buf_(buffer.data()), own_(buffer.data()), cap_(buffer.size()), src_(src), v_(v) {
    p_ = e_ = buf_;
    g_.errors.reserve(o_.max_errors_per_game);
  }

  StreamStats run() {
    State st = State::kBetween;
    while (st != State::kDone && !stop_) {
      switch (st) {
        case State::kBetween: st = between(); break;
        case State::kTags: st = tags(); break;
        case State::kMovetext: st = movetext(); break;
        case State::kSkip: st = skip_game(); break;
        case State::kDone: break;
      }
    }
    stats_.stopped = stop_;
    return stats_;
  }

 private:
  // ---- Buffer -----------------------------------------------------------------------------------

  uint64_t offset(const char* q) const { return base_ + uint64_t(q - buf_); }

  // Reads more bytes after e_, keeping [p_, e_). Returns false at end of stream.
  bool fill() {
    if (eof_) return false;
    if (p_ == e_) {
      // Nothing kept: the source's next bytes are parsed in place if it lends them.
      const std::string_view lent = src_.lend();
      if (!lent.empty()) {
        base_ += uint64_t(e_ - buf_);
        buf_ = const_cast<char*>(lent.data());  // never written: fill() leaves them first
        p_ = buf_;
        e_ = buf_ + lent.size();
        lent_ = true;
        stats_.bytes += lent.size();
        return true;
      }
    }
    if (lent_) {
      // The lent bytes are used up: what is kept (at most the largest cap, as in any fill) goes to
      // the front of the own buffer, and reading continues there.
      const size_t keep = size_t(e_ - p_);
      std::memcpy(own_, p_, keep);
      base_ += uint64_t(p_ - buf_);
      buf_ = own_;
      p_ = buf_;
      e_ = buf_ + keep;
      lent_ = false;
    }
    char* limit = buf_ + cap_;
    if (size_t(limit - e_) < o_.read_size && p_ != buf_) {
      size_t keep = size_t(e_ - p_);
      std::memmove(buf_, p_, keep);
      base_ += uint64_t(p_ - buf_);
      p_ = buf_;
      e_ = buf_ + keep;
    }
    size_t room = std::min(size_t(limit - e_), o_.read_size);
    size_t n = room ? src_.read(const_cast<char*>(e_), room) : 0;
    if (n == 0) {
      eof_ = true;
      return false;
    }
    e_ += n;
    stats_.bytes += n;
    return true;
  }

  bool ensure(size_t k) {
    while (size_t(e_ - p_) < k)
      if (!fill()) return false;
    return true;
  }

  // Consumes through the next '\n' without buffering. Returns false at end of stream.
  bool skip_line() {
    for (;;) {
      if (const void* r = std::memchr(p_, '\n', size_t(e_ - p_))) {
        p_ = static_cast<const char*>(r) + 1;
        line_start_ = col0_ = true;
        return true;
      }
      p_ = e_;
      if (!fill()) return false;
    }
  }

  // Buffers from p_ up to (not including) the next `c`; returns its position, e_ at end of stream,
  // or nullptr if more than `cap` bytes would be needed (nothing consumed in any case).
  const char* buffer_until(char c, size_t from, size_t cap) {
    size_t scanned = from;
    for (;;) {
      if (const void* r = std::memchr(p_ + scanned, c, size_t(e_ - p_) - scanned)) {
        const char* q = static_cast<const char*>(r);
        return size_t(q - p_) > cap ? nullptr : q;
      }
      scanned = size_t(e_ - p_);
      if (scanned > cap) return nullptr;
      if (!fill()) return e_;
    }
  }

  // ---- Game bookkeeping -------------------------------------------------------------------------

  void error(ErrorCode code, uint64_t off, std::string_view tok = {}) {
    if (!in_game_) return;
    ++g_.n_errors;
    if (is_fatal(code)) g_.has_fatal_error = true;
    if (g_.errors.size() >= o_.max_errors_per_game) return;
    ParseError& e = g_.errors.emplace_back();
    e.code = code;
    e.ply = g_.plies;
    e.offset = off;
    e.token_len = uint8_t(std::min(tok.size(), ParseError::kTokenCap));
    if (e.token_len) std::memcpy(e.token_buf, tok.data(), e.token_len);
  }

  void begin_game(uint64_t off) {
    g_.offset = g_.end_offset = off;
    g_.plies = g_.n_comments = g_.n_errors = 0;
    g_.first_null_ply = -1;
    g_.result = g_.result_tag = g_.result_token = Result::kNone;
    g_.result_source = ResultSource::kNone;
    g_.truncated = g_.skipped = g_.has_fatal_error = false;
    g_.errors.clear();
    in_game_ = true;
    tags_ended_ = seen_event_ = false;
    blank_line_ = cut_by_tag_ = false;
    depth_ = 0;
    v_.begin_game(off);
    want_comments_ = v_.wants_comments();
  }

  bool end_tags() {
    tags_ended_ = true;
    g_.skipped = v_.end_tags();
    return g_.skipped;
  }

  // eof_code != kNone: the stream ended inside the game.
  void finish_game(ErrorCode eof_code = ErrorCode::kNone) {
    if (!tags_ended_) end_tags();
    uint64_t here = offset(p_);
    if (eof_code != ErrorCode::kNone) {
      g_.truncated = true;
      error(eof_code, here);
    }
    if (depth_ > 0 && eof_code != ErrorCode::kEofInVariation) error(ErrorCode::kUnclosedVariation, here);
    Result tag = g_.result_tag, tok = g_.result_token;
    if (tok != Result::kNone && tag != Result::kNone && tok != tag) {
      error(ErrorCode::kResultMismatch, here, result_string(tok));
      bool use_tag = is_definite(tag) || !is_definite(tok);
      g_.result = use_tag ? tag : tok;
      g_.result_source = use_tag ? ResultSource::kTag : ResultSource::kToken;
    } else if (tok != Result::kNone) {
      g_.result = tok;
      g_.result_source = ResultSource::kToken;
    } else {
      if (!g_.truncated && !g_.skipped) error(ErrorCode::kMissingResult, here);
      g_.result = tag;
      g_.result_source = tag == Result::kNone ? ResultSource::kNone : ResultSource::kTag;
    }
    g_.end_offset = here;
    in_game_ = false;
    ++stats_.games;
    if (g_.skipped) ++stats_.skipped_games;
    v_.end_game(g_);
    if (v_.should_stop()) stop_ = true;
  }

  // ---- Tags -------------------------------------------------------------------------------------

  enum class TagParse { kOk, kNotTag, kBadValue };

  // Parses one `[Name "value"]` starting at q (a `[`) within [q, le). The closing quote is the first
  // `"` followed by optional blanks and `]`; earlier bare quotes stay in the value (recovered).
  // kBadValue: it starts like a tag (`[Name "`) but the value never closes on this line.
  TagParse parse_tag(const char* q, const char* le, Tag& t) {
    ++q;
    while (q < le && is_space(*q)) ++q;
    const char* ns = q;
    while (q < le && !kNameStop[uint8_t(*q)]) ++q;
    if (q == ns) return TagParse::kNotTag;
    t.name = std::string_view(ns, size_t(q - ns));
    while (q < le && is_space(*q)) ++q;
    if (q == le || *q != '"') return TagParse::kNotTag;
    const char* vs = ++q;
    t.recovered = false;
    // Fast path (almost every tag): the first `"` closes the value and there is no backslash.
    if (const char* r = find_either(q, le, '"', '\\'); r < le && *r == '"') {
      const char* a = r + 1;
      while (a < le && is_space(*a)) ++a;
      if (a < le && *a == ']') {
        t.value = std::string_view(vs, size_t(r - vs));
        t.end = a + 1;
        return TagParse::kOk;
      }
    }
    bool escaped = false;
    for (; q < le; ++q) {
      if (*q == '\\' && q + 1 < le && (q[1] == '"' || q[1] == '\\')) {
        escaped = true;
        ++q;
        continue;
      }
      if (*q != '"') continue;
      const char* r = q + 1;
      while (r < le && is_space(*r)) ++r;
      if (r < le && *r == ']') {
        t.end = r + 1;
        break;
      }
      t.recovered = true;
    }
    if (q >= le) return TagParse::kBadValue;
    if (!escaped) {
      t.value = std::string_view(vs, size_t(q - vs));
      return TagParse::kOk;
    }
    scratch_.clear();
    for (const char* s = vs; s < q; ++s) {
      if (*s == '\\' && s + 1 < q && (s[1] == '"' || s[1] == '\\')) ++s;
      scratch_.push_back(*s);
    }
    t.value = scratch_;
    return TagParse::kOk;
  }

  void deliver_tag(const Tag& t, uint64_t off) {
    if (t.name == "Event") {
      // A second Event tag with no movetext in between: the previous game had tags only.
      if (seen_event_) {
        finish_game();
        if (stop_) return;
        begin_game(off);
      }
      seen_event_ = true;
    }
    if (t.recovered) error(ErrorCode::kTagQuoteRecovered, off, t.value);
    if (t.name == "Result") g_.result_tag = parse_result(t.value);
    v_.tag(t.name, t.value);
  }

  // The common tag line in one pass over 64 bytes: `[Name "value"]`, then `\n` or `\r\n`, with no
  // backslash or NUL on the line and the line end already in the buffer. Sets t and nl exactly as
  // the general path (find the line end, parse_tag) would; false: take the general path.
  bool quick_tag(Tag& t, const char*& nl) {
#if defined(__AVX2__)
    if (e_ - p_ < 64) return false;
    const Bytes64 x(p_);
    const uint64_t newlines = x.eq('\n');
    if (!newlines) return false;
    const unsigned k = unsigned(__builtin_ctzll(newlines));  // p_[0] is `[`, so k >= 1
    const uint64_t line = (uint64_t(1) << k) - 1;
    if ((x.eq('\0') | x.eq('\\')) & line) return false;
    // The name runs from p_[1] to the first name stop (or the newline at k); then one space and the
    // opening quote.
    const uint64_t name_stops = x.name_stops() & ~uint64_t(1);
    const unsigned s = unsigned(__builtin_ctzll(name_stops));  // <= k: the newline is a stop
    if (s < 2 || s + 1 >= k || p_[s] != ' ' || p_[s + 1] != '"') return false;
    const uint64_t closing = x.eq('"') & line & ~((uint64_t(2) << (s + 1)) - 1);
    if (!closing) return false;
    const unsigned q = unsigned(__builtin_ctzll(closing));
    if (p_[q + 1] != ']' || !(k == q + 2 || (k == q + 3 && p_[q + 2] == '\r'))) return false;
    t.name = std::string_view(p_ + 1, s - 1);
    t.value = std::string_view(p_ + s + 2, q - s - 2);
    t.end = p_ + q + 2;
    t.recovered = false;
    nl = p_ + k;
    return true;
#else
    (void)t;
    (void)nl;
    return false;
#endif
  }

  static bool starts_with_event(const char* q, const char* le) {
    ++q;  // the `[`
    while (q < le && is_space(*q)) ++q;
    return le - q >= 5 && std::memcmp(q, "Event", 5) == 0;
  }

  // p_ is at a `[` that begins a line (or follows tags on a tag line). Returns true if it was a tag
  // line: tags delivered, a new game opened first unless `where` is kTags. Otherwise the line (or the
  // bracketed part, in movetext) is consumed and counted as prose or an error.
  bool tag_line(Where where) {
    uint64_t line_off = offset(p_);
    Tag t;
    const char* nl;
    bool nul = true;  // unknown: check below
    const bool quick = quick_tag(t, nl);
    if (quick) {
      nul = false;
    } else {
      // Usually the whole line is in the buffer and holds no NUL: one scan finds its end.
      nl = find_either(p_ + 1, e_, '\n', '\0');
      if (nl < e_ && *nl == '\n' && size_t(nl - p_) <= o_.max_tag_line) {
        nul = false;
      } else {
        nl = buffer_until('\n', 1, o_.max_tag_line);
      }
    }
    if (!nl) {
      if (where != Where::kBetween) error(ErrorCode::kTagTooLong, line_off, std::string_view(p_, 16));
      skip_line();
      return false;
    }
    const char* le = nl;
    TagParse tp = quick ? TagParse::kOk : parse_tag(p_, le, t);
    if (tp == TagParse::kBadValue && where != Where::kTags) {
      // `[Name "...` with a broken value: the next game's tags start here, with this tag lost.
      if (where == Where::kMovetext) {
        if (cut_by_tag_ && !starts_with_event(p_, le)) error(ErrorCode::kMovetextCut, line_off);
        finish_game();
      }
      if (stop_) return true;
      begin_game(line_off);
      error(ErrorCode::kBadTag, line_off, std::string_view(p_, size_t(le - p_)));
      p_ = nl < e_ ? nl + 1 : e_;
      line_start_ = col0_ = true;
      return true;
    }
    if (tp != TagParse::kOk) {
      if (where == Where::kBetween) {
        ++stats_.prose_lines;
      } else {
        // A NUL on a line that is not a tag (or breaks one) is still a NUL inside the game.
        if (std::memchr(p_, '\0', size_t(le - p_))) error(ErrorCode::kNulByte, line_off);
        const char* close = static_cast<const char*>(std::memchr(p_, ']', size_t(le - p_)));
        if (where == Where::kMovetext && close) le = close;
        error(where == Where::kTags ? ErrorCode::kBadTag : ErrorCode::kUnexpectedChar, line_off,
              std::string_view(p_, size_t(le - p_)));
        if (close && where == Where::kMovetext) {
          p_ = close + 1;
          line_start_ = col0_ = false;
          return false;
        }
      }
      p_ = nl < e_ ? nl + 1 : e_;
      line_start_ = col0_ = true;
      return false;
    }
    if (where == Where::kMovetext) {
      if (cut_by_tag_ && t.name != "Event") error(ErrorCode::kMovetextCut, line_off);
      finish_game();
    }
    if (stop_) return true;
    if (where != Where::kTags) begin_game(line_off);
    // Recorded after the line's first tag: an `[Event` tag may start a new game, whose NUL it is.
    bool nul_error = nul && std::memchr(p_, '\0', size_t(le - p_));
    const char* q = p_;
    for (;;) {
      deliver_tag(t, offset(q));
      if (stop_) return true;
      if (nul_error) {
        error(ErrorCode::kNulByte, line_off);
        nul_error = false;
      }
      q = t.end;
      while (q < le && is_space(*q)) ++q;
      if (q == le || *q != '[') break;
      if (parse_tag(q, le, t) != TagParse::kOk) {
        error(ErrorCode::kBadTag, offset(q), std::string_view(q, size_t(le - q)));
        q = le;
        break;
      }
    }
    if (q < le) {  // movetext on the same line as the last tag
      p_ = q;
      line_start_ = col0_ = false;
    } else {
      p_ = nl < e_ ? nl + 1 : e_;
      line_start_ = col0_ = true;
    }
    return true;
  }

  // ---- States -----------------------------------------------------------------------------------

  // Outside any game: skip lines until one starts with a valid tag.
  State between() {
    for (;;) {
      if (p_ == e_ && !fill()) return State::kDone;
      char c = *p_;
      if (c == '\n') {
        ++p_;
        line_start_ = col0_ = true;
      } else if (is_space(c)) {
        ++p_;
        col0_ = false;
      } else if (c == '\xEF' && line_start_ && ensure(3) && std::memcmp(p_, "\xEF\xBB\xBF", 3) == 0) {
        p_ += 3;  // UTF-8 BOM (start of stream, or of a concatenated file)
      } else if (c == '[' && line_start_) {
        if (tag_line(Where::kBetween)) return State::kTags;
      } else {
        if (!(c == '%' && col0_)) ++stats_.prose_lines;
        if (!skip_line()) return State::kDone;
      }
    }
  }

  // Tag section: tag lines, blank lines and `%` lines until the first movetext byte.
  State tags() {
    for (;;) {
      if (stop_) return State::kDone;
      if (p_ == e_ && !fill()) {
        finish_game(ErrorCode::kEofInTags);
        return State::kDone;
      }
      char c = *p_;
      uint8_t cls = kClass[uint8_t(c)];
      if (cls == kNl) {
        ++p_;
        line_start_ = col0_ = true;
      } else if (cls == kWs) {
        ++p_;
        col0_ = false;
      } else if (cls == kPercent && col0_) {
        skip_line();
      } else if (cls == kLBracket) {
        // An ordinary tag line (quick_tag) as tag_line(kTags) would take it, without the general
        // path's bookkeeping: 17 of them open every Lichess game.
        Tag t;
        const char* nl;
        if (quick_tag(t, nl)) {
          deliver_tag(t, offset(p_));
          if (stop_) continue;
          p_ = nl + 1;
          line_start_ = col0_ = true;
          continue;
        }
        tag_line(Where::kTags);
      } else if (cls == kNul) {
        error(ErrorCode::kNulByte, offset(p_));
        ++p_;
      } else {
        return end_tags() ? State::kSkip : State::kMovetext;
      }
    }
  }

  State movetext() {
    for (;;) {
      if (p_ == e_ && !fill()) {
        finish_game(ErrorCode::kEofInMovetext);
        return State::kDone;
      }
      switch (kClass[uint8_t(*p_)]) {
        case kWs: {
          const char* q = p_ + 1;
          while (q < e_ && kClass[uint8_t(*q)] == kWs) ++q;
          p_ = q;
          col0_ = false;
          break;
        }
        case kNl:
          blank_line_ |= line_start_;  // a second newline with only blanks between
          ++p_;
          line_start_ = col0_ = true;
          break;
        case kPercent:
          if (col0_) {
            skip_line();
            break;
          }
          [[fallthrough]];
        case kWord:
          line_start_ = col0_ = blank_line_ = false;
          // Words and comments separated by single spaces (`12. Nf3 { [%clk 0:01:02] } 12... d5`)
          // follow each other here without a dispatch; anything else goes back to the switch.
          for (;;) {
            if (!skip_move_number() && word()) return stop_ ? State::kDone : State::kBetween;
#if defined(__SSE2__)
            // The clock comment and the spaces around it as one compare and a constant advance:
            // the next word's address then waits on a predicted branch, not on a byte scan.
            if (e_ - p_ >= 32 && clock_comment_at(p_)) {
              ++g_.n_comments;  // as brace_comment: the text trimmed, `[%clk 0:03:00]`
              if (want_comments_) v_.comment(std::string_view(p_ + 3, kClockLength - 6), g_.plies);
              p_ += kClockLength;
              // Then, nearly always, the move number (at least 12 bytes are left to read).
              if (g_.plies < kNumberedPlies) {
                const NumberText& nt = kNumberTexts.at[g_.plies];
                uint64_t x;
                std::memcpy(&x, p_, 8);
                if constexpr (std::endian::native == std::endian::little)
                  if (((x ^ nt.text) & nt.mask) == 0) p_ += nt.length;
              }
              if (kClass[uint8_t(*p_)] != kWord) break;
              continue;
            }
#endif
            if (e_ - p_ < 2 || *p_ != ' ') break;
            ++p_;
            if (*p_ == '{') {
              const CommentEnd r = brace_comment(true);
              if (r == CommentEnd::kEof) {
                finish_game(ErrorCode::kEofInComment);
                return State::kDone;
              }
              if (r == CommentEnd::kResync || e_ - p_ < 2 || *p_ != ' ') break;
              ++p_;
            }
            if (kClass[uint8_t(*p_)] != kWord) break;
          }
          break;
        case kLBrace:
          line_start_ = col0_ = blank_line_ = false;
          switch (brace_comment(true)) {
            case CommentEnd::kEof: finish_game(ErrorCode::kEofInComment); return State::kDone;
            case CommentEnd::kClosed:
              if (p_ < e_ && *p_ == ' ') ++p_;
              break;
            case CommentEnd::kResync: break;
          }
          break;
        case kSemi:
          line_start_ = col0_ = blank_line_ = false;
          line_comment();
          break;
        case kLParen: {
          line_start_ = col0_ = blank_line_ = false;
          ++p_;
          depth_ = 1;
          State st = skim(true);
          if (st != State::kMovetext) return st;
          break;
        }
        case kDollar:
          line_start_ = col0_ = blank_line_ = false;
          dollar();
          break;
        case kLBracket:
          if (line_start_) {
            // A tag line other than `[Event` straight after the moves, with no result token and
            // no blank line between: a stray tag line or a game cut off mid-game, so this one is
            // incomplete. (`[Event` there is an ordinary next game, PGN-QUIRKS rows 8 and 10.)
            cut_by_tag_ = !blank_line_ && g_.plies > 0 && g_.result_token == Result::kNone;
            const bool tags = tag_line(Where::kMovetext);
            cut_by_tag_ = false;
            if (tags) return stop_ ? State::kDone : State::kTags;
          } else {
            error(ErrorCode::kUnexpectedChar, offset(p_), "[");
            skip_bracket();
          }
          break;
        case kRParen:
        case kStray:
          error(ErrorCode::kUnexpectedChar, offset(p_), std::string_view(p_, 1));
          ++p_;
          line_start_ = col0_ = blank_line_ = false;
          break;
        case kNul:
          error(ErrorCode::kNulByte, offset(p_));
          ++p_;
          break;
      }
    }
  }

  State skip_game() {
    State st = skim(false);
    return st == State::kMovetext ? State::kDone : st;
  }

  // Skips bytes without tokenising, tracking comments (whose contents are opaque) and, for a
  // variation, the nesting depth (a counter, so 100,000 `(` cost nothing extra). Returns kMovetext
  // when the variation closes, kTags when a tag line opened the next game, kDone at the end of
  // stream (the game is finished here).
  State skim(bool variation) {
    for (;;) {
      if (p_ == e_ && !fill()) {
        if (variation) {
          finish_game(ErrorCode::kEofInVariation);
        } else {
          finish_game();
        }
        return State::kDone;
      }
      if (line_start_) {
        char c = *p_;
        if (c == '\n') {
          ++p_;
          col0_ = true;
          continue;
        }
        if (is_space(c)) {
          ++p_;
          col0_ = false;
          continue;
        }
        if (c == '%' && col0_) {
          skip_line();
          continue;
        }
        if (c == '[') {
          if (tag_line(Where::kMovetext)) {
            return stop_ ? State::kDone : State::kTags;
          }
          continue;
        }
        line_start_ = col0_ = false;
      }
      const char* q = p_;
      while (q < e_ && !kSkimStop[uint8_t(*q)]) ++q;
      p_ = q;
      if (q == e_) continue;
      char c = *p_++;
      switch (c) {
        case '\n': line_start_ = col0_ = true; break;
        case '{':
          --p_;
          if (brace_comment(false) == CommentEnd::kEof) {
            finish_game(ErrorCode::kEofInComment);
            return State::kDone;
          }
          break;
        case ';':
          if (!skip_line()) {
            finish_game(variation ? ErrorCode::kEofInVariation : ErrorCode::kNone);
            return State::kDone;
          }
          break;
        case '(':
          if (variation) ++depth_;
          break;
        case ')':
          if (variation && --depth_ == 0) return State::kMovetext;
          break;
        case '\0':
          if (variation) error(ErrorCode::kNulByte, offset(p_ - 1));
          break;
      }
    }
  }

  // ---- Movetext elements ------------------------------------------------------------------------

  // p_ at a word byte. A move number alone (`12.`, `12...`) is a word that does nothing: skip it
  // without tokenising when it is all in the buffer and not too long. Returns whether it did.
  bool skip_move_number() {
    const char* q = p_;
    while (q < e_ && is_digit(*q)) ++q;
    if (q == p_ || q >= e_ || *q != '.') return false;
    do ++q;
    while (q < e_ && *q == '.');
    if (q >= e_ || kWordChar[uint8_t(*q)] || size_t(q - p_) > o_.max_token) return false;
    p_ = q;
    return true;
  }

  // p_ at a word byte. Reads the whole word and handles it; returns true if it was a result token
  // (the game is then finished).
  bool word() {
    const char* q = word_end(p_ + 1, e_);
    while (q == e_) {  // the word may go on in the next read
      const size_t scanned = size_t(q - p_);
      if (scanned > o_.max_token) break;
      if (!fill()) {
        q = e_;
        break;
      }
      q = word_end(p_ + scanned, e_);
    }
    if (size_t(q - p_) > o_.max_token) {
      error(ErrorCode::kTokenTooLong, offset(p_), std::string_view(p_, ParseError::kTokenCap));
      p_ = q;  // discard what was buffered, then stream past the rest
      for (;;) {
        p_ = word_end(p_, e_);
        if (p_ < e_ || !fill()) return false;
      }
    }
    std::string_view w(p_, size_t(q - p_));
    p_ = q;
    return token(w);
  }

  bool token(std::string_view w) {
    const char* d = w.data();
    const size_t n = w.size();
    const char c0 = d[0], cl = d[n - 1];
    const bool move_end = kMoveEnd[uint8_t(cl)];
    // The common shapes first; each gives exactly what token_general gives.
    if (kSanLead[uint8_t(c0)]) {
      if (move_end) {  // e4, Nxf3+, Qh4# (no null move starts with a letter other than Z)
        v_.san(w, g_.plies++);
        return false;
      }
    } else if (is_digit(c0)) {  // a move number: 12. or 12... or glued to its move, 12.e4
      size_t i = 1;
      while (i < n && is_digit(d[i])) ++i;
      if (i < n && d[i] == '.') {
        do ++i;
        while (i < n && d[i] == '.');
        if (i == n) return false;
        if (kSanLead[uint8_t(d[i])] && move_end) {
          v_.san(w.substr(i), g_.plies++);
          return false;
        }
      }
    }
    return token_general(w);
  }

  // Every other word: results, bare numbers, suffixes, e.p., null moves.
  [[gnu::noinline]] bool token_general(std::string_view w) {
    const char c0 = w[0];
    if (c0 == '1' || c0 == '0' || c0 == '*') {
      Result r = parse_result(w);
      if (r != Result::kNone) {
        g_.result_token = r;
        v_.result(w);
        finish_game();
        return true;
      }
    }
    // Move number prefix: "12." "12..." "..." (digits without dots are bare numbers, or 0-0, 0000).
    size_t i = 0;
    while (i < w.size() && is_digit(w[i])) ++i;
    size_t j = i;
    while (j < w.size() && w[j] == '.') ++j;
    if (j > i) {
      w.remove_prefix(j);
    } else if (i == w.size() && w != "0000") {
      return false;
    }
    // Glued annotation suffix (e4!?, Qh4#!?) and en passant marker.
    size_t k = w.size();
    while (k > 0 && (w[k - 1] == '!' || w[k - 1] == '?')) --k;
    int nag = suffix_nag(w.substr(k));
    w = w.substr(0, k);
    if (w.size() >= 4 && w.substr(w.size() - 4) == "e.p.") w.remove_suffix(4);
    if (!w.empty()) {
      uint32_t ply = g_.plies++;
      if (g_.first_null_ply < 0 && is_null_move(w)) g_.first_null_ply = int32_t(ply);
      v_.san(w, ply);
    }
    if (nag) v_.nag(nag, g_.plies);
    return false;
  }

  enum class CommentEnd { kClosed, kEof, kResync };

  // p_ at `{`. Scans to the closing `}`, delivering the text if `deliver` and it fits max_comment.
  // A line inside the comment that starts with `[Event "` means the `{` was never closed: the
  // comment is abandoned (kUnterminatedComment) and p_ is left at that `[` so the caller resumes
  // with the next game instead of losing the rest of the stream. Newlines are rare in comments, so
  // the common case is one pass over a short single-line comment.
  CommentEnd brace_comment(bool deliver) {
#if defined(__SSE2__)
    // Fast path: the comment closes within the next 32 bytes, before any newline (a Lichess
    // `{ [%clk 0:03:00] }`). Exactly what the loop below does for it.
    if (e_ - p_ > 32) {
      const unsigned close = bytes_equal_32(p_ + 1, '}'), stop = close | bytes_equal_32(p_ + 1, '\n');
      const unsigned k = stop ? unsigned(__builtin_ctz(stop)) : 32;
      if (k < 32 && (close >> k & 1) && k + 1 <= o_.max_comment + 1) {
        const char* q = p_ + 1 + k;
        if (deliver) {
          ++g_.n_comments;
          if (want_comments_) v_.comment(trim(std::string_view(p_ + 1, k)), g_.plies);
        }
        p_ = q + 1;
        return CommentEnd::kClosed;
      }
    }
#endif
    return brace_comment_general(deliver);
  }

  [[gnu::noinline]] CommentEnd brace_comment_general(bool deliver) {
    static constexpr std::string_view kEventLine = "[Event \"";
    uint64_t off = offset(p_);
    bool buffering = deliver;  // keep the text from p_; otherwise p_ follows the scan
    // Called whenever the comment is known to extend at least to q; the error therefore depends only
    // on the comment's length, not on where chunks end.
    auto over_cap = [&](const char* q) {
      if (buffering && size_t(q - p_) > o_.max_comment + 1) {
        error(ErrorCode::kCommentTooLong, off, std::string_view(p_, ParseError::kTokenCap));
        buffering = false;
      }
    };
    size_t scanned = 1;
    for (;;) {
      const char* q = find_either(p_ + scanned, e_, '}', '\n');
      over_cap(q);
      if (q < e_ && *q == '}') {
        if (buffering) {
          ++g_.n_comments;
          if (want_comments_) v_.comment(trim(std::string_view(p_ + 1, size_t(q - p_ - 1))), g_.plies);
        }
        p_ = q + 1;
        return CommentEnd::kClosed;
      }
      bool room = size_t(e_ - q) > kEventLine.size();
      if (q < e_ && (room || eof_)) {  // a newline: look at the next line
        if (room && std::string_view(q + 1, kEventLine.size()) == kEventLine) {
          error(ErrorCode::kUnterminatedComment, off, "{");
          p_ = q + 1;
          line_start_ = col0_ = true;
          return CommentEnd::kResync;
        }
        scanned = size_t(q + 1 - p_);
        continue;
      }
      // Out of bytes, or a newline too close to the end to look past: read more.
      if (!buffering) p_ = q;
      scanned = size_t(q - p_);
      if (!fill()) {
        p_ = e_;
        return CommentEnd::kEof;
      }
    }
  }

  // p_ at `;`: a comment to the end of the line (the newline is left for the caller).
  void line_comment() {
    uint64_t off = offset(p_);
    const char* r = buffer_until('\n', 1, o_.max_comment + 1);
    if (!r) {
      error(ErrorCode::kCommentTooLong, off, std::string_view(p_, ParseError::kTokenCap));
      if (skip_line()) --p_;  // leave the newline for the caller
      return;
    }
    ++g_.n_comments;
    v_.comment(trim(std::string_view(p_ + 1, size_t(r - p_ - 1))), g_.plies);
    p_ = r;
  }

  // p_ at `$`: a numeric annotation glyph.
  void dollar() {
    uint64_t off = offset(p_);
    ++p_;
    if (p_ == e_) fill();
    if (p_ == e_ || !kWordChar[uint8_t(*p_)]) {
      error(ErrorCode::kUnexpectedChar, off, "$");
      return;
    }
    // Read the digits as a word so "$12" split across chunks is read whole.
    const char* q = p_;
    for (;;) {
      while (q < e_ && kWordChar[uint8_t(*q)]) ++q;
      if (q < e_ || size_t(q - p_) > o_.max_token) break;
      const size_t scanned = size_t(q - p_);
      const bool more = fill();  // may move the buffer (p_ follows, q must be recomputed)
      q = p_ + scanned;
      if (!more) break;
    }
    std::string_view w(p_, size_t(q - p_));
    p_ = q;
    int n = 0;
    auto [ptr, ec] = std::from_chars(w.data(), w.data() + w.size(), n);
    if (ec != std::errc() || ptr != w.data() + w.size() || w.size() > 3) {
      error(ErrorCode::kUnexpectedChar, off, w);
      return;
    }
    v_.nag(n, g_.plies);
  }

  // p_ at a `[` in the middle of a movetext line: skip to the matching `]` or the end of the line.
  void skip_bracket() {
    ++p_;
    for (;;) {
      while (p_ < e_ && *p_ != ']' && *p_ != '\n') ++p_;
      if (p_ < e_) break;
      if (!fill()) return;
    }
    if (*p_ == ']') ++p_;
    line_start_ = col0_ = false;
  }

  const ParserOptions& o_;
  char* buf_;  // the own buffer, or the bytes lent by the source
  char* own_;  // the own buffer
  bool lent_ = false;
  size_t cap_;
  ByteSource& src_;
  V& v_;

  const char* p_;
  const char* e_;
  uint64_t base_ = 0;  // stream offset of buf_[0]
  bool eof_ = false;
  bool stop_ = false;
  bool line_start_ = true;  // only blanks since the last newline
  bool col0_ = true;        // the previous byte was a newline (or start of stream)

  GameInfo g_;
  bool in_game_ = false;
  bool tags_ended_ = false;
  bool seen_event_ = false;
  bool blank_line_ = false;    // a blank line since the last movetext element of this game
  bool cut_by_tag_ = false;    // set around tag_line(kMovetext): the moves end without a result
  uint64_t depth_ = 0;         // variation nesting depth
  bool want_comments_ = true;  // Visitor::wants_comments() for the current game
  std::string scratch_;        // unescaped tag value
  StreamStats stats_;
};

}  // namespace
}  // namespace parser_detail
}  // namespace chess::pgn
