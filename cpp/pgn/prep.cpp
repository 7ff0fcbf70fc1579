// Filters and tokenizers of `chessformer prep` over one chunk (see prep.h).
#include "pgn/prep.h"

#include <algorithm>
#include <cstring>

#include "core/vocab.h"
#include "tokenize/tokenizers.h"

namespace chess::pgn {

namespace tk = chess::tokenize;

TimeClass time_class(const GameTags& t) {
  if (t.tc_correspondence) return TimeClass::kCorrespondence;
  if (t.tc_base < 0) return TimeClass::kUnknown;
  const int64_t est = int64_t(t.tc_base) + 40 * int64_t(std::max(t.tc_inc, 0));
  if (est < 30) return TimeClass::kUltraBullet;
  if (est < 180) return TimeClass::kBullet;
  if (est < 480) return TimeClass::kBlitz;
  if (est < 1500) return TimeClass::kRapid;
  return TimeClass::kClassical;
}

std::string_view time_class_name(TimeClass c) {
  static constexpr std::string_view names[] = {"ultrabullet", "bullet",         "blitz",  "rapid",
                                               "classical",   "correspondence", "unknown"};
  return names[int(c)];
}

TerminationCode termination_code(std::string_view v) {
  if (v.empty()) return TerminationCode::kNone;
  if (v == "Normal") return TerminationCode::kNormal;
  if (v == "Time forfeit") return TerminationCode::kTimeForfeit;
  if (v == "Abandoned") return TerminationCode::kAbandoned;
  if (v == "Unterminated") return TerminationCode::kUnterminated;
  if (v == "Rules infraction") return TerminationCode::kRulesInfraction;
  return TerminationCode::kOther;
}

std::string_view drop_reason_name(DropReason r) {
  static constexpr std::string_view names[] = {"variant",     "bad_fen",      "start_position", "elo_unknown",
                                               "elo_above",   "elo_below",    "time_control",   "termination",
                                               "parse_error", "illegal_move", "null_move",      "unfinished",
                                               "too_short"};
  return names[int(r)];
}

bool is_val(uint64_t game_hash, double val_fraction) {
  // The top 53 bits as a uniform double in [0, 1).
  return double(game_hash >> 11) * 0x1.0p-53 < val_fraction;
}

ChunkSource::ChunkSource(std::vector<std::string_view> parts, bool more_follows) : parts_(std::move(parts)) {
  for (std::string_view p : parts_) size_ += p.size();
  if (more_follows) parts_.push_back(kSentinel);
}

std::string_view ChunkSource::lend() {
  if (part_ >= parts_.size()) return {};
  const std::string_view rest = parts_[part_].substr(pos_);
  ++part_;
  pos_ = 0;
  return rest;
}

size_t ChunkSource::read(char* buf, size_t n) {
  size_t k = 0;
  while (k < n && part_ < parts_.size()) {
    const std::string_view p = parts_[part_];
    const size_t m = std::min(n - k, p.size() - pos_);
    std::memcpy(buf + k, p.data() + pos_, m);
    k += m;
    pos_ += m;
    if (pos_ == p.size()) ++part_, pos_ = 0;
  }
  return k;
}

namespace {

// Symbol ids of the fen tokenizer, looked up once (tk::encode_position searches FEN_VOCAB per
// symbol; this writes the same 77 tokens from tables).
struct FenTable {
  uint16_t piece[16], side[2], castle[4][2], ep_none[2], file[8], rank[8], digit[10];
  FenTable() {
    auto id = [](char c) { return uint16_t(tk::FEN_VOCAB.find(c)); };
    static constexpr char kPieces[] = ".PNBRQK..pnbrqk.";
    for (int i = 0; i < 16; ++i) piece[i] = id(kPieces[i]);
    side[0] = id('w');
    side[1] = id('b');
    const char letters[4] = {'K', 'Q', 'k', 'q'};
    for (int i = 0; i < 4; ++i) castle[i][0] = id('.'), castle[i][1] = id(letters[i]);
    ep_none[0] = id('-');
    ep_none[1] = id('.');
    for (int i = 0; i < 8; ++i) file[i] = id(char('a' + i)), rank[i] = id(char('1' + i));
    for (int i = 0; i < 10; ++i) digit[i] = id(char('0' + i));
  }
};
const FenTable kFen;

void encode_position_fast(const BoardState& s, std::vector<uint16_t>& out) {
  const size_t n = out.size();
  out.resize(n + tk::FEN_TOKENS);
  uint16_t* o = out.data() + n;
  *o++ = kFen.side[s.side];
  for (int r = 7; r >= 0; --r)
    for (int f = 0; f < 8; ++f) *o++ = kFen.piece[s.board[r * 8 + f]];
  static constexpr uint8_t kBits[4] = {WHITE_OO, WHITE_OOO, BLACK_OO, BLACK_OOO};
  for (int i = 0; i < 4; ++i) *o++ = kFen.castle[i][(s.castling & kBits[i]) ? 1 : 0];
  if (s.ep == SQ_NONE) {
    *o++ = kFen.ep_none[0];
    *o++ = kFen.ep_none[1];
  } else {
    *o++ = kFen.file[file_of(s.ep)];
    *o++ = kFen.rank[rank_of(s.ep)];
  }
  for (int v : {std::min<int>(s.halfmove, 999), std::min<int>(s.fullmove, 999)}) {
    *o++ = kFen.digit[v / 100];
    *o++ = kFen.digit[v / 10 % 10];
    *o++ = kFen.digit[v % 10];
  }
}

// vocab::id_of as two flat tables, built once (the per-ply move token).
struct MoveIds {
  int16_t plain[64][64];
  int16_t promo[64][64];  // id of the knight promotion; + (piece - KNIGHT)
  MoveIds() {
    for (int f = 0; f < 64; ++f)
      for (int t = 0; t < 64; ++t) {
        plain[f][t] = int16_t(vocab::id_of(f, t));
        promo[f][t] = int16_t(vocab::id_of(f, t, KNIGHT));
      }
  }
  // vocab::id_of(s, m, chess960) for a legal move m of a position s with s.side == mover.
  int id(Color mover, Move m, bool chess960) const {
    Square to = m.to();
    if (m.kind() == Move::CASTLING) {
      if (!chess960) to = castle_king_to(mover, m.to() > m.from());
    } else if (m.kind() == Move::PROMOTION) {
      const int base = promo[m.from()][to];
      return base < 0 ? -1 : base + (m.promotion() - KNIGHT);
    }
    return plain[m.from()][to];
  }
};

const MoveIds& move_ids() {
  static const MoveIds ids;
  return ids;
}

// tk::char_id as a table, read without a call per character.
struct CharIds {
  uint8_t id[256];
  CharIds() {
    for (int c = 0; c < 256; ++c) id[c] = uint8_t(tk::char_id(char(c)));
  }
};

const CharIds& char_ids() {
  static const CharIds ids;
  return ids;
}

class PrepVisitor final : public ReplayVisitor {
 public:
  PrepVisitor(const PrepConfig& cfg, uint64_t chunk_size, uint64_t base_offset)
      : ReplayVisitor(make_options(cfg)),
        cfg_(cfg),
        ids_(move_ids()),
        char_ids_(char_ids()),
        chunk_size_(chunk_size),
        base_(base_offset) {
    // Move tokens are written from moves() when a game is kept; only fen tokens need each position.
    set_move_hook(cfg.tokenizer == TokenizerKind::kFen);
  }

