// C++-only tests of the chess core (no Python): perft counts from tests/data/perft.txt, FEN round
// trips and validation, SAN/UCI parsing and output. Run from the repository root.
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "core/bitboard.h"
#include "core/position.h"
#include "core/vocab.h"

using namespace chess;

namespace {
int passed = 0, failed = 0;

void check(bool ok, const std::string& what) {
  if (ok) {
    ++passed;
  } else {
    ++failed;
    std::printf("FAIL: %s\n", what.c_str());
  }
}

void test_perft_file(uint64_t max_nodes) {
  std::ifstream in("tests/data/perft.txt");
  check(bool(in), "tests/data/perft.txt opens (run from the repository root)");
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const size_t semi = line.find(" ;");
    const std::string fen = line.substr(0, semi);
    Position pos = Position::from_fen(fen);
    std::istringstream rest(line.substr(semi));
    std::string tok;
    while (rest >> tok) {
      if (tok.rfind(";D", 0) != 0) continue;
      const int depth = std::stoi(tok.substr(2));
      uint64_t expected;
      rest >> expected;
      if (expected > max_nodes) continue;
      const uint64_t got = perft(pos.state(), pos.castling_info(), depth);
      check(got == expected, "perft " + fen + " depth " + std::to_string(depth) + ": got " +
                                 std::to_string(got) + ", expected " + std::to_string(expected));
    }
  }
}

void test_fen() {
  for (const char* fen :
       {Position::START_FEN, "r3k2r/p1ppqpb1/bn2pnp1/3PN3/1p2P3/2N2Q1p/PPPBBPPP/R3K2R w KQkq - 0 1",
        "8/8/8/8/8/8/8/K1k5 b - - 12 80"}) {
    check(Position::from_fen(fen).fen() == fen, std::string("FEN round trip ") + fen);
  }
  check(Position::from_fen("8/8/8/8/8/8/8/K1k5 w").fen() == "8/8/8/8/8/8/8/K1k5 w - - 0 1",
        "missing clocks default");
  struct Bad {
    const char* fen;
    const char* rule;
  };
  for (Bad b : {Bad{"8/8/8/8/8/8/8 w - - 0 1", "ranks"},
                Bad{"rnbqkbnr/pppppppp/44/8/8/8/PPPPPPPP/RNBQKBNR w", "two adjacent"},
                Bad{"rnbqkbnr/pppppppp/8/8/8/8/PPPPPPPP/RNBQKBNR x", "side to move"},
                Bad{"rnbqkbnr/pppppppp/8/8/8/8/PPPPPPPP/RNBQKBNX w", "invalid character"},
                Bad{"8/8/8/8/8/8/8/K7 w - - 0 1", "kings"},
                Bad{"P7/8/8/8/8/8/8/K1k5 w - - 0 1", "first or last rank"},
                Bad{"rnbqkbnr/pppppppp/8/8/8/8/PPPPPPPP/RNBQKBNR w KQkq e3 0 1", "en passant"},
                Bad{"rnbqkbnr/pppppppp/8/8/8/8/PPPPPPPP/RNBQKBN1 w KQkq - 0 1", "castling right 'K'"},
                Bad{"k7/8/8/8/8/8/8/K6r w - - 0 1 7", "more than 6"},
                Bad{"k7/8/8/8/8/8/8/R6K w - - 0 1", "not to move"},
                Bad{"k7/8/8/8/8/8/8/K7 w - - -1 1", "halfmove"}}) {
    try {
      Position::from_fen(b.fen);
      check(false, std::string("FEN should be rejected: ") + b.fen);
    } catch (const FenError& e) {
      const std::string msg = e.what();
      check(msg.find(b.rule) != std::string::npos && msg.find(b.fen) != std::string::npos,
            std::string("error for ") + b.fen + " names '" + b.rule + "': " + msg);
    }
  }
}

// A FEN whose castling rights the position cannot have (a real Lichess study): rejected as given,
// read without those rights when the caller asks for that (the PGN replay does).
void test_fen_impossible_castling() {
  const std::string fen = "1rr3k1/p3ppbp/3pbnp1/7P/qP1BP1P1/5P2/1PPQ4/1NKR1B1R b Kq - 0 1";
  try {
    Position::from_fen(fen);
    check(false, "impossible castling rights should be rejected by default");
  } catch (const FenError& e) {
    check(std::string(e.what()).find("castling right 'K'") != std::string::npos, e.what());
  }
  std::string dropped;
  const Position p = Position::from_fen(fen, false, &dropped);
  check(dropped == "Kq", "dropped rights: " + dropped);
  check(p.fen() == "1rr3k1/p3ppbp/3pbnp1/7P/qP1BP1P1/5P2/1PPQ4/1NKR1B1R b - - 0 1", "cleaned: " + p.fen());
  dropped.clear();
  const Position q = Position::from_fen("r3k2r/8/8/8/8/8/8/4K2R w KQkq - 0 1", false, &dropped);
  check(dropped == "Q" && q.fen() == "r3k2r/8/8/8/8/8/8/4K2R w Kkq - 0 1", "one right of four: " + q.fen());
  dropped.clear();
  try {  // a malformed castling field is still an error, not an impossible right
    Position::from_fen("r3k2r/8/8/8/8/8/8/4K2R w KX - 0 1", false, &dropped);
    check(false, "invalid castling character should be rejected");
  } catch (const FenError&) {
  }
}

