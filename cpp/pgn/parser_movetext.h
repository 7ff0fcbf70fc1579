// The movetext elements of the parser's state machine (Run, parser_run.h): move numbers, words and
// the move tokens in them, brace and line comments, NAGs, and a stray `[...]`. Included at the end
// of parser_run.h, where Run declares them.
#pragma once

#include <charconv>
#include <cstring>
#include <string_view>

#include "pgn/parser_run.h"

namespace chess::pgn::detail {
namespace {

template <class V>
inline bool Run<V>::skip_move_number() {
  const char* q = p_;
  while (q < e_ && is_digit(*q)) ++q;
  if (q == p_ || q >= e_ || *q != '.') return false;
  do ++q;
  while (q < e_ && *q == '.');
  if (q >= e_ || kWordChar[uint8_t(*q)] || size_t(q - p_) > o_.max_token) return false;
  p_ = q;
  return true;
}

template <class V>
inline bool Run<V>::word() {
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

template <class V>
inline bool Run<V>::token(std::string_view w) {
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

template <class V>
inline bool Run<V>::token_general(std::string_view w) {
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

template <class V>
inline typename Run<V>::CommentEnd Run<V>::brace_comment(bool deliver) {
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

template <class V>
inline typename Run<V>::CommentEnd Run<V>::brace_comment_general(bool deliver) {
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

template <class V>
inline void Run<V>::line_comment() {
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

template <class V>
inline void Run<V>::dollar() {
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

template <class V>
inline void Run<V>::skip_bracket() {
  ++p_;
  for (;;) {
    while (p_ < e_ && *p_ != ']' && *p_ != '\n') ++p_;
    if (p_ < e_) break;
    if (!fill()) return;
  }
  if (*p_ == ']') ++p_;
  line_start_ = col0_ = false;
}

}  // namespace
}  // namespace chess::pgn::detail
