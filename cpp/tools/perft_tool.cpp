// Standalone perft: perft_tool "FEN" DEPTH [--divide] [--960]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "core/position.h"

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s FEN DEPTH [--divide] [--960]\n", argv[0]);
    return 2;
  }
  bool divide = false, c960 = false;
  for (int i = 3; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--divide")) divide = true;
    if (!std::strcmp(argv[i], "--960")) c960 = true;
  }
  try {
    const std::string fen = std::strcmp(argv[1], "startpos") ? argv[1] : chess::Position::START_FEN;
    chess::Position pos = chess::Position::from_fen(fen, c960);
    const int depth = std::atoi(argv[2]);
    auto t0 = std::chrono::steady_clock::now();
    uint64_t total = 0;
    if (divide && depth > 0) {
      for (chess::Move m : pos.legal_moves()) {
        chess::BoardState next;
        chess::make_move(pos.state(), pos.castling_info(), m, next);
        uint64_t n = chess::perft(next, pos.castling_info(), depth - 1);
        std::printf("%s: %llu\n", pos.uci(m).c_str(), (unsigned long long)n);
        total += n;
      }
    } else {
      total = chess::perft(pos.state(), pos.castling_info(), depth);
    }
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("nodes: %llu\nnps: %.0f\n", (unsigned long long)total, secs > 0 ? total / secs : 0.0);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
