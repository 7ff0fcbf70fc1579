// Tests for the streaming PGN parser: one check per fixture in tests/data/pgn (named after the quirk it
// covers), chunk-boundary independence, generated pathological inputs, a mutation smoke test and a
// throughput print. Run from the repository root:
//   g++ -std=c++20 -O2 -Wall -Wextra -Icpp cpp/pgn/*.cpp cpp/tests/test_pgn.cpp -o build/test_pgn &&
//   build/test_pgn
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "pgn/pgn_parser.h"
#include "tests/check.h"

namespace fs = std::filesystem;
using namespace chess::pgn;

namespace {

// ---- Recording visitor --------------------------------------------------------------------------

struct Game {
  uint64_t offset = 0;
  std::vector<std::pair<std::string, std::string>> tags;
  std::vector<std::string> sans;
  std::vector<std::pair<uint32_t, std::string>> comments;
  std::vector<std::pair<uint32_t, int>> nags;
  std::string result_token;
  GameInfo info;

  std::string tag(const std::string& name) const {
    for (auto& [k, v] : tags)
      if (k == name) return v;
    return "<missing>";
  }
  std::vector<ErrorCode> codes() const {
    std::vector<ErrorCode> c;
    for (auto& e : info.errors) c.push_back(e.code);
    return c;
  }
};

// Records every event both as structured games and as one flat log, so two parses can be compared.
class Recorder : public Visitor {
 public:
  explicit Recorder(bool skip = false) : skip_(skip) {}
  std::vector<Game> games;
  std::string log;

  void begin_game(uint64_t off) override {
    games.emplace_back().offset = off;
    log += "B " + std::to_string(off) + "\n";
  }
  void tag(std::string_view n, std::string_view v) override {
    games.back().tags.emplace_back(n, v);
    log += "T " + std::string(n) + "=" + std::string(v) + "\n";
  }
  bool end_tags() override {
    log += "E\n";
    return skip_;
  }
  void san(std::string_view t, uint32_t ply) override {
    CHECK(ply == games.back().sans.size());
    games.back().sans.emplace_back(t);
    log += "S " + std::to_string(ply) + " " + std::string(t) + "\n";
  }
  void comment(std::string_view t, uint32_t ply) override {
    games.back().comments.emplace_back(ply, std::string(t));
    log += "C " + std::to_string(ply) + " " + std::string(t) + "\n";
  }
  void nag(int n, uint32_t ply) override {
    games.back().nags.emplace_back(ply, n);
    log += "N " + std::to_string(ply) + " " + std::to_string(n) + "\n";
  }
  void result(std::string_view t) override {
    games.back().result_token = std::string(t);
    log += "R " + std::string(t) + "\n";
  }
  void end_game(const GameInfo& info) override {
    games.back().info = info;
    char line[160];
    std::snprintf(line, sizeof line,
                  "G off=%llu end=%llu plies=%u null=%d res=%d/%d/%d src=%d trunc=%d skip=%d nerr=%u\n",
                  (unsigned long long)info.offset, (unsigned long long)info.end_offset, info.plies,
                  info.first_null_ply, int(info.result), int(info.result_tag), int(info.result_token),
                  int(info.result_source), info.truncated, info.skipped, info.n_errors);
    log += line;
    for (auto& e : info.errors) {
      log += "  err " + std::string(error_name(e.code)) + " ply=" + std::to_string(e.ply) +
             " off=" + std::to_string(e.offset) + " tok=" + std::string(e.token()) + "\n";
    }
  }