void test_san() {
  Position p;
  const std::vector<std::pair<const char*, const char*>> game = {
      {"e4", "e2e4"}, {"e5", "e7e5"},  {"Ng1f3", "g1f3"}, {"Nc6", "b8c6"},  {"Bb5", "f1b5"},
      {"a6", "a7a6"}, {"0-0", "e1g1"}, {"Nf6!?", "g8f6"}, {"Re1$1", "f1e1"}};
  for (auto [san, uci] : game) {
    Move m;
    check(p.try_parse_san(san, m) == ParseStatus::OK && p.uci(m) == uci, std::string("SAN ") + san);
    p.push(m);
  }
  Move m;
  check(p.try_parse_san("--", m) == ParseStatus::NULL_MOVE, "null move --");
  check(p.try_parse_san("Qh4", m) == ParseStatus::ILLEGAL, "illegal SAN");
  check(p.try_parse_san("N5", m) == ParseStatus::INVALID, "invalid SAN");
  // Ambiguity and its output: knights on b1 and f3 both reach d2 after d3 is gone.
  Position q = Position::from_fen("4k3/8/8/8/8/5N2/8/1N2K3 w - - 0 1");
  check(q.try_parse_san("Nd2", m) == ParseStatus::AMBIGUOUS, "ambiguous SAN");
  check(q.try_parse_san("Nbd2", m) == ParseStatus::OK && q.san(m) == "Nbd2", "file disambiguation");
  Position r = Position::from_fen("4k3/8/8/8/8/8/4p3/3RK3 b - - 0 1");
  check(r.try_parse_san("exd1Q+", m) == ParseStatus::OK && r.san(m) == "exd1=Q+",
        "promotion capture with check");
  check(r.try_parse_san("exd1=n", m) == ParseStatus::OK && r.san(m) == "exd1=N", "lowercase underpromotion");
  Position mate = Position::from_fen("6k1/5ppp/8/8/8/8/8/R5K1 w - - 0 1");
  check(mate.try_parse_san("Ra8", m) == ParseStatus::OK && mate.san(m) == "Ra8#", "mate suffix");
}

// The packed (16-bit, PDEP) slider tables give the plain tables' attack sets, and has_legal_move's
// king-step shortcut agrees with the full count, over random occupancies and random playouts.
void test_packed_attacks_and_has_legal_move() {
  uint64_t x = 0x9E3779B97F4A7C15ULL;
  auto next = [&x] {
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    return x * 2685821657736338717ULL;
  };
  int bad = 0;
  for (int i = 0; i < 20000; ++i) {
    const Bitboard occ = next() & next();
    const int sq = int(next() % 64);
    bad += packed_rook_attacks(sq, occ) != rook_attacks(sq, occ);
    bad += packed_bishop_attacks(sq, occ) != bishop_attacks(sq, occ);
  }
  check(bad == 0, "packed slider attacks equal the plain ones");
  int positions = 0, mismatches = 0, checks = 0, mates = 0;
  for (int game = 0; game < 300; ++game) {
    Position p;
    for (int ply = 0; ply < 300; ++ply) {
      const int n = p.count_legal();
      ++positions;
      checks += p.is_check();
      mismatches += has_legal_move(p.state(), p.castling_info()) != (n > 0);
      if (n == 0) {
        mates += p.is_check();
        break;
      }
      const MoveList moves = p.legal_moves();
      p.push(moves.moves[next() % uint64_t(n)]);
    }
  }
  check(mismatches == 0,
        "has_legal_move agrees with count_legal on " + std::to_string(positions) + " positions");
  check(checks > 100 && mates > 0, "random playouts reached checks and mates");
}

void test_vocab() {
  check(vocab::id_of(SQ_A1, SQ_B1) == 0, "first vocabulary id");
  check(vocab::uci_of(vocab::NUM_MOVES - 1) == "h7h8q", "last vocabulary id");
  int promos = 0;
  for (int i = 0; i < vocab::NUM_MOVES; ++i) promos += vocab::entry(i).promotion != NO_PIECE_TYPE;
  check(promos == 176, "176 promotions");
}
}  // namespace

int main(int argc, char** argv) {
  const uint64_t max_nodes = argc > 1 ? std::stoull(argv[1]) : 5'000'000ULL;
  try {
    test_perft_file(max_nodes);
    test_fen();
    test_fen_impossible_castling();
    test_san();
    test_packed_attacks_and_has_legal_move();
    test_vocab();
  } catch (const std::exception& e) {
    check(false, std::string("unexpected exception: ") + e.what());
  }
  std::printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
