// The parser's window on its byte stream (the buffer invariant is described in pgn_parser.cpp):
// [p_, e_) holds the bytes read and not yet consumed, in the parser's own buffer or in bytes the
// source lends (ByteSource::lend); fill() reads more after e_, keeping [p_, e_). Also the two bits
// of line state every scanner keeps up to date. Internal to the parser (parser_run.h).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

#include "pgn/pgn_parser.h"

namespace chess::pgn::detail {
namespace {

class ByteWindow {
 protected:
  ByteWindow(std::vector<char>& buffer, size_t read_size, ByteSource& src)
      : buf_(buffer.data()), own_(buffer.data()), cap_(buffer.size()), read_size_(read_size), src_(src) {
    p_ = e_ = buf_;
  }

  // The stream offset of q (a position in the window).
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
        bytes_ += lent.size();
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
    if (size_t(limit - e_) < read_size_ && p_ != buf_) {
      size_t keep = size_t(e_ - p_);
      std::memmove(buf_, p_, keep);
      base_ += uint64_t(p_ - buf_);
      p_ = buf_;
      e_ = buf_ + keep;
    }
    size_t room = std::min(size_t(limit - e_), read_size_);
    size_t n = room ? src_.read(const_cast<char*>(e_), room) : 0;
    if (n == 0) {
      eof_ = true;
      return false;
    }
    e_ += n;
    bytes_ += n;
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

  const char* p_;
  const char* e_;
  bool eof_ = false;
  bool line_start_ = true;  // only blanks since the last newline
  bool col0_ = true;        // the previous byte was a newline (or start of stream)
  uint64_t bytes_ = 0;      // bytes taken from the source

 private:
  char* buf_;  // the own buffer, or the bytes lent by the source
  char* own_;  // the own buffer
  bool lent_ = false;
  size_t cap_;
  size_t read_size_;
  ByteSource& src_;
  uint64_t base_ = 0;  // stream offset of buf_[0]
};

}  // namespace
}  // namespace chess::pgn::detail
