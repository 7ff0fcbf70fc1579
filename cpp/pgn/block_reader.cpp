// The reading (and zstd decompressing) thread of prep (see block_reader.h).
#include "pgn/block_reader.h"

#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <new>

namespace chess::pgn {

namespace {

// The part of libzstd's streaming API used here (zstd.h, stable since 1.3; ABI of libzstd.so.1).
struct ZstdInBuffer {
  const void* src;
  size_t size;
  size_t pos;
};
struct ZstdOutBuffer {
  void* dst;
  size_t size;
  size_t pos;
};
constexpr int kZstdResetSessionOnly = 1;

struct ZstdApi {
  void* (*create)() = nullptr;
  size_t (*free)(void*) = nullptr;
  size_t (*decompress)(void*, ZstdOutBuffer*, ZstdInBuffer*) = nullptr;
  size_t (*reset)(void*, int) = nullptr;
  unsigned (*is_error)(size_t) = nullptr;
  const char* (*error_name)(size_t) = nullptr;
  bool ok = false;

  ZstdApi() {
    void* lib = nullptr;
    for (const char* name : {"libzstd.so.1", "libzstd.1.dylib", "libzstd.dylib", "libzstd.so"})
      if ((lib = dlopen(name, RTLD_NOW | RTLD_LOCAL)) != nullptr) break;
    if (lib == nullptr) return;
    create = reinterpret_cast<void* (*)()>(dlsym(lib, "ZSTD_createDStream"));
    free = reinterpret_cast<size_t (*)(void*)>(dlsym(lib, "ZSTD_freeDStream"));
    decompress = reinterpret_cast<size_t (*)(void*, ZstdOutBuffer*, ZstdInBuffer*)>(
        dlsym(lib, "ZSTD_decompressStream"));
    reset = reinterpret_cast<size_t (*)(void*, int)>(dlsym(lib, "ZSTD_DCtx_reset"));
    is_error = reinterpret_cast<unsigned (*)(size_t)>(dlsym(lib, "ZSTD_isError"));
    error_name = reinterpret_cast<const char* (*)(size_t)>(dlsym(lib, "ZSTD_getErrorName"));
    ok = create && free && decompress && reset && is_error && error_name;
  }
};

const ZstdApi& zstd_api() {
  static const ZstdApi api;
  return api;
}

// The piece sizes of python/chessformer/data/pgn_input.py's reader (FEED_SIZE, MIN_FEED,
// DECODE_TARGET): kept equal, so both readers lose the same bytes to a damaged piece.
constexpr int64_t kFeedSize = 1 << 12;
constexpr int64_t kMinFeed = 16;
constexpr int64_t kDecodeTarget = 1 << 20;

uint64_t now_ns() {
  return uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(
                      std::chrono::steady_clock::now().time_since_epoch())
                      .count());
}

}  // namespace

BlockPool::~BlockPool() {
  for (char* p : free_) std::free(p);
}

char* BlockPool::get() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!free_.empty()) {
      char* p = free_.back();
      free_.pop_back();
      return p;
    }
  }
  char* p = static_cast<char*>(std::malloc(size_));
  if (p == nullptr) throw std::bad_alloc();
  return p;
}

void BlockPool::put(char* p) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (free_.size() < max_free_) {
      free_.push_back(p);
      return;
    }
  }
  std::free(p);
}

bool BlockReader::zstd_available() { return zstd_api().ok; }

BlockReader::BlockReader(int fd, uint64_t offset, bool zstd, size_t block_size, size_t raw_size, size_t depth)
    : fd_(fd),
      zstd_(zstd),
      block_size_(std::max<size_t>(block_size, 1 << 12)),
      raw_size_(std::max<size_t>(raw_size, 1)),
      depth_(std::max<size_t>(depth, 1)),
      pool_(std::make_shared<BlockPool>(block_size_, depth_ + 4)),
      raw_end_(offset) {
  thread_ = std::thread([this] { run(); });
}

BlockReader::~BlockReader() { close(); }

void BlockReader::close() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    queue_.clear();
  }
  room_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::shared_ptr<Block> BlockReader::next() {
  std::unique_lock<std::mutex> lock(mu_);
  if (queue_.empty() && !done_) {
    const uint64_t t0 = now_ns();
    ready_cv_.wait(lock, [this] { return !queue_.empty() || done_; });
    consumer_wait_ns_ += now_ns() - t0;
  }
  if (queue_.empty()) return nullptr;
  std::shared_ptr<Block> b = std::move(queue_.front());
  queue_.pop_front();
  lock.unlock();
  room_cv_.notify_one();
  return b;
}

bool BlockReader::push(char* data, size_t size) {
  if (size == 0) {
    pool_->put(data);
    return true;
  }
  auto block = std::make_shared<Block>(pool_, data, size);
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (queue_.size() >= depth_ && !stop_) {
      const uint64_t t0 = now_ns();
      room_cv_.wait(lock, [this] { return queue_.size() < depth_ || stop_; });
      producer_wait_ns_ += now_ns() - t0;
    }
    if (stop_) return false;
    queue_.push_back(std::move(block));
  }
  ready_cv_.notify_one();
  return true;
}

