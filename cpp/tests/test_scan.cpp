// Unit tests of the PGN parser's byte scanners (pgn/scan.h) and Lichess fast paths
// (pgn/lichess_fast.h): each vector scanner against a plain byte loop written here from the PGN
// rules, at every start alignment and length over random bytes; the fast paths against the general
// path they stand in for; the tables against their definitions.
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "check.h"
#include "pgn/lichess_fast.h"
#include "pgn/scan.h"

using namespace chess::pgn::detail;
using namespace std::string_view_literals;

namespace {

// The bytes that end a movetext word (PGN export format, 8.2: whitespace and the delimiters), and
// NUL. Written out here, independently of the parser's tables.
bool ends_word(char c) { return " \t\n\r\f\v{};()$[]\0"sv.find(c) != std::string_view::npos; }

// Random bytes drawn mostly from an alphabet with every byte class in it (and sometimes any byte).
std::string random_bytes(std::mt19937& rng, size_t n) {
  static constexpr std::string_view kAlphabet = "aZ09.-+#=O}{;()$[]\"\\ \t\r\n%!?\0\xEF\x80\xFF"sv;
  std::string s(n, ' ');
  for (char& c : s) {
    const uint32_t r = rng();
    c = (r & 7) == 0 ? char(r >> 8) : kAlphabet[(r >> 8) % kAlphabet.size()];
  }
  return s;
}

void test_word_chars() {
  g_context = "word chars";
  for (int c = 0; c < 256; ++c) CHECK(kWordChar[c] == !ends_word(char(c)));
  CHECK(is_space(' ') && is_space('\t') && is_space('\r') && !is_space('\n') && !is_space('a'));
}

void test_scanners_against_loops() {
  std::mt19937 rng(7);
  for (int round = 0; round < 40; ++round) {
    const std::string buf = random_bytes(rng, 200);
    const char* d = buf.data();
    for (size_t start = 0; start < 40; ++start) {
      for (size_t len = 0; start + len <= buf.size(); len += 1 + len / 8) {
        const char* q = d + start;
        const char* e = q + len;
        g_context = "round " + std::to_string(round) + " start " + std::to_string(start) + " len " +
                    std::to_string(len);
        const char* want = q;
        while (want < e && *want != '}' && *want != '\n') ++want;
        if (find_either(q, e, '}', '\n') != want) CHECK(find_either(q, e, '}', '\n') == want);
        want = q;
        while (want < e && !ends_word(*want)) ++want;
        if (word_end(q, e) != want) CHECK(word_end(q, e) == want);
      }
#if defined(__SSE2__)
      if (start + 32 <= buf.size()) {
        unsigned want = 0;
        for (unsigned i = 0; i < 32; ++i) want |= unsigned(d[start + i] == '}') << i;
        if (bytes_equal_32(d + start, '}') != want) CHECK(bytes_equal_32(d + start, '}') == want);
      }
#endif
    }
  }
  g_context = "scanners";
  // Long runs: a word of 100 bytes, then its end; a comment with its brace 70 bytes on.
  const std::string word = std::string(100, 'e') + " x";
  CHECK(word_end(word.data(), word.data() + word.size()) == word.data() + 100);
  const std::string comment = std::string(70, 'c') + "}" + std::string(40, 'c');
  CHECK(find_either(comment.data(), comment.data() + comment.size(), '}', '\n') == comment.data() + 70);
  CHECK(find_either(comment.data(), comment.data() + 70, '}', '\n') == comment.data() + 70);
}

void test_trim() {
  g_context = "trim";
  CHECK(trim("  [%clk 0:03:00] \n") == "[%clk 0:03:00]");
  CHECK(trim("\t\r\n") == "");
  CHECK(trim("a b") == "a b");
}

struct TagCase {
  std::string_view line;
  TagParse want;
  std::string_view name, value;
  bool recovered;
};

void test_parse_tag() {
  const TagCase cases[] = {
      {R"([Event "Rated Blitz game"])", TagParse::kOk, "Event", "Rated Blitz game", false},
      {R"([ White   "A \"quoted\" name\\"  ] rest)", TagParse::kOk, "White", R"(A "quoted" name\)", false},
      {R"([Site "a"b"])", TagParse::kOk, "Site", R"(a"b)", true},
      {R"([Annotator ""])", TagParse::kOk, "Annotator", "", false},
      {R"([Event "never closes)", TagParse::kBadValue, "", "", false},
      {R"([Event "closed" but no bracket)", TagParse::kBadValue, "", "", false},
      {R"([ "no name"])", TagParse::kNotTag, "", "", false},
      {R"([Name])", TagParse::kNotTag, "", "", false},
      {R"([Name value])", TagParse::kNotTag, "", "", false},
  };
  for (const TagCase& c : cases) {
    g_context = std::string(c.line);
    Tag t;
    std::string scratch;
    const TagParse got = parse_tag(c.line.data(), c.line.data() + c.line.size(), t, scratch);
    CHECK(got == c.want);
    if (got != TagParse::kOk || c.want != TagParse::kOk) continue;
    CHECK(t.name == c.name);
    CHECK(t.value == c.value);
    CHECK(t.recovered == c.recovered);
    CHECK(t.end && t.end[-1] == ']');
  }
}

