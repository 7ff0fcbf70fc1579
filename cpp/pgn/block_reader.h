// The input thread of `chessformer prep` and `read_games`: a regular file read (and, when it is
// zstd, decompressed) front to back on a thread of its own, into large blocks handed out through a
// bounded queue. The consumer (python/chessformer/data/pgn_input.py) cuts the blocks into chunks of
// whole games as views, without copying them; a block's memory goes back to the reader's free list
// when its last view is dropped, so a long run reuses a few buffers instead of faulting in fresh
// pages for every block.
//
// zstd is libzstd, loaded at run time (dlopen "libzstd.so.1"); without it zstd_available() is false
// and the Python reader (python-zstandard) is used instead. The decompressor is fed the compressed
// bytes exactly as that reader feeds them (raw reads of `raw_size` bytes, each cut into pieces of
// 16 bytes to 4 KB that grow while the data expands by less than about 1 MB per piece; frames
// concatenated), and a piece whose decoding fails loses its output, as there: the stream ends with
// every byte the Python reader would have yielded before the damage, whichever reader ran.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace chess::pgn {

// Buffers of one size, reused (the free list keeps at most `max_free`).
class BlockPool {
 public:
  BlockPool(size_t size, size_t max_free) : size_(size), max_free_(max_free) {}
  ~BlockPool();
  char* get();
  void put(char* p);
  size_t size() const { return size_; }

 private:
  size_t size_, max_free_;
  std::mutex mu_;
  std::vector<char*> free_;
};

// A block of bytes from the reader; its buffer returns to the pool when the Block is destroyed.
class Block {
 public:
  Block(std::shared_ptr<BlockPool> pool, char* data, size_t size)
      : pool_(std::move(pool)), data_(data), size_(size) {}
  ~Block() { pool_->put(data_); }
  Block(const Block&) = delete;
  Block& operator=(const Block&) = delete;
  const char* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  std::shared_ptr<BlockPool> pool_;
  char* data_;
  size_t size_;
};

class BlockReader {
 public:
  // Reads `fd` (not owned: open until close() or destruction) with pread from `offset`, in blocks
  // of `block_size` bytes (the last may be shorter), at most `depth` of them waiting in the queue.
  // `zstd`: the bytes are zstd frames, decompressed (needs zstd_available()).
  BlockReader(int fd, uint64_t offset, bool zstd, size_t block_size, size_t raw_size, size_t depth);
  ~BlockReader();
  BlockReader(const BlockReader&) = delete;
  BlockReader& operator=(const BlockReader&) = delete;

  static bool zstd_available();

  // The next block, waiting for it; nullptr at the end of the stream (or after an error: error()).
  std::shared_ptr<Block> next();
  // Stops the thread (blocks not yet taken are dropped) and waits for it.
  void close();

  // Once next() has returned nullptr: what ended the stream early ("" if nothing did) and its kind
  // ("read", "zstd", "truncated" or "other").
  const std::string& error() const { return error_; }
  const std::string& error_kind() const { return error_kind_; }
  // The file offset after the last byte read (the size check at the end of a regular file).
  uint64_t raw_end() const { return raw_end_; }
  // Seconds the reader thread waited for room in the queue and the consumer waited for a block:
  // which side of the pipeline was the slower one.
  double producer_wait_s() const { return producer_wait_ns_ * 1e-9; }
  double consumer_wait_s() const { return consumer_wait_ns_ * 1e-9; }

 private:
  void run();
  void run_plain();
  void run_zstd();
  bool push(char* data, size_t size);  // false when stopped
  void fail(const char* kind, std::string message);
  long read_raw(char* buf, size_t n);  // pread from raw_end_; -1 (error set) on a read error

  int fd_;
  bool zstd_;
  size_t block_size_, raw_size_, depth_;
  std::shared_ptr<BlockPool> pool_;

  std::mutex mu_;
  std::condition_variable ready_cv_, room_cv_;
  std::deque<std::shared_ptr<Block>> queue_;
  bool done_ = false, stop_ = false;
  std::string error_, error_kind_;
  uint64_t raw_end_;
  uint64_t producer_wait_ns_ = 0, consumer_wait_ns_ = 0;
  std::thread thread_;
};

}  // namespace chess::pgn