void BlockReader::fail(const char* kind, std::string message) {
  std::lock_guard<std::mutex> lock(mu_);
  if (error_.empty()) {
    error_kind_ = kind;
    error_ = std::move(message);
  }
}

long BlockReader::read_raw(char* buf, size_t n) {
  size_t k = 0;
  while (k < n) {
    const ssize_t r = pread(fd_, buf + k, n - k, off_t(raw_end_));
    if (r < 0) {
      if (errno == EINTR) continue;
      const int e = errno;
      fail("read", "[Errno " + std::to_string(e) + "] " + std::strerror(e));
      return -1;
    }
    if (r == 0) break;
    k += size_t(r);
    raw_end_ += uint64_t(r);
  }
  return long(k);
}

void BlockReader::run() {
  try {
    if (zstd_)
      run_zstd();
    else
      run_plain();
  } catch (const std::exception& e) {
    fail("other", e.what());
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    done_ = true;
  }
  ready_cv_.notify_all();
}

void BlockReader::run_plain() {
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stop_) return;
    }
    char* buf = pool_->get();
    const long n = read_raw(buf, block_size_);
    if (n <= 0) {
      pool_->put(buf);
      return;
    }
    if (!push(buf, size_t(n))) return;
    if (size_t(n) < block_size_) return;  // the end of the file
  }
}

void BlockReader::run_zstd() {
  const ZstdApi& z = zstd_api();
  if (!z.ok) return fail("other", "libzstd is not available");
  std::unique_ptr<void, size_t (*)(void*)> ds(z.create(), z.free);
  if (!ds) throw std::bad_alloc();

  // Output goes into `cur` at `pos`; full buffers wait in `staged` until the piece that filled them
  // is known to decode (a piece that fails loses all its output, as in the Python reader).
  char* cur = pool_->get();
  size_t pos = 0, commit_pos = 0;
  std::vector<char*> staged;
  auto release_all = [&] {
    for (char* p : staged) pool_->put(p);
    staged.clear();
    if (cur) pool_->put(cur);
    cur = nullptr;
  };
  auto commit = [&]() -> bool {
    for (size_t i = 0; i < staged.size(); ++i)
      if (!push(staged[i], block_size_)) {  // (push owns the buffer it is given, taken or not)
        for (size_t j = i + 1; j < staged.size(); ++j) pool_->put(staged[j]);
        staged.clear();
        return false;
      }
    staged.clear();
    commit_pos = pos;
    if (pos == block_size_) {  // exactly full: hand it on now
      char* full = cur;
      cur = pool_->get();
      pos = commit_pos = 0;
      if (!push(full, block_size_)) return false;
    }
    return true;
  };
  auto rollback = [&] {
    if (!staged.empty()) {
      pool_->put(cur);
      cur = staged.front();
      for (size_t i = 1; i < staged.size(); ++i) pool_->put(staged[i]);
      staged.clear();
    }
    pos = commit_pos;
  };

  std::vector<char> raw(raw_size_);
  int64_t feed = kMinFeed;
  bool in_frame = false;
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stop_) return release_all();
    }
    const long n = read_raw(raw.data(), raw_size_);
    if (n < 0) break;
    if (n == 0) {
      if (in_frame) fail("truncated", "the last frame is incomplete");
      break;
    }
    int64_t start = 0;
    bool failed = false;
    while (start < n && !failed) {
      const int64_t len = std::min<int64_t>(feed, n - start);
      ZstdInBuffer in{raw.data() + start, size_t(len), 0};
      start += len;
      int64_t n_out = 0;
      // One `decompress(piece)` of the Python reader per pass: until the input is used up with no
      // more output, or the frame ends (then the rest of the piece starts a new frame).
      while (in.pos < in.size) {
        bool frame_end = false;
        for (;;) {
          if (pos == block_size_) {
            staged.push_back(cur);
            cur = pool_->get();
            pos = 0;
          }
          ZstdOutBuffer out{cur, block_size_, pos};
          const size_t r = z.decompress(ds.get(), &out, &in);
          if (z.is_error(r)) {
            fail("zstd", std::string("zstd decompressor error: ") + z.error_name(r));
            failed = true;
            break;
          }
          const size_t produced = out.pos - pos;
          pos = out.pos;
          n_out += int64_t(produced);
          in_frame = true;
          if (r == 0) {
            frame_end = true;
            break;
          }
          if (in.pos == in.size && produced == 0 && pos < block_size_) break;
        }
        if (failed) {
          rollback();
          break;
        }
        if (!commit()) return release_all();
        if (frame_end) {
          z.reset(ds.get(), kZstdResetSessionOnly);
          in_frame = false;
        } else {
          break;
        }
      }
      if (failed) break;
      // (grows at most twofold a piece: a piece without output says nothing of how much the next
      // bytes expand)
      const int64_t want = n_out ? kDecodeTarget * len / n_out : kFeedSize;
      feed = std::max(kMinFeed, std::min({kFeedSize, want, 2 * feed}));
    }
    if (failed) break;
  }
  if (pos > 0) {
    char* last = cur;
    cur = nullptr;
    if (!push(last, pos)) return release_all();
  }
  release_all();
}

}  // namespace chess::pgn