// quick_tag either declines or gives exactly what the general path gives: the line end, then
// parse_tag over the line.
void test_quick_tag() {
  const std::string_view pieces[] = {"[",           "Event",        "White", " ",    "  ",      "\"",
                                     "Rated Blitz", "a\\b",         "]",     "\r",   "\n",      "\t",
                                     "x",           "[Site \"y\"]", "\0"sv,  "\"\"", "\xC3\xA9"};
  std::mt19937 rng(11);
  int taken = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string line = "[";
    const int n = 1 + int(rng() % 9);
    for (int k = 0; k < n; ++k) line += pieces[rng() % std::size(pieces)];
    if (i % 2) line = R"([Event "Rated )" + std::to_string(i) + "\"]" + (i % 4 == 1 ? "\r" : "");
    line += "\n";
    line += std::string(70, 'p');
    g_context = "quick_tag " + line.substr(0, line.find('\n'));
    Tag t;
    const char* nl = nullptr;
    const char* p = line.data();
    if (!quick_tag(p, p + line.size(), t, nl)) continue;
    ++taken;
    CHECK(nl == p + line.find('\n'));
    Tag g;
    std::string scratch;
    CHECK(parse_tag(p, nl, g, scratch) == TagParse::kOk);
    CHECK(g.name == t.name && g.value == t.value && g.end == t.end && g.recovered == t.recovered);
  }
#if defined(__AVX2__)
  g_context = "quick_tag taken";
  CHECK(taken >= 10000);  // every ordinary `[Event "..."]` line
#else
  CHECK(taken == 0);
#endif
}

void test_clock_comment() {
#if defined(__SSE2__)
  const std::string pad(32, 'x');
  auto at = [&](std::string_view s) { return clock_comment_at((std::string(s) + pad).c_str()); };
  g_context = "clock comment";
  CHECK(at(" { [%clk 0:03:00] } 2. e4"));
  CHECK(at(" { [%clk 9:59:59] } "));
  CHECK(!at("{ [%clk 0:03:00] } "));    // no space before the brace
  CHECK(!at(" { [%clk 0:03:00] }\n"));  // a newline, not the space after it
  CHECK(!at(" { [%clk 0:03:0}] } "));
  CHECK(!at(" { [%clk 0:03:00.1] } "));
  CHECK(!at(" { [%eval 0.17] [%clk 0:03:00] } "));
  CHECK(kClockLength == std::string_view(" { [%clk 0:03:00] } ").size());
#endif
}

void test_number_texts() {
  g_context = "number texts";
  for (size_t ply = 0; ply < kNumberedPlies; ++ply) {
    const std::string want = std::to_string(ply / 2 + 1) + (ply % 2 ? "... " : ". ");
    const NumberText& nt = kNumberTexts.at[ply];
    std::string got;
    for (uint32_t i = 0; i < nt.length; ++i) got += char(nt.text >> (8 * i));
    if (got != want || nt.mask != (nt.length == 8 ? ~uint64_t(0) : (uint64_t(1) << (8 * nt.length)) - 1))
      CHECK(got == want);
  }
}

void test_token_helpers() {
  g_context = "token helpers";
  CHECK(suffix_nag("!") == 1 && suffix_nag("?") == 2 && suffix_nag("!!") == 3 && suffix_nag("??") == 4);
  CHECK(suffix_nag("!?") == 5 && suffix_nag("?!") == 6 && suffix_nag("") == 0 && suffix_nag("!!!") == 0);
  CHECK(is_null_move("--") && is_null_move("Z0") && is_null_move("0000") && is_null_move("@@@@"));
  CHECK(!is_null_move("0-0") && !is_null_move("e4") && !is_null_move("-"));
  for (char c : std::string_view("abcdefghKQRBNOP")) CHECK(kSanLead[uint8_t(c)]);
  CHECK(!kSanLead[uint8_t('Z')]);  // Z0, the null move, takes the general path
  for (char c : std::string_view("12+#OQRBN")) CHECK(kMoveEnd[uint8_t(c)]);
  CHECK(!kSanLead[uint8_t('1')] && !kMoveEnd[uint8_t('!')]);
}

}  // namespace

int main() {
  test_word_chars();
  test_scanners_against_loops();
  test_trim();
  test_parse_tag();
  test_quick_tag();
  test_clock_comment();
  test_number_texts();
  test_token_helpers();
  return report();
}
