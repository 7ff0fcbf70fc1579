// Tests for the SAN replay layer and prep_chunk: the fast SAN resolver and writer against the core's
// try_parse_san / san on every legal move of random games (and on mangled tokens), replay of the
// quirk fixtures, chunk independence of prep_chunk, and a throughput print. From the repo root:
//   g++ -std=c++20 -O2 -march=native -Icpp cpp/core/*.cpp cpp/pgn/*.cpp cpp/tokenize/*.cpp \
//       cpp/tests/test_replay.cpp -o build/test_replay && build/test_replay
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "pgn/prep.h"
#include "pgn/replay.h"
#include "tests/check.h"

namespace fs = std::filesystem;
using namespace chess;
using namespace chess::pgn;

namespace {

const std::string kDir = "tests/data/pgn/";

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Every legal move of every position of random games: resolve_san(san(m)) == m and append_san ==
// san. Mangled spellings of the same tokens get the core's verdict.
void test_san_agreement() {
  std::mt19937 rng(12345);
  const char* fens[] = {
      Position::START_FEN, "r3k2r/p1ppqpb1/bn2pnp1/3PN3/1p2P3/2N2Q1p/PPPBBPPP/R3K2R w KQkq - 0 1",
      "8/2p5/3p4/KP5r/1R3p1k/8/4P1P1/8 w - - 0 1",
      "rnbq1k1r/pp1Pbppp/2p5/8/2B5/8/PPP1NnPP/RNBQK2R w KQ - 1 8", "n1n5/PPPk4/8/8/8/8/4Kppp/5N1N b - - 0 1"};
  int moves_checked = 0, mangled_checked = 0;
  for (const char* fen : fens) {
    for (int game = 0; game < 15; ++game) {
      Position pos = Position::from_fen(fen);
      for (int ply = 0; ply < 160; ++ply) {
        MoveList legal = pos.legal_moves();
        if (!legal.size()) break;
        for (Move m : legal) {
          const std::string san = pos.san(m);
          Move got;
          CHECK(resolve_san(pos, san, got) == ParseStatus::OK && got == m);
          BoardState next;
          make_move(pos.state(), pos.castling_info(), m, next);
          std::string fast;
          append_san(pos.state(), pos.castling_info(), m, next, fast);
          CHECK(fast == san);
          if (fast != san)
            std::fprintf(stderr, "  %s: core %s, fast %s\n", pos.fen().c_str(), san.c_str(), fast.c_str());
          ++moves_checked;
          // Mangled: drop check marks, drop disambiguation, add wrong files, lowercase promotions.
          std::string variants[] = {san.substr(0, san.find_first_of("+#")),
                                    san + "+",
                                    "N" + san,
                                    san.size() > 2 ? san.substr(1) : san,
                                    "x" + san,
                                    san + "=q",
                                    pos.uci(m)};
          for (const std::string& v : variants) {
            Move a, b;
            const ParseStatus sa = resolve_san(pos, v, a), sb = pos.try_parse_san(v, b);
            CHECK(sa == sb && (sa != ParseStatus::OK || a == b));
            ++mangled_checked;
          }
        }
        // Castling tokens in every position, legal or not (rights, blocked path, check, attacked
        // squares): the fast path must agree with the core.
        for (const char* v : {"O-O", "O-O-O", "0-0", "0-0-0", "O-O+", "O-O-O#", "o-o"}) {
          Move a, b;
          const ParseStatus sa = resolve_san(pos, v, a), sb = pos.try_parse_san(v, b);
          CHECK(sa == sb && (sa != ParseStatus::OK || a == b));
          ++mangled_checked;
        }
        pos.push(legal.moves[rng() % legal.size()]);
      }
    }
  }
  std::printf("  san agreement: %d moves, %d mangled tokens\n", moves_checked, mangled_checked);
}

struct Collect final : ReplayVisitor {
  Collect() : ReplayVisitor(ReplayOptions{true, true, true, true}) {}
  struct Game {
    std::vector<std::string> uci;
    ReplayError error;
    bool ok = true;
    std::string transcript;
    std::vector<float> clocks;
  };
  std::vector<Game> games;
  void finish(const GameInfo& info) override {
    Game g;
    Position p = start();
    for (Move m : moves()) {
      g.uci.push_back(p.uci(m));
      p.push(m);
    }
    g.error = error();
    g.ok = info.ok();
    g.transcript = transcript();
    g.clocks = clocks();
    games.push_back(g);
  }
};

Collect replay_file(const std::string& name) {
  Collect c;
  parse_file(kDir + name, c);
  return c;
}

void test_fixtures() {
  {
    auto c = replay_file("illegal_san_mid_game.pgn");
    CHECK(c.games.size() == 2);
    CHECK(c.games[0].uci.size() == 2 && c.games[0].error.code == ReplayCode::kIllegalSan);
    CHECK(c.games[0].error.ply == 2 && c.games[0].error.token == "Ke3");
    CHECK(c.games[1].uci.size() == 4 && c.games[1].error.code == ReplayCode::kAmbiguousSan);
    CHECK(c.games[1].error.token == "Nd2");
  }
  {
    auto c = replay_file("null_moves.pgn");
    CHECK(c.games.size() == 1 && c.games[0].uci.size() == 1);
    CHECK(c.games[0].error.code == ReplayCode::kNullMove && c.games[0].error.token == "--");
  }
  {
    auto c = replay_file("fen_setup_black_to_move.pgn");
    CHECK(c.games.size() == 1 && c.games[0].uci == (std::vector<std::string>{"c7c5", "g1f3", "d7d6"}));
  }
  {
    auto c = replay_file("chess960_shredder_fen.pgn");
    CHECK(c.games.size() == 1 && c.games[0].uci.size() == 16 && c.games[0].error.code == ReplayCode::kNone);
  }
  {
    auto c = replay_file("lichess_eval_clk.pgn");
    CHECK(!c.games.empty() && !c.games[0].clocks.empty() && c.games[0].clocks[0] == c.games[0].clocks[0]);
  }
  {
    auto c = replay_file("castling_forms.pgn");
    for (auto& g : c.games) CHECK(g.error.code == ReplayCode::kNone);
  }
  {
    auto c = replay_file("black_move_numbers.pgn");
    CHECK(!c.games.empty());
    CHECK(c.games[0].transcript.rfind(";1.", 0) == 0);
  }
}

// The replay against the core on random games with a probe token at the end of each: the replay
// keeps its own in-place position and tracks check move by move, so every replayed position must
// equal the core's, and every probe (legal or not: moves that ignore a check, pinned pieces, pawn
// pushes and captures, king steps) must get the core's verdict.
struct Probe final : ReplayVisitor {
  Probe() : ReplayVisitor(ReplayOptions{true, false, false, false}) {}
  struct Game {
    std::vector<Move> moves;
    ReplayError error;
    BoardState last;
  };
  std::vector<Game> games;
  void finish(const GameInfo&) override { games.push_back({moves(), error(), state()}); }
};

bool same_position(const BoardState& a, const BoardState& b) {
  return std::equal(std::begin(a.board), std::end(a.board), std::begin(b.board)) &&
         std::equal(std::begin(a.by_type), std::end(a.by_type), std::begin(b.by_type)) &&
         std::equal(std::begin(a.by_color), std::end(a.by_color), std::begin(b.by_color)) &&
         a.side == b.side && a.castling == b.castling && a.ep == b.ep && a.halfmove == b.halfmove &&
         a.fullmove == b.fullmove;
}

// A FEN tag with castling rights its position cannot have: the rights are dropped with a warning
// (fen_castling_dropped, non-fatal), and the game is replayed from the position without them.
void test_fen_castling_dropped() {
  struct Warnings final : ReplayVisitor {
    std::vector<std::string> fens, dropped;
    std::vector<size_t> plies;
    std::vector<bool> ok;
    void finish(const GameInfo& info) override {
      fens.push_back(start().fen());
      plies.push_back(moves().size());
      ok.push_back(info.ok() && !cut());
      std::string d;
      for (const ParseError& e : info.errors)
        if (e.code == ErrorCode::kFenCastlingDropped) d += std::string(e.token()) + ";";
      dropped.push_back(d);
    }
  } w;
  parse_file(kDir + "fen_impossible_castling.pgn", w);
  g_context = "fen castling dropped";
  CHECK(w.fens.size() == 2);
  if (w.fens.size() != 2) return;
  CHECK(w.fens[0] == "1rr3k1/p3ppbp/3pbnp1/7P/qP1BP1P1/5P2/1PPQ4/1NKR1B1R b - - 0 1");
  CHECK(w.dropped[0] == "Kq;" && w.plies[0] == 10 && w.ok[0]);
  CHECK(w.dropped[1] == "Q;" && w.plies[1] == 2 && w.ok[1]);
  CHECK(!is_fatal(ErrorCode::kFenCastlingDropped));
  // the next game, with no FEN tag, has no such warning
  parse_buffer("[Event \"x\"]\n\n1. e4 *\n", w);
  CHECK(w.dropped.size() == 3 && w.dropped[2].empty());
}

void test_replay_against_core() {
  std::mt19937 rng(777);
  const char* fens[] = {Position::START_FEN,
                        "r3k2r/p1ppqpb1/bn2pnp1/3PN3/1p2P3/2N2Q1p/PPPBBPPP/R3K2R w KQkq - 0 1",
                        "8/2p5/3p4/KP5r/1R3p1k/8/4P1P1/8 w - - 0 1",
                        "rnbq1k1r/pp1Pbppp/2p5/8/2B5/8/PPP1NnPP/RNBQK2R w KQ - 1 8",
                        "n1n5/PPPk4/8/8/8/8/4Kppp/5N1N b - - 0 1",
                        "r3k2r/8/8/8/3pPp2/8/8/R3K1RR b KQkq e3 0 1"};
  std::string text;
  struct Expect {
    std::vector<Move> moves;
    ParseStatus probe;
    Move probe_move;
    BoardState last;
  };
  std::vector<Expect> expect;
  // Probes, fully disambiguated (`Nb1c3`, `e2e4` as `e4`, `exd5`): every pseudo-legal move of the
  // side to move (legal or not) in each position in check, a few in other positions.
  auto probes_of = [&](const Position& pos) {
    const BoardState& s = pos.state();
    const Color us = s.side;
    std::vector<std::string> out;
    for (Bitboard b = s.pieces(us); b;) {
      const int from = pop_lsb(b);
      const PieceType pt = type_of(s.board[from]);
      Bitboard targets = 0;
      if (pt == PAWN) {
        const int up = us == WHITE ? 8 : -8;
        if (from + up >= 0 && from + up < 64 && !(s.pieces() & bb(from + up))) targets |= bb(from + up);
        targets |= pawn_attacks(us, from) & (s.pieces(~us) | (s.ep != SQ_NONE ? bb(s.ep) : 0));
      } else {
        targets = (pt == KNIGHT   ? knight_attacks(from)
                   : pt == BISHOP ? bishop_attacks(from, s.pieces())
                   : pt == ROOK   ? rook_attacks(from, s.pieces())
                   : pt == QUEEN  ? queen_attacks(from, s.pieces())
                                  : king_attacks(from)) &
                  ~s.pieces(us);
      }
      for (; targets;) {
        const int to = pop_lsb(targets);
        const bool capture = (s.pieces(~us) & bb(to)) || (pt == PAWN && to == s.ep);
        std::string t;
        if (pt == PAWN) {
          t = capture ? std::string{char('a' + file_of(from)), 'x'} + square_name(to) : square_name(to);
          if (relative_rank(us, rank_of(to)) == 7) t += "=Q";
        } else {
          t = std::string(1, " PNBRQK"[pt]) + square_name(from) + (capture ? "x" : "") + square_name(to);
        }
        out.push_back(t);
      }
    }
    return out;
  };
  for (const char* fen : fens) {
    for (int game = 0; game < 60; ++game) {
      Position pos = Position::from_fen(fen);
      std::string movetext;
      std::vector<Move> played;
      const int plies = int(rng() % 120);
      for (int ply = 0; ply <= plies; ++ply) {
        std::vector<std::string> probes = probes_of(pos);
        std::shuffle(probes.begin(), probes.end(), rng);
        probes.resize(std::min<size_t>(probes.size(), pos.is_check() ? 12 : rng() % 8 == 0 ? 2 : 0));
        for (const std::string& probe : probes) {
          Expect e;
          e.moves = played;
          e.probe = pos.try_parse_san(probe, e.probe_move);
          Position after = pos;
          if (e.probe == ParseStatus::OK) {
            e.moves.push_back(e.probe_move);
            after.push(e.probe_move);
          }
          e.last = after.state();
          expect.push_back(e);
          text += std::string("[Event \"probe\"]\n[FEN \"") + fen + "\"]\n\n" + movetext + probe + " *\n\n";
        }
        MoveList legal = pos.legal_moves();
        if (!legal.size() || ply == plies) break;
        const Move m = legal.moves[rng() % legal.size()];
        movetext += pos.san(m) + ' ';
        played.push_back(m);
        pos.push(m);
      }
    }
  }
  Probe probe;
  parse_buffer(text, probe);
  CHECK(probe.games.size() == expect.size());
  int mismatches = 0;
  for (size_t i = 0; i < std::min(probe.games.size(), expect.size()); ++i) {
    const auto& g = probe.games[i];
    const auto& e = expect[i];
    const bool ok =
        g.moves == e.moves && same_position(g.last, e.last) &&
        (e.probe == ParseStatus::OK ? g.error.code == ReplayCode::kNone
                                    : g.error.code != ReplayCode::kNone && g.error.ply == e.moves.size());
    if (!ok && ++mismatches <= 5) std::fprintf(stderr, "  probe game %zu differs from the core\n", i);
    CHECK(ok);
  }
  std::printf("  replay against core: %zu probe games\n", expect.size());
}

// prep_chunk gives the same output whatever the chunking at `[Event "` lines.
void test_chunk_independence() {
  std::string text;
  for (auto& e : fs::directory_iterator(kDir))
    if (e.path().extension() == ".pgn" && e.path().filename().string().rfind("truncated", 0) != 0)
      text += read_file(e.path().string()) + "\n";
  PrepConfig cfg;
  cfg.keep_unfinished = true;
  for (auto kind : {TokenizerKind::kChar, TokenizerKind::kMove, TokenizerKind::kFen}) {
    cfg.tokenizer = kind;
    PrepOutput whole = prep_chunk(cfg, text, false, 0);
    CHECK(whole.stats.kept > 10);
    uint64_t dropped = 0;
    for (auto d : whole.stats.dropped) dropped += d;
    CHECK(dropped + whole.stats.kept == whole.stats.games);
    // Cut at every `\n[Event "`.
    std::vector<size_t> cuts{0};
    for (size_t p = text.find("\n[Event \""); p != std::string::npos; p = text.find("\n[Event \"", p + 1))
      cuts.push_back(p + 1);
    cuts.push_back(text.size());
    std::vector<uint64_t> hashes;
    std::vector<int64_t> offs;
    uint64_t games = 0;
    for (size_t i = 0; i + 1 < cuts.size(); ++i) {
      if (cuts[i] == cuts[i + 1]) continue;
      PrepOutput part = prep_chunk(cfg, std::string_view(text).substr(cuts[i], cuts[i + 1] - cuts[i]),
                                   i + 2 < cuts.size(), cuts[i]);
      games += part.stats.games;
      for (int s = 0; s < 2; ++s)
        for (size_t g = 0; g < part.split[s].n_games(); ++g) {
          hashes.push_back(part.split[s].game_hash[g]);
          offs.push_back(part.split[s].byte_offset[g]);
        }
    }
    std::vector<uint64_t> whole_hashes;
    std::vector<int64_t> whole_offs;
    for (int s = 0; s < 2; ++s)
      for (size_t g = 0; g < whole.split[s].n_games(); ++g) {
        whole_hashes.push_back(whole.split[s].game_hash[g]);
        whole_offs.push_back(whole.split[s].byte_offset[g]);
      }
    std::sort(hashes.begin(), hashes.end());
    std::sort(whole_hashes.begin(), whole_hashes.end());
    std::sort(offs.begin(), offs.end());
    std::sort(whole_offs.begin(), whole_offs.end());
    CHECK(games == whole.stats.games);
    CHECK(hashes == whole_hashes);
    CHECK(offs == whole_offs);
  }
}

void bench() {
  // Lichess-format text: the committed sample if present, else the quirk fixture.
  std::string one = read_file("tests/data/lichess_sample.pgn");
  if (one.empty()) one = read_file(kDir + "lichess_sample.pgn");
  std::string text;
  while (text.size() < (size_t(16) << 20)) text += one + "\n";
  for (auto kind : {TokenizerKind::kMove, TokenizerKind::kChar, TokenizerKind::kFen}) {
    PrepConfig cfg;
    cfg.tokenizer = kind;
    cfg.keep_unfinished = true;
    const auto t0 = std::chrono::steady_clock::now();
    PrepOutput out = prep_chunk(cfg, text, false, 0);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("  prep_chunk %s: %.0f MB/s, %.2fM plies/s (%llu games, %llu kept)\n",
                kind == TokenizerKind::kMove   ? "move"
                : kind == TokenizerKind::kChar ? "char"
                                               : "fen",
                double(text.size()) / s / 1e6, double(out.stats.plies_replayed) / s / 1e6,
                (unsigned long long)out.stats.games, (unsigned long long)out.stats.kept);
  }
}

}  // namespace

