// The PGN parser's byte scanners: the byte classes of movetext, and the loops that find the end of a
// word, a comment or a tag line, 16 or 32 bytes at a time where the build has SSE2/SSSE3/AVX2. Each
// vector loop is exactly its scalar tail run over more bytes (cpp/tests/test_scan.cpp checks them
// against plain loops). Internal to the parser (parser_run.h); no state, no allocation.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#if defined(__SSE2__)
#include <immintrin.h>
#endif

namespace chess::pgn::detail {
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

enum class TagParse { kOk, kNotTag, kBadValue };

// Parses one `[Name "value"]` starting at q (a `[`) within [q, le). The closing quote is the first
// `"` followed by optional blanks and `]`; earlier bare quotes stay in the value (recovered). A value
// with escapes (`\"`, `\\`) is unescaped into `scratch`, which t.value then views.
// kBadValue: it starts like a tag (`[Name "`) but the value never closes on this line.
inline TagParse parse_tag(const char* q, const char* le, Tag& t, std::string& scratch) {
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
  scratch.clear();
  for (const char* s = vs; s < q; ++s) {
    if (*s == '\\' && s + 1 < q && (s[1] == '"' || s[1] == '\\')) ++s;
    scratch.push_back(*s);
  }
  t.value = scratch;
  return TagParse::kOk;
}

}  // namespace
}  // namespace chess::pgn::detail
