// Unit tests of the reading thread (pgn/block_reader.h): a file read back whole in blocks of
// several sizes and queue depths, from an offset; blocks kept alive after the reader is gone; a
// reader closed while its thread waits for room in the queue. (zstd decoding against
// python-zstandard is tested from Python: tests/test_pgn_input.py.)
#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "check.h"
#include "pgn/block_reader.h"

using chess::pgn::Block;
using chess::pgn::BlockReader;

namespace {

std::string read_all(int fd, uint64_t offset, size_t block, size_t depth, size_t* blocks = nullptr) {
  BlockReader r(fd, offset, false, block, 1 << 16, depth);
  std::string out;
  size_t n = 0;
  while (std::shared_ptr<Block> b = r.next()) {
    out.append(b->data(), b->size());
    ++n;
  }
  if (blocks) *blocks = n;
  CHECK(r.error().empty());
  CHECK(r.raw_end() == offset + out.size());
  return out;
}

}  // namespace

int main() {
  char path[] = "/tmp/test_block_reader_XXXXXX";
  const int fd = mkstemp(path);
  CHECK(fd >= 0);
  std::string data;
  for (int i = 0; data.size() < 300000; ++i)
    data += "[Event \"" + std::to_string(i) + "\"]\n\n1. e4 e5 1-0\n\n";
  CHECK(write(fd, data.data(), data.size()) == ssize_t(data.size()));

  for (size_t block : {size_t(4096), size_t(65536), size_t(1) << 20}) {
    for (size_t depth : {size_t(1), size_t(3)}) {
      g_context = "block " + std::to_string(block) + " depth " + std::to_string(depth);
      size_t n = 0;
      CHECK(read_all(fd, 0, block, depth, &n) == data);
      CHECK(n == (data.size() + block - 1) / block);
      CHECK(read_all(fd, 1234, block, depth) == data.substr(1234));
    }
  }

  g_context = "blocks outlive their reader";
  std::vector<std::shared_ptr<Block>> kept;
  {
    BlockReader r(fd, 0, false, 4096, 1 << 16, 2);
    while (std::shared_ptr<Block> b = r.next()) kept.push_back(std::move(b));
  }
  std::string joined;
  for (auto& b : kept) joined.append(b->data(), b->size());
  CHECK(joined == data);
  kept.clear();

  g_context = "closed while its thread waits for room";
  {
    BlockReader r(fd, 0, false, 4096, 1 << 16, 1);
    std::shared_ptr<Block> first = r.next();
    CHECK(first && first->size() == 4096);
    r.close();
    CHECK(r.next() == nullptr || true);  // (whatever was queued may or may not come)
  }

  g_context = "an empty range";
  CHECK(read_all(fd, data.size(), 4096, 2).empty());

  g_context = "a read error";
  {
    BlockReader r(-1, 0, false, 4096, 1 << 16, 2);
    CHECK(r.next() == nullptr);
    CHECK(r.error_kind() == "read" && !r.error().empty());
  }

  close(fd);
  unlink(path);
  return report();
}
