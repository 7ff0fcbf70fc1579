// The parser's fast paths for the shape of a Lichess export, each giving exactly what the general
// path of parser_run.h gives for the same bytes (which it falls back to whenever a fast path says
// no): an ordinary tag line read in one pass over 64 bytes, the clock comment after each move
// (` { [%clk 0:03:00] } `) as one masked compare, and the move number the next ply should have
// (`12. `, `12... `) as one 8-byte compare. Internal to the parser (parser_run.h).
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <string_view>
#if defined(__SSE2__)
#include <immintrin.h>
#endif

#include "pgn/pgn_parser.h"
#include "pgn/scan.h"

namespace chess::pgn::detail {
namespace {

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

// The common tag line at p (a `[`), in one pass over 64 bytes: `[Name "value"]`, then `\n` or
// `\r\n`, with no backslash or NUL on the line and the line end before e. Sets t and nl exactly as
// the general path (find the line end, parse_tag) would; false: take the general path.
inline bool quick_tag(const char* p, const char* e, Tag& t, const char*& nl) {
#if defined(__AVX2__)
  if (e - p < 64) return false;
  const Bytes64 x(p);
  const uint64_t newlines = x.eq('\n');
  if (!newlines) return false;
  const unsigned k = unsigned(__builtin_ctzll(newlines));  // p[0] is `[`, so k >= 1
  const uint64_t line = (uint64_t(1) << k) - 1;
  if ((x.eq('\0') | x.eq('\\')) & line) return false;
  // The name runs from p[1] to the first name stop (or the newline at k); then one space and the
  // opening quote.
  const uint64_t name_stops = x.name_stops() & ~uint64_t(1);
  const unsigned s = unsigned(__builtin_ctzll(name_stops));  // <= k: the newline is a stop
  if (s < 2 || s + 1 >= k || p[s] != ' ' || p[s + 1] != '"') return false;
  const uint64_t closing = x.eq('"') & line & ~((uint64_t(2) << (s + 1)) - 1);
  if (!closing) return false;
  const unsigned q = unsigned(__builtin_ctzll(closing));
  if (p[q + 1] != ']' || !(k == q + 2 || (k == q + 3 && p[q + 2] == '\r'))) return false;
  t.name = std::string_view(p + 1, s - 1);
  t.value = std::string_view(p + s + 2, q - s - 2);
  t.end = p + q + 2;
  t.recovered = false;
  nl = p + k;
  return true;
#else
  (void)p;
  (void)e;
  (void)t;
  (void)nl;
  return false;
#endif
}

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

}  // namespace
}  // namespace chess::pgn::detail