// prep_chunk over a chunk given in pieces gives exactly the output of the whole chunk: the parser
// reads pieces in place (ChunkSource::lend) and what straddles a piece end through its buffer,
// wherever the pieces end (mid-token, mid-comment, mid-tag).
void test_chunk_pieces() {
  std::string text;
  for (auto& e : fs::directory_iterator(kDir))
    if (e.path().extension() == ".pgn") text += read_file(e.path().string()) + "\n";
  auto same = [](const PrepOutput& a, const PrepOutput& b) {
    for (int s = 0; s < 2; ++s) {
      const SplitColumns &x = a.split[s], &y = b.split[s];
      if (x.tokens8 != y.tokens8 || x.tokens16 != y.tokens16 || x.offsets != y.offsets ||
          x.white_elo != y.white_elo || x.black_elo != y.black_elo || x.result != y.result ||
          x.tc_base != y.tc_base || x.tc_inc != y.tc_inc || x.time_class != y.time_class ||
          x.termination != y.termination || x.plies != y.plies || x.byte_offset != y.byte_offset ||
          x.game_hash != y.game_hash || x.ordinal != y.ordinal)
        return false;
    }
    const PrepStats &x = a.stats, &y = b.stats;
    return x.bytes == y.bytes && x.games == y.games && x.kept == y.kept &&
           x.plies_replayed == y.plies_replayed && x.plies_kept == y.plies_kept &&
           x.tokens_kept == y.tokens_kept && x.dropped == y.dropped && x.parse_errors == y.parse_errors &&
           x.replay_errors == y.replay_errors;
  };
  PrepConfig cfg;
  cfg.keep_unfinished = true;
  cfg.keep_partial = true;
  size_t checked = 0;
  for (auto kind : {TokenizerKind::kChar, TokenizerKind::kMove, TokenizerKind::kFen})
    for (bool more : {false, true}) {
      cfg.tokenizer = kind;
      const PrepOutput whole = prep_chunk(cfg, text, more, 5);
      CHECK(whole.stats.kept > 10);
      const std::string_view t(text);
      for (size_t first : {size_t(0), size_t(1), size_t(7), size_t(100), size_t(1000), size_t(4097),
                           size_t(65537), t.size() / 3, t.size() / 2 + 11, t.size() - 1, t.size()}) {
        first = std::min(first, t.size());
        CHECK(same(whole, prep_chunk(cfg, {t.substr(0, first), t.substr(first)}, more, 5)));
        // The rest in small pieces too.
        std::vector<std::string_view> parts{t.substr(0, first)};
        for (size_t p = first; p < t.size(); p += 333) parts.push_back(t.substr(p, 333));
        CHECK(same(whole, prep_chunk(cfg, parts, more, 5)));
        // Large pieces of uneven sizes, empty ones among them.
        parts.assign(1, t.substr(0, first));
        for (size_t p = first, k = 0; p < t.size(); ++k) {
          const size_t n = std::min(t.size() - p, k % 5 == 4 ? size_t(0) : 20000 + 7919 * (k % 3));
          parts.push_back(t.substr(p, n));
          p += n;
        }
        CHECK(same(whole, prep_chunk(cfg, parts, more, 5)));
        checked += 3;
      }
    }
  std::printf("  chunk pieces: %zu splits\n", checked);
}

int main() {
  if (!fs::exists(kDir)) {
    std::fprintf(stderr, "run from the repository root (%s not found)\n", kDir.c_str());
    return 2;
  }
  test_san_agreement();
  test_fixtures();
  test_fen_castling_dropped();
  test_replay_against_core();
  test_chunk_independence();
  test_chunk_pieces();
  bench();
  return report();
}
