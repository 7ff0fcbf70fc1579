// The parser's state machine (see pgn_parser.cpp): Run reads one stream through a ByteWindow, with
// the byte scanners of scan.h and, where the bytes have the shape of a Lichess export, the fast
// paths of lichess_fast.h; the movetext elements (words, comments, NAGs) are defined in
// parser_movetext.h. Templated on the visitor type: Visitor::run_parser instantiates it for
// Visitor (virtual callbacks) and ReplayVisitor::run_parser (replay.cpp) for ReplayVisitor, whose
// callbacks are final: there the per-token calls are direct and the replay's san() can be inlined
// into the movetext loop. Internal: included only by pgn_parser.cpp and replay.cpp.
#pragma once

#include <algorithm>
#include <bit>
#include <charconv>
#include <cstring>
#include <string>
#include <vector>

#include "pgn/byte_window.h"
#include "pgn/lichess_fast.h"
#include "pgn/pgn_parser.h"
#include "pgn/scan.h"

namespace chess::pgn::detail {
namespace {

enum class State { kBetween, kTags, kMovetext, kSkip, kDone };
// Where a `[` line was met; decides what a valid or invalid tag line means.
enum class Where { kBetween, kTags, kMovetext };

template <class V>
class Run : ByteWindow {
 public:
  Run(const ParserOptions& o, std::vector<char>& buffer, ByteSource& src, V& v)
      : ByteWindow(buffer, o.read_size, src), o_(o), v_(v) {
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
    stats_.bytes = bytes_;
    stats_.stopped = stop_;
    return stats_;
  }

 private:
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
    const bool quick = quick_tag(p_, e_, t, nl);
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
    TagParse tp = quick ? TagParse::kOk : parse_tag(p_, le, t, scratch_);
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
      if (parse_tag(q, le, t, scratch_) != TagParse::kOk) {
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
        if (quick_tag(p_, e_, t, nl)) {
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
            // incomplete. (`[Event` there is an ordinary next game, docs/pgn.md quirk rows 8 and 10.)
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
  bool skip_move_number();

  // p_ at a word byte. Reads the whole word and handles it; returns true if it was a result token
  // (the game is then finished).
  bool word();

  bool token(std::string_view w);

  // Every other word: results, bare numbers, suffixes, e.p., null moves.
  [[gnu::noinline]] bool token_general(std::string_view w);

  enum class CommentEnd { kClosed, kEof, kResync };

  // p_ at `{`. Scans to the closing `}`, delivering the text if `deliver` and it fits max_comment.
  // A line inside the comment that starts with `[Event "` means the `{` was never closed: the
  // comment is abandoned (kUnterminatedComment) and p_ is left at that `[` so the caller resumes
  // with the next game instead of losing the rest of the stream. Newlines are rare in comments, so
  // the common case is one pass over a short single-line comment.
  CommentEnd brace_comment(bool deliver);

  [[gnu::noinline]] CommentEnd brace_comment_general(bool deliver);

  // p_ at `;`: a comment to the end of the line (the newline is left for the caller).
  void line_comment();

  // p_ at `$`: a numeric annotation glyph.
  void dollar();

  // p_ at a `[` in the middle of a movetext line: skip to the matching `]` or the end of the line.
  void skip_bracket();

  const ParserOptions& o_;
  V& v_;
  bool stop_ = false;

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
}  // namespace chess::pgn::detail

#include "pgn/parser_movetext.h"  // the movetext elements' definitions