 private:
  bool skip_;
};

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

const std::string kDir = "tests/data/pgn/";

struct Parsed {
  std::vector<Game> games;
  std::string log;
  StreamStats stats;
};

Parsed parse_str(const std::string& data, size_t chunk = SIZE_MAX, const ParserOptions& opts = {},
                 bool skip = false) {
  Recorder rec(skip);
  MemorySource src(data, chunk);
  Parser parser(opts);
  StreamStats st = parser.parse(src, rec);
  return {std::move(rec.games), std::move(rec.log), st};
}

Parsed parse_fixture(const std::string& name) {
  g_context = name;
  return parse_str(read_file(kDir + name));
}

using Sans = std::vector<std::string>;
using Codes = std::vector<ErrorCode>;

bool no_errors(const Game& g) { return g.info.n_errors == 0 && g.info.ok(); }

// ---- Fixtures (one per row of docs/pgn.md "Behaviour per quirk") ---------------------------------

std::map<std::string, std::function<void()>> fixture_tests() {
  std::map<std::string, std::function<void()>> t;

  t["utf8_bom.pgn"] = [] {  // row 1
    auto p = parse_fixture("utf8_bom.pgn");
    CHECK(p.games.size() == 1);
    CHECK(p.games[0].offset == 3);
    CHECK(p.games[0].tag("Event") == "BOM");
    CHECK(p.games[0].sans == (Sans{"e4", "e5", "Qh5", "Nc6", "Bc4", "Nf6", "Qxf7#"}));
    CHECK(p.games[0].result_token == "1-0");
    CHECK(no_errors(p.games[0]));
    CHECK(p.stats.prose_lines == 0);
  };
  t["crlf_line_endings.pgn"] = [] {  // row 2
    auto p = parse_fixture("crlf_line_endings.pgn");
    CHECK(p.games.size() == 2);
    CHECK(p.games[0].tag("Event") == "CRLF 1");
    CHECK(p.games[0].tag("Site") == "?");
    CHECK(p.games[0].sans == (Sans{"f3", "e5", "g4", "Qh4#"}));
    CHECK(p.games[1].sans == (Sans{"d4", "d5", "c4"}));
    CHECK(p.games[1].comments.size() == 1 && p.games[1].comments[0].first == 2 &&
          p.games[1].comments[0].second == "a comment\r\nover two lines");
    CHECK(p.games[1].info.result == Result::kDraw);
    CHECK(no_errors(p.games[0]) && no_errors(p.games[1]));
  };
  t["latin1_names.pgn"] = [] {  // row 3
    auto p = parse_fixture("latin1_names.pgn");
    CHECK(p.games.size() == 1);
    CHECK(p.games[0].tag("Event") == "Championnat r\xe9gional");
    CHECK(p.games[0].tag("White") ==
          "M\xfc"
          "ller, J\xfc"
          "rgen");
    CHECK(p.games[0].tag("Black") ==
          "Gonz\xe1lez, Mar\xed"
          "a");
    CHECK(p.games[0].comments.size() == 1 && p.games[0].comments[0].second == "bon coup \xe0 jouer");
    CHECK(p.games[0].sans.size() == 4);
    CHECK(no_errors(p.games[0]));
  };
  t["escaped_quote_in_tag.pgn"] = [] {  // row 4
    auto p = parse_fixture("escaped_quote_in_tag.pgn");
    CHECK(p.games.size() == 3);
    CHECK(p.games[0].tag("Event") == "The \"Big\" Open");
    CHECK(p.games[0].tag("Site") == "C:\\games\\pgn");
    CHECK(p.games[0].tag("Annotator") == "back\\slash");
    CHECK(no_errors(p.games[0]));
    CHECK(p.games[1].tag("Event") == "5th \"X\" Open");
    CHECK(p.games[1].codes() == (Codes{ErrorCode::kTagQuoteRecovered}));
    CHECK(p.games[1].info.ok());
    CHECK(p.games[1].sans == (Sans{"d4", "d5"}));
    CHECK(no_errors(p.games[2]));
  };
  t["special_chars_in_tag_value.pgn"] = [] {  // row 5
    auto p = parse_fixture("special_chars_in_tag_value.pgn");
    CHECK(p.games.size() == 1);
    CHECK(p.games[0].tag("Event") == "Match ] (round 1) ; {live} [x]");
    CHECK(p.games[0].tag("Site") == "a;b % c");
    CHECK(p.games[0].sans == (Sans{"e4"}));
    CHECK(no_errors(p.games[0]));
  };
  t["unknown_elo_timecontrol.pgn"] = [] {  // row 6
    auto p = parse_fixture("unknown_elo_timecontrol.pgn");
    CHECK(p.games.size() == 2);
    const Game& g = p.games[0];
    CHECK(!parse_int_tag(g.tag("WhiteElo")) && !parse_int_tag(g.tag("BlackElo")));
    CHECK(g.tag("ECO") == "?");
    CHECK(!parse_time_control(g.tag("TimeControl")));
    CHECK(p.games[1].tag("WhiteElo") == "<missing>");
    auto tc = parse_time_control(p.games[1].tag("TimeControl"));
    CHECK(tc && tc->base_seconds == 300 && tc->increment_seconds == 3);
    CHECK(no_errors(p.games[0]) && no_errors(p.games[1]));
  };
  t["blank_line_in_tags.pgn"] = [] {  // row 7
    auto p = parse_fixture("blank_line_in_tags.pgn");
    CHECK(p.games.size() == 1);
    CHECK(p.games[0].tags.size() == 5);
    CHECK(p.games[0].tag("Black") == "B");
    CHECK(p.games[0].sans == (Sans{"e4"}));
    CHECK(no_errors(p.games[0]));
  };
  t["no_blank_line_before_next_game.pgn"] = [] {  // row 8
    auto p = parse_fixture("no_blank_line_before_next_game.pgn");
    CHECK(p.games.size() == 3);
    CHECK(p.games[0].sans == (Sans{"e4", "e5"}) && no_errors(p.games[0]));
    CHECK(p.games[1].tag("Event") == "G2");
    CHECK(p.games[1].sans == (Sans{"d4", "d5"}));
    CHECK(p.games[1].codes() == (Codes{ErrorCode::kMissingResult}));
    CHECK(p.games[1].info.result == Result::kBlackWins &&
          p.games[1].info.result_source == ResultSource::kTag);
    CHECK(p.games[2].tag("Event") == "G3" && p.games[2].sans == (Sans{"c4"}));
  };
  t["no_blank_line_after_tags.pgn"] = [] {  // row 9
    auto p = parse_fixture("no_blank_line_after_tags.pgn");
    CHECK(p.games.size() == 2);
    CHECK(p.games[0].sans == (Sans{"e4", "e5", "Nf3"}));
    CHECK(p.games[1].tag("Event") == "One line" && p.games[1].tag("Result") == "0-1");
    CHECK(p.games[1].sans == (Sans{"d4", "Nf6"}));
    CHECK(p.games[1].result_token == "0-1");
    CHECK(no_errors(p.games[0]) && no_errors(p.games[1]));
  };
  t["missing_or_disagreeing_result.pgn"] = [] {  // row 10
    auto p = parse_fixture("missing_or_disagreeing_result.pgn");
    CHECK(p.games.size() == 4);
    const GameInfo &a = p.games[0].info, &b = p.games[1].info, &c = p.games[2].info, &d = p.games[3].info;
    CHECK(p.games[0].codes() == (Codes{ErrorCode::kMissingResult}));
    CHECK(a.result == Result::kWhiteWins && a.result_source == ResultSource::kTag && a.ok());
    CHECK(p.games[1].codes() == (Codes{ErrorCode::kResultMismatch}));
    CHECK(b.result == Result::kWhiteWins && b.result_source == ResultSource::kTag &&
          b.result_token == Result::kBlackWins);
    CHECK(c.n_errors == 0 && c.result == Result::kDraw && c.result_source == ResultSource::kToken &&
          c.result_tag == Result::kNone);
    CHECK(p.games[3].codes() == (Codes{ErrorCode::kResultMismatch}));
    CHECK(d.result == Result::kWhiteWins && d.result_token == Result::kUnfinished);
  };
  t["no_result_tag.pgn"] = [] {  // the termination marker is the result (read_games: headers)
    auto p = parse_fixture("no_result_tag.pgn");
    CHECK(p.games.size() == 4);
    if (p.games.size() != 4) return;
    const GameInfo &a = p.games[0].info, &b = p.games[1].info, &c = p.games[2].info, &d = p.games[3].info;
    CHECK(no_errors(p.games[0]) && a.result == Result::kWhiteWins && a.result_source == ResultSource::kToken);
    CHECK(p.games[1].codes() == (Codes{ErrorCode::kMissingResult}) && b.result == Result::kNone);
    CHECK(c.result == Result::kUnfinished && c.result_source == ResultSource::kToken);
    CHECK(d.result == Result::kDraw && d.result_tag == Result::kDraw && d.result_token == Result::kDraw);
  };
  t["fen_impossible_castling.pgn"] = [] {  // the replay's business: the parser sees plain tags
    auto p = parse_fixture("fen_impossible_castling.pgn");
    CHECK(p.games.size() == 2);
    if (p.games.size() != 2) return;
    CHECK(no_errors(p.games[0]) && p.games[0].sans.size() == 10 && p.games[0].sans[0] == "Rxb4");
    CHECK(no_errors(p.games[1]) && p.games[1].sans == (Sans{"O-O", "O-O-O"}));
  };
  t["empty_games.pgn"] = [] {  // row 11
    auto p = parse_fixture("empty_games.pgn");
    CHECK(p.games.size() == 6);
    if (p.games.size() != 6) return;
    const char* results[] = {"*", "0-1", "*", "*", "", "1/2-1/2"};
    for (int i = 0; i < 6; ++i) {
      const Game& g = p.games[i];
      CHECK(g.tag("Event") == std::string(1, 'E') + char('1' + i));
      CHECK(g.sans.empty() && g.info.plies == 0);
      CHECK(g.result_token == results[i]);
      CHECK(i == 4 ? g.codes() == Codes{ErrorCode::kMissingResult} : no_errors(g));
      CHECK(g.info.ok());
    }
    CHECK(p.games[4].info.result == Result::kWhiteWins);
  };
  t["truncated_mid_move.pgn"] = [] {  // row 12
    auto p = parse_fixture("truncated_mid_move.pgn");
    CHECK(p.games.size() == 2);
    CHECK(no_errors(p.games[0]));
    CHECK(p.games[1].sans == (Sans{"e4", "e5", "Nf"}));
    CHECK(p.games[1].info.truncated && !p.games[1].info.ok());
    CHECK(p.games[1].codes() == (Codes{ErrorCode::kEofInMovetext}));
    CHECK(p.games[1].info.result_source == ResultSource::kTag);
  };
  t["truncated_mid_comment.pgn"] = [] {  // row 12
    auto p = parse_fixture("truncated_mid_comment.pgn");
    CHECK(p.games.size() == 2);
    CHECK(no_errors(p.games[0]));
    CHECK(p.games[1].sans == (Sans{"e4"}) && p.games[1].comments.empty());
    CHECK(p.games[1].info.truncated);
    CHECK(p.games[1].codes() == (Codes{ErrorCode::kEofInComment}));
  };
  t["truncated_mid_tag.pgn"] = [] {  // row 12
    auto p = parse_fixture("truncated_mid_tag.pgn");
    CHECK(p.games.size() == 2);
    CHECK(no_errors(p.games[0]));
    CHECK(p.games[1].tags.size() == 1 && p.games[1].tag("Event") == "Cut");
    CHECK(p.games[1].info.truncated);
    CHECK(p.games[1].codes() == (Codes{ErrorCode::kBadTag, ErrorCode::kEofInTags}));
  };
  t["move_number_forms.pgn"] = [] {  // row 13
    auto p = parse_fixture("move_number_forms.pgn");
    CHECK(p.games.size() == 1);
    CHECK(p.games[0].sans == (Sans{"e4",  "e5", "Nf3", "Nc6", "Bb5", "a6",  "Ba4", "Nf6", "O-O", "Be7",
                                   "Re1", "b5", "Bb3", "d6",  "c3",  "O-O", "h3",  "Nb8", "d4",  "Nbd7"}));
    CHECK(no_errors(p.games[0]));
  };
  t["black_move_numbers.pgn"] = [] {  // row 14
    auto p = parse_fixture("black_move_numbers.pgn");
    CHECK(p.games.size() == 2);
    for (const Game& g : p.games) {
      CHECK(g.sans == (Sans{"e4", "e5", "Nf3", "Nc6"}));
      CHECK(g.comments.size() == 4);
      double want[] = {180, 180, 179, 178};
      for (size_t i = 0; i < g.comments.size() && i < 4; ++i) {
        CHECK(g.comments[i].first == i + 1);
        auto clk = parse_clock(g.comments[i].second);
        CHECK(clk && *clk == want[i]);
      }
      CHECK(no_errors(g));
    }
  };
  t["comments_everywhere.pgn"] = [] {  // row 15
    auto p = parse_fixture("comments_everywhere.pgn");
    CHECK(p.games.size() == 1);
    const Game& g = p.games[0];
    CHECK(g.sans == (Sans{"e4", "e5", "Nf3", "Nc6"}));
    std::vector<std::pair<uint32_t, std::string>> want = {{0, "comment before first move"},
                                                          {1, "multi\nline ( with ) ; and [ brackets ]"},
                                                          {2, "rest of line (not a variation"},
                                                          {3, "first"},
                                                          {3, "second"}};
    CHECK(g.comments == want);
    CHECK(no_errors(g));
  };
  t["lichess_eval_clk.pgn"] = [] {  // row 16
    auto p = parse_fixture("lichess_eval_clk.pgn");
    CHECK(p.games.size() == 1);
    const Game& g = p.games[0];
    CHECK(g.sans == (Sans{"e4", "c5", "Qh5", "Nf6"}));
    CHECK(g.comments.size() == 4);
    if (g.comments.size() != 4) return;
    auto e0 = parse_eval(g.comments[0].second), e2 = parse_eval(g.comments[2].second),
         e3 = parse_eval(g.comments[3].second);
    CHECK(e0 && !e0->is_mate && std::fabs(e0->pawns - 0.17f) < 1e-6);
    CHECK(e2 && !e2->is_mate && std::fabs(e2->pawns + 1.5f) < 1e-6);
    CHECK(e3 && e3->is_mate && e3->mate == -4);
    CHECK(parse_clock(g.comments[0].second) == 180.0);
    CHECK(parse_clock(g.comments[2].second) == 178.0);
    auto c3 = parse_clock(g.comments[3].second);
    CHECK(c3 && std::fabs(*c3 - 5.3) < 1e-9);
    CHECK(g.comments[3].first == 4);
    CHECK(no_errors(g));
  };
  t["percent_escape_line.pgn"] = [] {  // row 18
    auto p = parse_fixture("percent_escape_line.pgn");
    CHECK(p.games.size() == 1);
    CHECK(p.games[0].tags.size() == 2);
    CHECK(p.games[0].sans == (Sans{"e4", "e5", "Nc3"}));
    CHECK(no_errors(p.games[0]));
    CHECK(p.stats.prose_lines == 0);
  };
  t["nags_and_suffixes.pgn"] = [] {  // row 19
    auto p = parse_fixture("nags_and_suffixes.pgn");
    CHECK(p.games.size() == 2);
    CHECK(p.games[0].sans == (Sans{"e4", "e5", "Nf3", "Nc6", "Bb5", "a6", "Ba4", "Nf6", "O-O", "Be7", "Re1",
                                   "b5", "Bb3", "d6"}));
    std::vector<std::pair<uint32_t, int>> want = {{1, 1}, {2, 2},  {3, 3},   {4, 4},  {5, 5},  {6, 6},
                                                  {7, 1}, {8, 14}, {10, 71}, {12, 2}, {12, 18}};
    CHECK(p.games[0].nags == want);
    CHECK(p.games[1].sans == (Sans{"f3", "e5", "g4", "Qh4#"}));
    CHECK(p.games[1].nags == (std::vector<std::pair<uint32_t, int>>{{1, 2}, {3, 4}, {4, 5}}));
    CHECK(no_errors(p.games[0]) && no_errors(p.games[1]));
  };
  t["nested_variations.pgn"] = [] {  // row 20
    auto p = parse_fixture("nested_variations.pgn");
    CHECK(p.games.size() == 1);
    CHECK(p.games[0].sans == (Sans{"e4", "e5", "Nf3", "Nc6", "Bb5"}));
    CHECK(p.games[0].comments.empty());
    CHECK(no_errors(p.games[0]));
  };
  t["null_moves.pgn"] = [] {  // row 21
    auto p = parse_fixture("null_moves.pgn");
    CHECK(p.games.size() == 1);
    CHECK(p.games[0].sans == (Sans{"e4", "--", "d4", "Z0", "c4", "0000", "Nc3", "@@@@"}));
    CHECK(p.games[0].info.first_null_ply == 1);
    CHECK(no_errors(p.games[0]));
  };
  t["castling_forms.pgn"] = [] {  // row 22
    auto p = parse_fixture("castling_forms.pgn");
    CHECK(p.games.size() == 2);
    CHECK(p.games[0].sans == (Sans{"e4",  "e5", "Nf3", "Nc6", "Bc4", "Bc5", "0-0", "Nf6",   "d3",  "d6",
                                   "Bg5", "h6", "Bh4", "Bg4", "Nc3", "Qd7", "a3",  "o-o-o", "Qd2", "g5"}));
    CHECK(p.games[1].sans == (Sans{"O-O+", "Kg7"}));
    CHECK(no_errors(p.games[0]) && no_errors(p.games[1]));
  };
  t["promotion_forms.pgn"] = [] {  // row 23
    auto p = parse_fixture("promotion_forms.pgn");
    CHECK(p.games.size() == 1);
    CHECK(p.games[0].sans == (Sans{"a8Q", "h1=q", "h8=Q", "a1R"}));
    CHECK(no_errors(p.games[0]));
  };
  t["long_san_forms.pgn"] = [] {  // row 24
    auto p = parse_fixture("long_san_forms.pgn");
    CHECK(p.games.size() == 2);
    CHECK(p.games[0].sans ==
          (Sans{"Pe2e4", "a6", "e5", "d5", "exd6", "Ng8-f6", "Ng1f3", "Nb8c6+", "Bf1-c4"}));
    CHECK(p.games[1].sans == (Sans{"e4", "Nf6", "e5", "d5", "exd6"}));
    CHECK(no_errors(p.games[0]) && no_errors(p.games[1]));
  };
  t["pure_uci_movetext.pgn"] = [] {  // row 25
    auto p = parse_fixture("pure_uci_movetext.pgn");
    CHECK(p.games.size() == 2);
    CHECK(p.games[0].sans == (Sans{"e2e4", "c7c5", "g1f3", "d7d6", "d2d4", "c5d4"}));
    CHECK(p.games[1].sans == (Sans{"e2e4", "e7e5", "g1f3"}));
    CHECK(no_errors(p.games[0]) && no_errors(p.games[1]));
  };
  t["illegal_san_mid_game.pgn"] = [] {  // row 26: lexically fine; the replay layer cuts the game
    auto p = parse_fixture("illegal_san_mid_game.pgn");
    CHECK(p.games.size() == 2);
    CHECK(p.games[0].sans == (Sans{"e4", "e5", "Ke3", "Nc6", "Bc4"}));
    CHECK(p.games[1].sans == (Sans{"d4", "d5", "Nf3", "Nf6", "Nd2", "e6"}));
    CHECK(no_errors(p.games[0]) && no_errors(p.games[1]));
  };
  t["fen_setup_black_to_move.pgn"] = [] {  // row 27
    auto p = parse_fixture("fen_setup_black_to_move.pgn");
    CHECK(p.games.size() == 1);
    CHECK(p.games[0].tag("SetUp") == "1");
    CHECK(p.games[0].tag("FEN") == "rnbqkbnr/pppppppp/8/8/4P3/8/PPPP1PPP/RNBQKBNR b KQkq - 0 1");
    CHECK(p.games[0].sans == (Sans{"c5", "Nf3", "d6"}));
    CHECK(no_errors(p.games[0]));
  };
  t["chess960_shredder_fen.pgn"] = [] {  // row 28
    auto p = parse_fixture("chess960_shredder_fen.pgn");
    CHECK(p.games.size() == 1);
    CHECK(p.games[0].tag("Variant") == "Chess960");
    CHECK(p.games[0].tag("FEN") == "brnqnbkr/pppppppp/8/8/8/8/PPPPPPPP/BRNQNBKR w HBhb - 0 1");
    CHECK(p.games[0].sans.size() == 16);
    CHECK(no_errors(p.games[0]));
  };
  t["crazyhouse_drops.pgn"] = [] {  // row 29
    auto p = parse_fixture("crazyhouse_drops.pgn");
    CHECK(p.games.size() == 2);
    CHECK(p.games[0].tag("Variant") == "Crazyhouse");
    CHECK(p.games[0].sans == (Sans{"e4", "d5", "exd5", "Qxd5", "Nc3", "Qa5", "P@d4", "N@f6", "Nf3", "P@e4"}));
    CHECK(p.games[1].tag("Variant") == "Antichess" && p.games[1].sans.size() == 6);
    CHECK(no_errors(p.games[0]) && no_errors(p.games[1]));
  };
  t["prose_between_games.pgn"] = [] {  // row 30
    auto p = parse_fixture("prose_between_games.pgn");
    CHECK(p.games.size() == 2);
    CHECK(p.games[0].tag("Event") == "P1" && p.games[0].sans == (Sans{"e4", "e5"}));
    CHECK(p.games[1].tag("Event") == "P2" && p.games[1].sans == (Sans{"d4", "d5"}));
    CHECK(no_errors(p.games[0]) && no_errors(p.games[1]));
    CHECK(p.stats.prose_lines == 7);
  };
  t["unusual_tag_names_and_unicode.pgn"] = [] {  // row 31
    auto p = parse_fixture("unusual_tag_names_and_unicode.pgn");
    CHECK(p.games.size() == 1);
    const Game& g = p.games[0];
    CHECK(g.tags.size() == 9);
    CHECK(g.tag("White") == "Ding Liren \xe4\xb8\x81\xe7\xab\x8b\xe4\xba\xba");
    CHECK(g.tag("Foo+Bar") == "1" && g.tag("Tag#1") == "x" && g.tag("A=B") == "y");
    CHECK(g.tag("Time:Zone") == "z" && g.tag("Sub-Event") == "w" && g.tag("White_Clock") == "1:00");
    CHECK(g.comments.size() == 1 && g.comments[0].second == "Tr\xc3\xa8s bien \xe2\x99\x9e");
    CHECK(g.sans == (Sans{"d4", "Nf6"}));
    CHECK(no_errors(g));
  };
  t["unterminated_quote_in_tag.pgn"] = [] {  // row 32
    auto p = parse_fixture("unterminated_quote_in_tag.pgn");
    CHECK(p.games.size() == 2);
    CHECK(p.games[0].codes() == (Codes{ErrorCode::kBadTag}));
    CHECK(p.games[0].tag("Site") == "x" && p.games[0].sans == (Sans{"e4"}) && p.games[0].info.ok());
    CHECK(p.games[1].tag("Event") == "Next" && no_errors(p.games[1]));
  };
  t["unterminated_brace.pgn"] = [] {  // row 32
    auto p = parse_fixture("unterminated_brace.pgn");
    CHECK(p.games.size() == 2);
    CHECK(p.games[0].sans == (Sans{"e4"}));
    CHECK(p.games[0].codes() == (Codes{ErrorCode::kUnterminatedComment, ErrorCode::kMissingResult}));
    CHECK(!p.games[0].info.ok() && !p.games[0].info.truncated);
    CHECK(p.games[1].tag("Event") == "After" && p.games[1].sans == (Sans{"d4", "d5"}) &&
          no_errors(p.games[1]));
  };
  t["lichess_sample.pgn"] = [] {
    auto p = parse_fixture("lichess_sample.pgn");
    // (Result, plies) per game, from python-chess when the sample was written.
    std::vector<std::pair<std::string, uint32_t>> want = {
        {"0-1", 9},  {"0-1", 9},      {"1-0", 21}, {"0-1", 10}, {"0-1", 20}, {"0-1", 12},     {"0-1", 21},
        {"*", 0},    {"1/2-1/2", 12}, {"1-0", 19}, {"1-0", 22}, {"0-1", 17}, {"1/2-1/2", 14}, {"1-0", 13},
        {"0-1", 19}, {"1-0", 10},     {"1-0", 10}, {"0-1", 17}, {"0-1", 19}, {"0-1", 17}};
    CHECK(p.games.size() == want.size());
    for (size_t i = 0; i < p.games.size() && i < want.size(); ++i) {
      const Game& g = p.games[i];
      CHECK(g.result_token == want[i].first && g.tag("Result") == want[i].first);
      CHECK(g.info.plies == want[i].second);
      CHECK(no_errors(g) && g.info.result_source == ResultSource::kToken);
      CHECK(g.tags.size() >= 15);
      if (!g.comments.empty()) {  // clock games: one comment per ply, each with a clock
        CHECK(g.comments.size() == g.info.plies);
        size_t evals = 0;
        for (auto& [ply, text] : g.comments) {
          CHECK(parse_clock(text).has_value());
          evals += parse_eval(text).has_value();
        }
        CHECK(evals == 0 || evals + 1 >= g.info.plies);
      }
    }
    CHECK(p.games[0].sans.size() >= 2 && p.games[0].sans[0] == "e4" && p.games[0].sans[1] == "d5");
  };
  return t;
}

// ---- Properties over all fixtures ---------------------------------------------------------------

std::vector<std::string> fixture_names() {
  std::vector<std::string> names;
  for (auto& e : fs::directory_iterator(kDir))
    if (e.path().extension() == ".pgn") names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

// Small caps and reads exercise buffer compaction and the too-long paths on small inputs.
ParserOptions tiny_options(size_t read_size) {
  ParserOptions o;
  o.read_size = read_size;
  o.max_token = 24;
  o.max_comment = 40;
  o.max_tag_line = 80;
  return o;
}

void test_chunk_independence() {
  for (const std::string& name : fixture_names()) {
    g_context = "chunks " + name;
    std::string data = read_file(kDir + name);
    std::string ref = parse_str(data).log;
    for (size_t chunk : {1, 7, 64, 4096}) CHECK(parse_str(data, chunk).log == ref);
    std::string tiny_ref = parse_str(data, SIZE_MAX, tiny_options(4096)).log;
    for (size_t rs : {1, 3, 17}) {
      CHECK(parse_str(data, SIZE_MAX, tiny_options(rs)).log == tiny_ref);
      CHECK(parse_str(data, 5, tiny_options(rs)).log == tiny_ref);
    }
  }
}

// The Lichess fast path (the clock comment as one compare, then the move number the ply should
// have) must give exactly what the byte scan gives. Each text is parsed whole (the fast path
// taken wherever it applies) and in 1-byte reads (never taken: fewer than 32 bytes buffered).
void test_lichess_fast_path() {
  const std::string head = "[Event \"L\"]\n[Site \"x\"]\n\n";
  const std::string black_first =
      "[Event \"L\"]\n[FEN \"rnbqkbnr/pppppppp/8/8/4P3/8/PPPP1PPP/RNBQKBNR b KQkq - 0 1\"]\n\n";
  const std::string clk = " { [%clk 0:03:00] } ";
  std::vector<std::string> texts = {
      "1. e4" + clk + "1... e5" + clk + "2. Nf3 { [%clk 0:02:59] } 2... Nc6" + clk + "1-0",
      // a ten-hour clock, an eval first, a `}` and a newline where the clock digits go
      "1. e4 { [%clk 10:03:00] } 1... e5 { [%eval 0.2] [%clk 0:03:00] } 2. Nf3 { [%clk 0:0}:00] } "
      "2... Nc6 { [%clk 0:\n2:58] } 3. Bb5 0-1",
      // numbers that do not match the plies, a comment after a number, glued numbers, NAGs
      "1. e4" + clk + "7... e5" + clk + "2. { [%clk 0:03:00] } Nf3" + clk + "2...Nc6" + clk + "3.Bb5" + clk +
          "3... a6 $1" + clk + "4. Ba4!?" + clk + "1/2-1/2",
      "1. e4" + clk + "1-0",            // a result straight after the clock
      "1. e4" + clk + "1... e5" + clk,  // the end of the stream
      "1. e4" + clk + "1...   e5" + clk + "2.\tNf3" + clk + "(2. d4" + clk + ") 2... Nc6 *",
      "1... e5" + clk + "2. Nf3" + clk + "2... Nc6" + clk + "*",  // numbered from Black's move
  };
  std::string long_game;  // past the 512 plies whose numbers are tabled
  for (int m = 1; m <= 300; ++m)
    long_game += std::to_string(m) + ". Nf3" + clk + std::to_string(m) + "... Nf6" + clk;
  texts.push_back(long_game + "*");
  for (size_t i = 0; i < texts.size(); ++i) {
    for (const std::string* h : {&head, &black_first}) {
      g_context = "lichess fast path " + std::to_string(i) + (h == &head ? "" : " (FEN)");
      const std::string data = *h + texts[i] + "\n\n" + *h + texts[i] + "\n";
      for (const ParserOptions& o : {ParserOptions{}, tiny_options(4096), tiny_options(17)})
        CHECK(parse_str(data, SIZE_MAX, o).log == parse_str(data, 1, o).log);
    }
  }
  g_context = "lichess fast path, what it finds";
  Parsed p = parse_str(head + texts[0] + "\n");
  CHECK(p.games.size() == 1 && p.games[0].sans == (Sans{"e4", "e5", "Nf3", "Nc6"}));
  CHECK(p.games.size() == 1 && p.games[0].comments.size() == 4 &&
        p.games[0].comments[2] == std::make_pair(3u, std::string("[%clk 0:02:59]")));
  CHECK(p.games.size() == 1 && p.games[0].info.ok());
  p = parse_str(head + long_game + "*\n");
  CHECK(p.games.size() == 1 && p.games[0].sans.size() == 600 && p.games[0].info.ok());
}

// Skipping movetext must find the same games (offsets and tags) as a full parse.
void test_skip_mode() {
  for (const std::string& name : fixture_names()) {
    g_context = "skip " + name;
    std::string data = read_file(kDir + name);
    Parsed full = parse_str(data), skip = parse_str(data, SIZE_MAX, {}, true),
           skip7 = parse_str(data, 7, {}, true);
    CHECK(skip.log == skip7.log);
    CHECK(full.games.size() == skip.games.size());
    for (size_t i = 0; i < full.games.size() && i < skip.games.size(); ++i) {
      CHECK(full.games[i].offset == skip.games[i].offset);
      CHECK(full.games[i].tags == skip.games[i].tags);
      CHECK(skip.games[i].sans.empty() && skip.games[i].info.skipped);
    }
    CHECK(skip.stats.skipped_games == skip.games.size());
  }
}

void test_every_fixture_has_expectations(const std::map<std::string, std::function<void()>>& tests) {
  g_context = "coverage";
  for (const std::string& name : fixture_names()) {
    bool covered = tests.count(name) > 0;
    if (!covered) std::fprintf(stderr, "fixture without expectations: %s\n", name.c_str());
    CHECK(covered);
  }
}

// ---- Generated pathological inputs --------------------------------------------------------------

// prefix + unit * count + suffix, produced on the fly so a 100 MB input never exists in memory.
class RepeatSource : public ByteSource {
 public:
  RepeatSource(std::string prefix, std::string unit, size_t count, std::string suffix)
      : parts_{std::move(prefix), std::move(unit), std::move(suffix)}, count_(count) {}
  size_t read(char* buf, size_t n) override {
    size_t out = 0;
    while (out < n && stage_ < 3) {
      const std::string& s = parts_[stage_];
      size_t k = std::min(n - out, s.size() - pos_);
      std::memcpy(buf + out, s.data() + pos_, k);
      out += k;
      pos_ += k;
      if (pos_ == s.size()) {
        pos_ = 0;
        if (stage_ != 1 || ++done_ >= count_) ++stage_;
      }
      if (stage_ == 1 && count_ == 0) stage_ = 2;
    }
    return out;
  }

 private:
  std::string parts_[3];
  size_t count_, done_ = 0, pos_ = 0;
  int stage_ = 0;
};

long peak_rss_kb() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}

Parsed parse_source(ByteSource& src, const ParserOptions& opts = {}) {
  Recorder rec;
  Parser parser(opts);
  StreamStats st = parser.parse(src, rec);
  return {std::move(rec.games), std::move(rec.log), st};
}

const std::string kNext = "\n\n[Event \"Next\"]\n[Result \"0-1\"]\n\n1. d4 d5 0-1\n";

bool next_game_ok(const Parsed& p) {
  return !p.games.empty() && p.games.back().tag("Event") == "Next" &&
         p.games.back().sans == (Sans{"d4", "d5"}) && no_errors(p.games.back());
}

void test_pathological() {
  const std::string head = "[Event \"Patho\"]\n[Result \"1-0\"]\n\n1. e4 ";
  {
    g_context = "100k nested balanced";
    std::string s = head + std::string(100000, '(') + " e5 " + std::string(100000, ')') + " e5 1-0" + kNext;
    Parsed p = parse_str(s);
    CHECK(p.games.size() == 2 && p.games[0].sans == (Sans{"e4", "e5"}) && no_errors(p.games[0]));
    CHECK(next_game_ok(p));
    CHECK(parse_str(s, 7).log == p.log);
  }
  {
    g_context = "100k unclosed (";
    std::string s = head + std::string(100000, '(') + " e5 1-0" + kNext;
    Parsed p = parse_str(s);
    CHECK(p.games.size() == 2);
    CHECK(p.games[0].sans == (Sans{"e4"}));
    CHECK(p.games[0].codes() == (Codes{ErrorCode::kUnclosedVariation, ErrorCode::kMissingResult}));
    CHECK(next_game_ok(p));
    Parsed at_eof = parse_str(head + std::string(100000, '('));
    CHECK(at_eof.games.size() == 1 && at_eof.games[0].codes() == (Codes{ErrorCode::kEofInVariation}));
  }
  {
    g_context = "long comment";
    std::string body(100000, 'c');  // > 64 KB, < max_comment: delivered whole
    Parsed p = parse_str(head + "{" + body + "} e5 1-0" + kNext, 4096);
    CHECK(p.games.size() == 2 && p.games[0].comments.size() == 1 && p.games[0].comments[0].second == body);
    CHECK(no_errors(p.games[0]) && next_game_ok(p));
    RepeatSource big(head + "{", "0123456789abcdef", (3u << 20) / 16, "} e5 1-0" + kNext);  // 3 MB
    Parsed q = parse_source(big);
    CHECK(q.games.size() == 2 && q.games[0].comments.empty());
    CHECK(q.games[0].sans == (Sans{"e4", "e5"}));
    CHECK(q.games[0].codes() == (Codes{ErrorCode::kCommentTooLong}) && q.games[0].info.ok());
    CHECK(next_game_ok(q));
    RepeatSource cut(head + "{", "0123456789abcdef", (3u << 20) / 16, "");
    Parsed r = parse_source(cut);
    CHECK(r.games.size() == 1 &&
          r.games[0].codes() == (Codes{ErrorCode::kCommentTooLong, ErrorCode::kEofInComment}));
  }
  {
    g_context = "NUL bytes";
    std::string s = head + std::string("e5 \0\0 Nf3", 9) + " 1-0" + kNext;
    Parsed p = parse_str(s);
    CHECK(p.games.size() == 2 && p.games[0].sans == (Sans{"e4", "e5", "Nf3"}));
    CHECK(p.games[0].codes() == (Codes{ErrorCode::kNulByte, ErrorCode::kNulByte}) && !p.games[0].info.ok());
    CHECK(next_game_ok(p));
    std::string in_tag = std::string("[Event \"a\0b\"]\n[Result \"1-0\"]\n\n1. e4 1-0", 39) + kNext;
    Parsed q = parse_str(in_tag);
    CHECK(q.games.size() == 2 && q.games[0].tag("Event") == std::string("a\0b", 3));
    CHECK(q.games[0].codes() == (Codes{ErrorCode::kNulByte}));
  }
  long rss_before = peak_rss_kb();
  const size_t k100mb = 100u << 20;
  {
    g_context = "100 MB token";
    RepeatSource src(head, "e", k100mb, " e5 1-0" + kNext);
    auto t0 = std::chrono::steady_clock::now();
    Parsed p = parse_source(src);
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    CHECK(p.games.size() == 2 && p.games[0].sans == (Sans{"e4", "e5"}));
    CHECK(p.games[0].codes() == (Codes{ErrorCode::kTokenTooLong}));
    CHECK(next_game_ok(p));
    std::printf("  100 MB token skipped in %.2f s\n", s);
  }
  {
    g_context = "100 MB tag line";
    RepeatSource src("[Event \"Long tag\"]\n[Site \"", "x", k100mb,
                     "\"]\n[Result \"1-0\"]\n\n1. e4 1-0" + kNext);
    Parsed p = parse_source(src);
    CHECK(p.games.size() == 2 && p.games[0].tag("Site") == "<missing>" && p.games[0].tag("Result") == "1-0");
    CHECK(p.games[0].codes() == (Codes{ErrorCode::kTagTooLong}) && p.games[0].sans == (Sans{"e4"}));
    CHECK(next_game_ok(p));
  }
  {
    g_context = "100 MB line of moves";
    struct Infos : Visitor {
      std::vector<GameInfo> infos;
      void end_game(const GameInfo& i) override { infos.push_back(i); }
    } v;
    RepeatSource src(head, "Nf3 Nf6 Ng1 Ng8 ", k100mb / 16, "1-0" + kNext);
    Parser parser;
    auto t0 = std::chrono::steady_clock::now();
    parser.parse(src, v);
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    CHECK(v.infos.size() == 2 && v.infos[0].plies == 1 + 4 * (k100mb / 16) && v.infos[0].n_errors == 0);
    CHECK(v.infos.size() == 2 && v.infos[1].plies == 2 && v.infos[1].n_errors == 0);
    std::printf("  100 MB movetext line (26M moves) in %.2f s\n", s);
  }
  {
    g_context = "100 MB prose line";
    RepeatSource src("", "prose ", k100mb / 6, "\n[Event \"Next\"]\n[Result \"0-1\"]\n\n1. d4 d5 0-1\n");
    Parsed p = parse_source(src);
    CHECK(p.games.size() == 1 && next_game_ok(p) && p.stats.prose_lines == 1);
  }
  long rss_after = peak_rss_kb();
  g_context = "bounded memory";
  // 400 MB of generated input went through; the parser's buffer is ~1.1 MB, so the peak barely moves.
  std::printf("  peak RSS %ld -> %ld KB over 400 MB of generated input\n", rss_before, rss_after);
  if (rss_before > 0) CHECK(rss_after - rss_before < 64 * 1024);
  {
    g_context = "broken tag after movetext";
    Parsed p = parse_str(head + "e5\n[Event \"never closed\n[Result \"0-1\"]\n\n1. d4 0-1\n");
    CHECK(p.games.size() == 2 && p.games[0].codes() == (Codes{ErrorCode::kMissingResult}));
    CHECK(p.games.size() == 2 && p.games[1].codes() == (Codes{ErrorCode::kBadTag}));
    CHECK(p.games.size() == 2 && p.games[1].sans == (Sans{"d4"}) && p.games[1].info.ok());
  }
  {
    g_context = "stray tag line in movetext";
    const std::string game = "[Event \"A\"]\n[Result \"1-0\"]\n\n1. e4 e5 2. Nf3\n";
    Parsed p = parse_str(game + "[Foo \"bar\"]\nNc6 3. Bb5 1-0\n");
    CHECK(p.games.size() == 2 && p.games[0].sans == (Sans{"e4", "e5", "Nf3"}));
    CHECK(p.games.size() == 2 &&
          p.games[0].codes() == (Codes{ErrorCode::kMovetextCut, ErrorCode::kMissingResult}));
    CHECK(p.games.size() == 2 && !p.games[0].info.ok() && p.games[1].tag("Foo") == "bar");
    // a blank line before it, or a result token, or `[Event`: an ordinary next game
    p = parse_str(game + "\n[Foo \"bar\"]\n\n1. d4 1-0\n");
    CHECK(p.games.size() == 2 && p.games[0].codes() == (Codes{ErrorCode::kMissingResult}));
    p = parse_str(game + "[Event \"B\"]\n\n1. d4 1-0\n");
    CHECK(p.games.size() == 2 && p.games[0].codes() == (Codes{ErrorCode::kMissingResult}));
    p = parse_str("[Event \"A\"]\n\n1. e4 1-0\n[Foo \"bar\"]\n\n1. d4 1-0\n");
    CHECK(p.games.size() == 2 && no_errors(p.games[0]) && no_errors(p.games[1]));
  }
  {
    g_context = "NUL in a broken tag line";
    Parsed p =
        parse_str(std::string("[Event \"A\"]\n[Round \"?\"") + '\0' + "]\n[Result \"1-0\"]\n\n1. e4 1-0\n");
    CHECK(p.games.size() == 1 && p.games[0].codes() == (Codes{ErrorCode::kNulByte, ErrorCode::kBadTag}));
    CHECK(p.games.size() == 1 && !p.games[0].info.ok());
  }
  {
    g_context = "NUL on the Event line that starts the next game";  // found by the fuzzer
    Parsed p = parse_str(std::string("[Event \"A\"]\n[Result \"1-0\"]\n[Event \"B") + '\0' +
                         "\"]\n[Result \"0-1\"]\n\n1. d4 0-1\n");
    CHECK(p.games.size() == 2 && p.games[0].codes() == (Codes{ErrorCode::kMissingResult}));
    CHECK(p.games.size() == 2 && p.games[1].codes() == (Codes{ErrorCode::kNulByte}));
  }
  {
    g_context = "NAG at the end of the stream, every read size";  // found by the fuzzer
    const std::string s = "[Event \"A\"]\n\n1. e4 $12";
    for (size_t chunk = 1; chunk <= s.size(); ++chunk) {
      Parsed p = parse_str(s, chunk);
      CHECK(p.games.size() == 1 && p.games[0].sans == (Sans{"e4"}));
    }
  }
  {
    g_context = "many errors";
    std::string s = head + std::string(10000, ')') + " 1-0" + kNext;
    Parsed p = parse_str(s);
    CHECK(p.games.size() == 2 && p.games[0].info.n_errors == 10000 && p.games[0].info.errors.size() == 32);
    CHECK(p.games[0].info.ok());
  }
}

// Random byte edits of the fixtures: must not crash, and must not depend on chunking.
void test_mutations() {
  std::mt19937 rng(12345);
  std::vector<std::string> corpus;
  for (const std::string& name : fixture_names()) corpus.push_back(read_file(kDir + name));
  const char alphabet[] = "[]{}()\";%$\n\r\t .-=+#!?*/\\\0e4O1";
  int runs = 0;
  for (int i = 0; i < 400; ++i) {
    std::string s = corpus[rng() % corpus.size()];
    int edits = 1 + int(rng() % 8);
    for (int k = 0; k < edits && !s.empty(); ++k) {
      size_t at = rng() % s.size();
      switch (rng() % 3) {
        case 0: s[at] = alphabet[rng() % (sizeof alphabet - 1)]; break;
        case 1: s.insert(at, 1, alphabet[rng() % (sizeof alphabet - 1)]); break;
        case 2: s.erase(at, 1 + rng() % 20); break;
      }
    }
    g_context = "mutation " + std::to_string(i);
    std::string ref = parse_str(s).log;
    CHECK(parse_str(s, 1 + rng() % 13).log == ref);
    CHECK(parse_str(s, 3, tiny_options(1 + rng() % 7)).log == parse_str(s, SIZE_MAX, tiny_options(4096)).log);
    ++runs;
  }
  std::printf("  %d mutated inputs parsed\n", runs);
}

// ---- Helpers ------------------------------------------------------------------------------------

void test_helpers() {
  g_context = "helpers";
  CHECK(parse_eval("[%eval 0.17]")->pawns == 0.17f);
  CHECK(parse_eval("[%clk 0:01:00] [%eval -3.2,30]")->pawns == -3.2f);
  CHECK(parse_eval("[%eval #3]")->mate == 3 && parse_eval("[%eval #3]")->is_mate);
  CHECK(!parse_eval("[%evaluation 3]") && !parse_eval("no eval") && !parse_eval("[%eval abc]"));
  CHECK(parse_clock("[%clk 0:03:00]") == 180.0);
  CHECK(parse_clock("[%clk 1:02:03]") == 3723.0);
  CHECK(!parse_clock("[%clk ]") && !parse_clock("[%clk 1::2]") && !parse_clock("nothing"));
  CHECK(parse_int_tag("2850") == 2850 && parse_int_tag("+12") == 12 && parse_int_tag("-7") == -7);
  CHECK(!parse_int_tag("?") && !parse_int_tag("") && !parse_int_tag("-") && !parse_int_tag("12a"));
  auto tc = parse_time_control("600");
  CHECK(tc && tc->base_seconds == 600 && tc->increment_seconds == 0);
  CHECK(!parse_time_control("-") && !parse_time_control("?") && !parse_time_control("40/7200:3600"));
  // The all-digits fast paths and the general ones agree at their borders.
  CHECK(parse_int_tag("0123") == 123 && parse_int_tag(" 1500 ") == 1500 &&
        parse_int_tag("123456789") == 123456789);
  CHECK(parse_int_tag("1234567890") == 1234567890 && !parse_int_tag("99999999999") && !parse_int_tag("12 3"));
  tc = parse_time_control("300+2");
  CHECK(tc && tc->base_seconds == 300 && tc->increment_seconds == 2);
  tc = parse_time_control(" 180+0 ");
  CHECK(tc && tc->base_seconds == 180 && tc->increment_seconds == 0);
  CHECK(!parse_time_control("300+") && !parse_time_control("+5") && !parse_time_control("300+-1") &&
        !parse_time_control("300++2") && !parse_time_control("") && !parse_time_control("3a+0"));
  std::set<std::string_view> names;
  for (int c = 0; c < kNumErrorCodes; ++c) names.insert(error_name(ErrorCode(c)));
  CHECK(names.size() == size_t(kNumErrorCodes) && !names.count("unknown"));
  CHECK(parse_result("1/2-1/2") == Result::kDraw && result_string(Result::kBlackWins) == "0-1");
  CHECK(is_fatal(ErrorCode::kNulByte) && !is_fatal(ErrorCode::kMissingResult));
}

void test_stop_and_files() {
  g_context = "stop";
  struct StopAfterTwo : Visitor {
    int n = 0;
    void end_game(const GameInfo&) override { ++n; }
    bool should_stop() override { return n >= 2; }
  } v;
  auto st = parse_file(kDir + "lichess_sample.pgn", v);
  CHECK(st && st->stopped && st->games == 2 && v.n == 2);
  Visitor none;
  CHECK(!parse_file(kDir + "does_not_exist.pgn", none));
}

// ---- Throughput (printed, never asserted) -------------------------------------------------------

struct Counter : Visitor {
  uint64_t sans = 0, comments = 0, games = 0, bytes = 0;
  bool skip = false;
  bool end_tags() override { return skip; }
  void san(std::string_view t, uint32_t) override {
    ++sans;
    bytes += t.size();
  }
  void comment(std::string_view, uint32_t) override { ++comments; }
  void end_game(const GameInfo&) override { ++games; }
};

void bench() {
  std::string one = read_file(kDir + "lichess_sample.pgn") + read_file(kDir + "lichess_eval_clk.pgn") + "\n";
  std::string data;
  data.reserve(52u << 20);
  while (data.size() < (50u << 20)) data += one;
  for (bool skip : {false, true}) {
    double best = 1e9;
    Counter c;
    for (int rep = 0; rep < 3; ++rep) {
      c = Counter();
      c.skip = skip;
      MemorySource src(data);
      Parser parser;
      auto t0 = std::chrono::steady_clock::now();
      parser.parse(src, c);
      best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    std::printf("  throughput (%s): %.1f MB in %.3f s = %.0f MB/s (%llu games, %llu moves, %llu comments)\n",
                skip ? "skip movetext" : "full parse", data.size() / 1e6, best, data.size() / 1e6 / best,
                (unsigned long long)c.games, (unsigned long long)c.sans, (unsigned long long)c.comments);
  }
}

}  // namespace

int main() {
  if (!fs::exists(kDir)) {
    std::fprintf(stderr, "run from the repository root (%s not found)\n", kDir.c_str());
    return 2;
  }
  auto tests = fixture_tests();
  for (auto& [name, fn] : tests) fn();
  test_every_fixture_has_expectations(tests);
  test_chunk_independence();
  test_lichess_fast_path();
  test_skip_mode();
  test_helpers();
  test_stop_and_files();
  test_mutations();
  test_pathological();
  bench();
  return report();
}
