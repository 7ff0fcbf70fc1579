// Fuzz target for the PGN parser + SAN replay + prep tokenizers (libFuzzer entry point).
//
// With clang and libFuzzer (docs/pgn.md, "Fuzzing"):
//   clang++ -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -Icpp cpp/core/*.cpp cpp/pgn/*.cpp \
//       cpp/tokenize/*.cpp cpp/fuzz/fuzz_pgn.cpp -o build/fuzz_pgn && build/fuzz_pgn tests/data/pgn
// Without libFuzzer (g++ or clang, -DFUZZ_STANDALONE) the same target runs over seeded random
// mutations of the files and folders given on the command line:
//   g++ -std=c++20 -O1 -g -fsanitize=address,undefined -DFUZZ_STANDALONE -Icpp cpp/core/*.cpp \
//       cpp/pgn/*.cpp cpp/tokenize/*.cpp cpp/fuzz/fuzz_pgn.cpp -o build/fuzz_pgn && \
//       build/fuzz_pgn 20000 tests/data/pgn tests/data/lichess_sample.pgn
//
// Besides "no crash, no sanitizer report", each input checks invariants: every game is counted once
// (kept + dropped == games), a chunk cut at `[Event "` lines gives the same games as the whole, and
// every kept game's move tokens decode to legal moves.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "pgn/prep.h"
#include "tokenize/tokenizers.h"

namespace {

std::string_view g_input;  // the input being checked, written out when an invariant breaks

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "invariant broken: %s (input written to fuzz_pgn_failure.pgn)\n", what);
    if (std::FILE* f = std::fopen("fuzz_pgn_failure.pgn", "wb")) {
      std::fwrite(g_input.data(), 1, g_input.size(), f);
      std::fclose(f);
    }
    std::abort();
  }
}

void run_one(std::string_view text, uint8_t flags) {
  using namespace chess::pgn;
  g_input = text;
  PrepConfig cfg;
  cfg.tokenizer = TokenizerKind(flags % 3);
  cfg.keep_unfinished = flags & 4;
  cfg.keep_partial = flags & 8;
  cfg.allow_chess960 = flags & 16;
  cfg.max_elo = (flags & 32) ? 2000 : -1;
  PrepOutput whole = prep_chunk(cfg, text, false, 0);
  uint64_t dropped = 0;
  for (uint64_t d : whole.stats.dropped) dropped += d;
  check(dropped + whole.stats.kept == whole.stats.games, "kept + dropped == games");
  for (const SplitColumns& c : whole.split) {
    check(c.offsets.size() == c.white_elo.size() + 1, "one metadata row per game");
    if (cfg.tokenizer == TokenizerKind::kMove) {
      for (size_t g = 0; g + 1 < c.offsets.size(); ++g) {
        const auto d = chess::tokenize::decode_move(c.tokens16.data() + c.offsets[g],
                                                    size_t(c.offsets[g + 1] - c.offsets[g]));
        check(d.error.empty(), "kept move tokens decode");
      }
    }
  }
  // The same stream cut in two at a `[Event "` line where the sequential parse starts a game (it
  // does not when the game before is still in a tag section without an Event tag: docs/pgn.md).
  struct Starts : Visitor {
    std::vector<uint64_t> offsets;
    void begin_game(uint64_t offset) override { offsets.push_back(offset); }
  } starts;
  parse_buffer(text, starts);
  const size_t cut = text.find("\n[Event \"", text.size() / 2);
  if (cut != std::string_view::npos &&
      std::find(starts.offsets.begin(), starts.offsets.end(), cut + 1) != starts.offsets.end()) {
    PrepOutput a = prep_chunk(cfg, text.substr(0, cut + 1), true, 0);
    PrepOutput b = prep_chunk(cfg, text.substr(cut + 1), false, cut + 1);
    check(a.stats.games + b.stats.games == whole.stats.games, "chunking keeps the game count");
    check(a.stats.kept + b.stats.kept == whole.stats.kept, "chunking keeps the kept count");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  run_one(std::string_view(reinterpret_cast<const char*>(data) + 1, size - 1), data[0]);
  return 0;
}

#ifdef FUZZ_STANDALONE
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <vector>

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s ITERATIONS FILE_OR_DIR...\n", argv[0]);
    return 2;
  }
  const long iterations = std::atol(argv[1]);
  std::vector<std::string> corpus;
  for (int i = 2; i < argc; ++i) {
    std::vector<std::filesystem::path> files;
    if (std::filesystem::is_directory(argv[i])) {
      for (auto& e : std::filesystem::directory_iterator(argv[i])) files.push_back(e.path());
    } else {
      files.emplace_back(argv[i]);
    }
    for (auto& f : files) {
      std::ifstream in(f, std::ios::binary);
      std::stringstream ss;
      ss << in.rdbuf();
      corpus.push_back(ss.str());
    }
  }
  if (corpus.empty()) return 2;
  if (iterations == 0) {  // replay the files as they are, under every flag combination
    for (const std::string& c : corpus)
      for (int flags = 0; flags < 64; ++flags) run_one(c, uint8_t(flags));
    std::printf("fuzz_pgn: %zu files replayed\n", corpus.size());
    return 0;
  }
  std::mt19937_64 rng(20240501);
  const std::string alphabet = "[]{}()\";%$!?+#=-.0123456789abcdefghKQRBNPOoxZ@\n\r \t\\";
  for (long it = 0; it < iterations; ++it) {
    std::string s = corpus[rng() % corpus.size()];
    if (rng() % 4 == 0) s += corpus[rng() % corpus.size()];
    const int edits = 1 + int(rng() % 8);
    for (int e = 0; e < edits && !s.empty(); ++e) {
      const size_t pos = rng() % s.size();
      switch (rng() % 5) {
        case 0: s[pos] = alphabet[rng() % alphabet.size()]; break;
        case 1: s.insert(pos, 1, alphabet[rng() % alphabet.size()]); break;
        case 2: s.erase(pos, 1 + rng() % 16); break;
        case 3: s.resize(pos); break;  // truncation
        default: s[pos] = char(rng() & 0xff); break;
      }
    }
    s.insert(s.begin(), char(rng() & 0xff));
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(s.data()), s.size());
  }
  std::printf("fuzz_pgn: %ld inputs, no crash, invariants held\n", iterations);
  return 0;
}
#endif