  PrepOutput out;

  // Reserves the train split's tokens from the chunk size so the vector does not reallocate as it
  // grows (move: a ply takes at least 2 input bytes; char: a transcript is no longer than the
  // movetext it comes from, give or take move numbers). Reserved pages never written cost no memory.
  void reserve(uint64_t bytes) {
    if (cfg_.tokenizer == TokenizerKind::kChar) {
      out.split[0].tokens8.reserve(size_t(bytes + 64));
    } else if (cfg_.tokenizer == TokenizerKind::kMove) {
      out.split[0].tokens16.reserve(size_t(bytes / 2 + 64));
    }
  }

  bool accept_tags() override {
    drop_ = check_tags();
    tokens_.clear();
    if (drop_ == kKeep && cfg_.tokenizer == TokenizerKind::kFen)
      encode_position_fast(start().state(), tokens_);
    return drop_ == kKeep;
  }

  void on_move(Color mover, Move m) override {  // fen tokenizer only
    tokens_.push_back(uint16_t(tk::FEN_MOVE_OFFSET + ids_.id(mover, m, chess960())));
    encode_position_fast(state(), tokens_);
  }

  void finish(const GameInfo& info) override {
    if (info.offset > chunk_size_) return;  // the sentinel
    PrepStats& st = out.stats;
    ++st.games;
    for (const ParseError& e : info.errors) ++st.parse_errors[size_t(e.code)];
    if (drop_ != kKeep) return drop(DropReason(drop_));
    st.plies_replayed += moves().size();
    if (cut()) ++st.replay_errors[size_t(error().code)];
    Result result = info.result;
    const bool partial = !info.ok() || cut();
    if (partial) {
      if (!cfg_.keep_partial) {
        if (!info.ok()) return drop(DropReason::kParseError);
        return drop(error().code == ReplayCode::kNullMove ? DropReason::kNullMove : DropReason::kIllegalMove);
      }
      result = Result::kUnfinished;
    }
    if (!is_definite(result) && !cfg_.keep_unfinished && !partial) return drop(DropReason::kUnfinished);
    if (int(moves().size()) < cfg_.min_plies) return drop(DropReason::kTooShort);
    keep(info, result);
  }

 private:
  static constexpr int kKeep = -1;

  static ReplayOptions make_options(const PrepConfig& cfg) {
    ReplayOptions o;
    o.allow_chess960 = cfg.allow_chess960;
    o.canonical_san = cfg.tokenizer == TokenizerKind::kChar;
    return o;
  }

  int check_tags() const {
    const GameTags& t = game_tags();
    const bool chess960 = is_chess960_variant(t.variant);
    if (!is_standard_variant(t.variant) && !(chess960 && cfg_.allow_chess960))
      return int(DropReason::kVariant);
    if (error().code == ReplayCode::kBadFen) return int(DropReason::kBadFen);
    if (!standard_start() && cfg_.tokenizer != TokenizerKind::kFen) return int(DropReason::kStartPosition);
    if (cfg_.max_elo >= 0 || cfg_.min_elo >= 0) {
      const bool known = t.white_elo >= 0 && t.black_elo >= 0;
      if (!known) {
        if (!cfg_.keep_unknown_elo) return int(DropReason::kEloUnknown);
      } else {
        if (cfg_.max_elo >= 0 && std::max(t.white_elo, t.black_elo) > cfg_.max_elo)
          return int(DropReason::kEloAbove);
        if (cfg_.min_elo >= 0 && std::min(t.white_elo, t.black_elo) < cfg_.min_elo)
          return int(DropReason::kEloBelow);
      }
    }
    if (!(cfg_.time_classes & (1u << int(time_class(t))))) return int(DropReason::kTimeControl);
    for (const std::string& term : cfg_.drop_terminations)
      if (t.termination == term) return int(DropReason::kTermination);
    return kKeep;
  }

  void drop(DropReason r) { ++out.stats.dropped[size_t(r)]; }

  void keep(const GameInfo& info, Result result) {
    PrepStats& st = out.stats;
    const uint64_t h = game_hash();
    SplitColumns& c = out.split[is_val(h, cfg_.val_fraction) ? 1 : 0];
    size_t n_tokens = 0;
    if (cfg_.tokenizer == TokenizerKind::kChar) {
      // Not tk::chars_to_ids: its exact reserve() per call makes repeated appends quadratic.
      const std::string& t = transcript();
      const size_t at = c.tokens8.size();
      c.tokens8.resize(at + t.size());
      uint8_t* o = c.tokens8.data() + at;
      for (char ch : t) *o++ = char_ids_.id[uint8_t(ch)];
      n_tokens = t.size();
    } else if (cfg_.tokenizer == TokenizerKind::kMove) {
      // [BOS, move ids..., result]; the standard start (the only one kept here) has White to move.
      static constexpr uint16_t kResultToken[] = {tk::MOVE_UNKNOWN_RESULT, tk::MOVE_WHITE_WINS,
                                                  tk::MOVE_BLACK_WINS, tk::MOVE_DRAW,
                                                  tk::MOVE_UNKNOWN_RESULT};
      const std::vector<Move>& ms = moves();
      const size_t at = c.tokens16.size();
      n_tokens = ms.size() + 2;
      c.tokens16.resize(at + n_tokens);
      uint16_t* o = c.tokens16.data() + at;
      *o++ = tk::MOVE_BOS;
      const bool c960 = chess960();
      Color mover = start().state().side;
      for (Move m : ms) {
        *o++ = m.kind() == Move::NORMAL ? uint16_t(ids_.plain[m.from()][m.to()])
                                        : uint16_t(ids_.id(mover, m, c960));
        mover = ~mover;
      }
      *o = kResultToken[int(result)];
    } else {
      c.tokens16.insert(c.tokens16.end(), tokens_.begin(), tokens_.end());
      n_tokens = tokens_.size();
    }
    c.offsets.push_back(c.offsets.back() + int64_t(n_tokens));
    const GameTags& t = game_tags();
    c.white_elo.push_back(t.white_elo);
    c.black_elo.push_back(t.black_elo);
    static constexpr int8_t kResultCode[] = {3, 0, 1, 2, 3};
    c.result.push_back(kResultCode[int(result)]);
    c.tc_base.push_back(t.tc_base);
    c.tc_inc.push_back(t.tc_base >= 0 ? t.tc_inc : -1);
    c.time_class.push_back(int8_t(time_class(t)));
    c.termination.push_back(int8_t(termination_code(t.termination)));
    c.plies.push_back(int32_t(moves().size()));
    c.byte_offset.push_back(int64_t(base_ + info.offset));
    c.game_hash.push_back(h);
    c.ordinal.push_back(int64_t(st.kept));
    ++st.kept;
    st.plies_kept += moves().size();
    st.tokens_kept += n_tokens;
  }

  const PrepConfig& cfg_;
  const MoveIds& ids_;
  const CharIds& char_ids_;
  uint64_t chunk_size_, base_;
  int drop_ = kKeep;
  std::vector<uint16_t> tokens_;
};

}  // namespace

PrepOutput prep_chunk(const PrepConfig& config, const std::vector<std::string_view>& parts, bool more_follows,
                      uint64_t base_offset) {
  ChunkSource source(parts, more_follows);
  PrepVisitor visitor(config, source.size(), base_offset);
  visitor.reserve(source.size());
  // One parser (and its ~1 MB buffer) per thread, reused by every chunk that thread parses: a fresh
  // one per 2 MB chunk cost a zeroed allocation and its page faults each time.
  thread_local Parser parser;
  parser.parse(source, visitor);
  visitor.out.stats.bytes = source.size();
  return std::move(visitor.out);
}

PrepOutput prep_chunk(const PrepConfig& config, std::string_view data, bool more_follows,
                      uint64_t base_offset) {
  return prep_chunk(config, std::vector<std::string_view>{data}, more_follows, base_offset);
}

}  // namespace chess::pgn
