// PGN bindings: read_chunk (games as Python records, for chessformer.pgn.read_games) and prep_chunk
// (filtered, tokenized columns as numpy arrays, for chessformer.prep). Both parse a bytes-like chunk
// with the GIL released: the chunk is a read-only buffer kept alive by the caller's reference for
// the whole call, and the C++ side touches no Python object until the GIL is taken back.
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <array>
#include <cmath>
#include <cstring>
#include <memory>

#include "bindings/bindings.h"
#include "bindings/numpy_util.h"
#include "pgn/block_reader.h"
#include "pgn/prep.h"
#include "pgn/replay.h"

namespace chess::bindings {

namespace {

namespace pgn = chess::pgn;
using chess::Move;

std::string_view buffer_view(const py::buffer& data, py::buffer_info& info) {
  info = data.request();
  if (info.ndim != 1 || info.itemsize != 1) throw py::value_error("expected a bytes-like chunk");
  return {static_cast<const char*>(info.ptr), size_t(info.size)};
}

// A chunk given as one bytes-like object or as a list/tuple of them (read back to back, so callers
// never join decompressed blocks). `infos` keeps the buffers' views for the whole call.
std::vector<std::string_view> chunk_parts(const py::object& data, std::vector<py::buffer_info>& infos) {
  std::vector<py::handle> items;
  if (py::isinstance<py::list>(data) || py::isinstance<py::tuple>(data)) {
    for (py::handle h : data) items.push_back(h);
  } else {
    items.push_back(data);
  }
  infos.resize(items.size());
  std::vector<std::string_view> parts;
  for (size_t i = 0; i < items.size(); ++i) {
    if (!PyObject_CheckBuffer(items[i].ptr()))
      throw py::type_error("expected a bytes-like chunk or a list of them");
    parts.push_back(buffer_view(py::reinterpret_borrow<py::buffer>(items[i]), infos[i]));
  }
  return parts;
}

// One game as read_games sees it; converted to Python once the GIL is back.
struct GameRecord {
  uint64_t offset = 0;
  std::vector<std::pair<std::string, std::string>> tags;
  std::vector<uint16_t> uci;  // uci_code() per move
  std::vector<float> evals, clocks;
  pgn::ReplayError replay_error;
  std::vector<pgn::ParseError> parse_errors;
  std::string result;
  bool ok = true;
  bool chess960 = false;
  std::string start_fen;
  std::string transcript;  // canonical SAN ";1.e4 e5 2.Nf3" (read_chunk(san=True))
};

class Collector final : public pgn::ReplayVisitor {
 public:
  Collector(bool annotations, bool chess960, bool san, uint64_t chunk_size, uint64_t base)
      : ReplayVisitor(pgn::ReplayOptions{chess960, annotations, san, true}),
        chunk_size_(chunk_size),
        base_(base) {}
  std::vector<GameRecord> games;

  void on_move(chess::Color mover, Move m) override {
    chess::Square to = m.to();
    if (m.kind() == Move::CASTLING && !chess960()) to = chess::castle_king_to(mover, m.to() > m.from());
    const int promo = m.kind() == Move::PROMOTION ? int(m.promotion()) : 0;
    uci_.push_back(uint16_t(int(m.from()) | int(to) << 6 | promo << 12));
  }

  bool accept_tags() override {
    uci_.clear();
    return true;
  }

  void finish(const pgn::GameInfo& info) override {
    if (info.offset > chunk_size_) return;  // the sentinel game after a chunk
    GameRecord g;
    g.offset = base_ + info.offset;
    g.tags = tags();
    g.uci = std::move(uci_);
    uci_.clear();
    g.evals = evals();
    g.clocks = clocks();
    g.replay_error = error();
    g.replay_error.offset += base_;
    g.parse_errors = info.errors;
    for (auto& e : g.parse_errors) e.offset += base_;
    g.result = std::string(pgn::result_string(info.result));
    g.ok = info.ok();
    g.chess960 = chess960();
    g.start_fen = standard_start() ? "" : start().fen();
    g.transcript = transcript();
    games.push_back(std::move(g));
  }

 private:
  uint64_t chunk_size_, base_;
  std::vector<uint16_t> uci_;
};

// The UCI string of a move code (from | to << 6 | promotion << 12), one shared str per code: a game's
// move list holds references, not a new str per ply (a 5M-ply game: 42 MB of list, not 300 MB of
// strings). Called with the GIL held; the strs live as long as the module.
py::handle uci_str(uint16_t code) {
  static std::array<PyObject*, 1 << 15> cache{};
  PyObject*& s = cache[code & 0x7fff];
  if (s == nullptr) {
    std::string text = chess::square_name(code & 63) + chess::square_name(code >> 6 & 63);
    if (code >> 12) text += " pnbrqk"[code >> 12];
    s = py::str(text).release().ptr();
  }
  return s;
}

py::list uci_list(const std::vector<uint16_t>& codes) {
  py::list l(codes.size());
  for (size_t i = 0; i < codes.size(); ++i)
    PyList_SET_ITEM(l.ptr(), Py_ssize_t(i), uci_str(codes[i]).inc_ref().ptr());
  return l;
}

py::bytes to_bytes(std::string_view s) { return py::bytes(s.data(), s.size()); }

py::tuple parse_error_tuple(const pgn::ParseError& e) {
  return py::make_tuple(std::string(pgn::error_name(e.code)), e.ply, to_bytes(e.token()), e.offset,
                        pgn::is_fatal(e.code));
}

// Filter/tokenizer config from the keyword arguments prep.py builds.
pgn::PrepConfig make_config(const std::string& tokenizer, int max_elo, int min_elo, bool keep_unknown_elo,
                            uint32_t time_classes, const std::vector<std::string>& drop_terminations,
                            int min_plies, bool allow_chess960, bool keep_unfinished, bool keep_partial,
                            double val_fraction) {
  pgn::PrepConfig c;
  if (tokenizer == "char")
    c.tokenizer = pgn::TokenizerKind::kChar;
  else if (tokenizer == "move")
    c.tokenizer = pgn::TokenizerKind::kMove;
  else if (tokenizer == "fen")
    c.tokenizer = pgn::TokenizerKind::kFen;
  else
    throw py::value_error("unknown tokenizer '" + tokenizer + "' (expected 'char', 'move' or 'fen')");
  c.max_elo = max_elo;
  c.min_elo = min_elo;
  c.keep_unknown_elo = keep_unknown_elo;
  c.time_classes = time_classes;
  c.drop_terminations = drop_terminations;
  c.min_plies = min_plies;
  c.allow_chess960 = allow_chess960;
  c.keep_unfinished = keep_unfinished;
  c.keep_partial = keep_partial;
  c.val_fraction = val_fraction;
  return c;
}

py::dict columns_dict(pgn::SplitColumns&& c, bool wide) {
  py::dict d;
  if (wide)
    d["tokens"] = owned_array(std::move(c.tokens16));
  else
    d["tokens"] = owned_array(std::move(c.tokens8));
  d["offsets"] = owned_array(std::move(c.offsets));
  d["white_elo"] = owned_array(std::move(c.white_elo));
  d["black_elo"] = owned_array(std::move(c.black_elo));
  d["result"] = owned_array(std::move(c.result));
  d["tc_base"] = owned_array(std::move(c.tc_base));
  d["tc_inc"] = owned_array(std::move(c.tc_inc));
  d["time_class"] = owned_array(std::move(c.time_class));
  d["termination"] = owned_array(std::move(c.termination));
  d["plies"] = owned_array(std::move(c.plies));
  d["byte_offset"] = owned_array(std::move(c.byte_offset));
  d["game_hash"] = owned_array(std::move(c.game_hash));
  d["ordinal"] = owned_array(std::move(c.ordinal));
  return d;
}

template <size_t N>
py::dict counts_dict(const std::array<uint64_t, N>& a, std::string_view (*name)(int)) {
  py::dict d;
  for (size_t i = 0; i < N; ++i)
    if (a[i]) d[py::str(std::string(name(int(i))))] = a[i];
  return d;
}

}  // namespace

void bind_pgn(py::module_& m) {
  py::list drops, classes, parse_codes, replay_codes;
  for (int i = 0; i < pgn::kNumDropReasons; ++i)
    drops.append(std::string(pgn::drop_reason_name(pgn::DropReason(i))));
  for (int i = 0; i < pgn::kNumTimeClasses; ++i)
    classes.append(std::string(pgn::time_class_name(pgn::TimeClass(i))));
  for (int i = 0; i < pgn::kNumErrorCodes; ++i)
    parse_codes.append(std::string(pgn::error_name(pgn::ErrorCode(i))));
  for (int i = 0; i < pgn::kNumReplayCodes; ++i)
    replay_codes.append(std::string(pgn::replay_code_name(pgn::ReplayCode(i))));
  m.attr("PREP_DROP_REASONS") = drops;
  m.attr("PREP_TIME_CLASSES") = classes;
  m.attr("PGN_ERROR_CODES") = parse_codes;
  m.attr("REPLAY_ERROR_CODES") = replay_codes;

  m.def(
      "read_chunk",
      [](const py::object& data, bool more_follows, uint64_t base_offset, bool annotations, bool chess960,
         bool san) {
        std::vector<py::buffer_info> infos;
        pgn::ChunkSource source(chunk_parts(data, infos), more_follows);  // the chunk protocol of prep_chunk
        Collector collector(annotations, chess960, san, source.size(), base_offset);
        {
          py::gil_scoped_release release;
          thread_local pgn::Parser parser;  // its buffer reused by every chunk of this thread
          parser.parse(source, collector);
        }
        py::list out;
        for (GameRecord& g : collector.games) {
          py::list tags;
          for (auto& [k, v] : g.tags) tags.append(py::make_tuple(to_bytes(k), to_bytes(v)));
          py::object replay_error = py::none();
          if (g.replay_error.code != pgn::ReplayCode::kNone)
            replay_error =
                py::make_tuple(std::string(pgn::replay_code_name(g.replay_error.code)), g.replay_error.ply,
                               to_bytes(g.replay_error.token), g.replay_error.offset, true);
          py::list perrs;
          for (auto& e : g.parse_errors) perrs.append(parse_error_tuple(e));
          py::object evals = py::none(), clocks = py::none();
          auto any_value = [](const std::vector<float>& v) {
            for (float x : v)
              if (!std::isnan(x)) return true;
            return false;
          };
          if (annotations && any_value(g.evals)) evals = py::cast(g.evals);
          if (annotations && any_value(g.clocks)) clocks = py::cast(g.clocks);
          py::object sans = py::none();
          if (san) {
            // ";1.e4 e5 2.Nf3" -> ["e4", "e5", "Nf3"]
            py::list l;
            std::string_view t(g.transcript);
            if (!t.empty()) t.remove_prefix(1);
            while (!t.empty()) {
              size_t sp = t.find(' ');
              std::string_view tok = t.substr(0, sp);
              const size_t dot = tok.find('.');
              if (dot != std::string_view::npos) tok.remove_prefix(dot + 1);
              l.append(py::str(tok.data(), tok.size()));
              if (sp == std::string_view::npos) break;
              t.remove_prefix(sp + 1);
            }
            sans = l;
          }
          out.append(py::make_tuple(g.offset, tags, uci_list(g.uci), replay_error, perrs, evals, clocks,
                                    g.result, g.ok, g.chess960, g.start_fen, sans));
        }
        return out;
      },
      py::arg("data"), py::arg("more_follows"), py::arg("base_offset") = 0, py::arg("annotations") = true,
      py::arg("chess960") = true, py::arg("san") = false,
      "Parse and replay the games of a chunk (bytes-like, or a list of bytes-like pieces): a list of "
      "(offset, tags, uci_moves, replay_error, "
      "parse_errors, evals, clocks, result, ok, chess960, start_fen, san_moves).");

  // The input thread of prep and read_games (pgn_input.InputStream): blocks of a regular file, read
  // and zstd-decompressed ahead on a thread of its own, handed out as read-only buffers (views of
  // them keep the block alive; its memory is reused once the last view is gone).
  py::class_<pgn::Block, std::shared_ptr<pgn::Block>>(m, "Block", py::buffer_protocol())
      .def_buffer([](pgn::Block& b) {
        return py::buffer_info(const_cast<char*>(b.data()), 1, py::format_descriptor<uint8_t>::format(), 1,
                               {py::ssize_t(b.size())}, {py::ssize_t(1)}, /*readonly=*/true);
      })
      .def("__len__", &pgn::Block::size);
  py::class_<pgn::BlockReader>(m, "BlockReader")
      .def(py::init<int, uint64_t, bool, size_t, size_t, size_t>(), py::arg("fd"), py::arg("offset"),
           py::arg("zstd"), py::arg("block_size"), py::arg("raw_size"), py::arg("depth"),
           "Read `fd` (kept open by the caller until close()) from `offset` on a thread of its own, "
           "zstd-decompressed if `zstd`, in blocks of `block_size` bytes, up to `depth` ahead.")
      .def(
          "next",
          [](pgn::BlockReader& r) -> py::object {
            std::shared_ptr<pgn::Block> b;
            {
              py::gil_scoped_release release;
              b = r.next();
            }
            if (!b) return py::none();
            return py::cast(std::move(b));
          },
          "The next block (a read-only buffer), or None at the end of the stream or after an error.")
      .def(
          "close",
          [](pgn::BlockReader& r) {
            py::gil_scoped_release release;
            r.close();
          },
          "Stop the thread and wait for it.")
      .def_property_readonly("error", &pgn::BlockReader::error)
      .def_property_readonly("error_kind", &pgn::BlockReader::error_kind)
      .def_property_readonly("raw_end", &pgn::BlockReader::raw_end)
      .def_property_readonly("producer_wait_s", &pgn::BlockReader::producer_wait_s)
      .def_property_readonly("consumer_wait_s", &pgn::BlockReader::consumer_wait_s)
      .def_static("zstd_available", &pgn::BlockReader::zstd_available,
                  "Whether libzstd could be loaded (else zstd input is read by python-zstandard).");

  m.def(
      "find_bytes",
      [](const py::buffer& data, const py::bytes& pattern, bool last) -> py::ssize_t {
        py::buffer_info info;
        const std::string_view hay = buffer_view(data, info);
        const std::string_view pat = pattern;
        if (pat.empty()) return last ? py::ssize_t(hay.size()) : 0;
        if (pat.size() > hay.size()) return -1;
        if (!last) {
          const size_t i = hay.find(pat);
          return i == std::string_view::npos ? -1 : py::ssize_t(i);
        }
#if defined(__GLIBC__)
        // backwards: the pattern's first byte by memrchr, then the rest compared
        size_t end = hay.size() - pat.size() + 1;  // candidates are [0, end)
        while (end > 0) {
          const void* r = memrchr(hay.data(), pat[0], end);
          if (r == nullptr) return -1;
          const size_t i = size_t(static_cast<const char*>(r) - hay.data());
          if (std::memcmp(hay.data() + i, pat.data(), pat.size()) == 0) return py::ssize_t(i);
          end = i;
        }
        return -1;
#else
        const size_t i = hay.rfind(pat);
        return i == std::string_view::npos ? -1 : py::ssize_t(i);
#endif
      },
      py::arg("data"), py::arg("pattern"), py::arg("last") = false,
      "The first (or with `last`, the last) position of `pattern` in a bytes-like `data`, or -1 "
      "(bytes.find / bytes.rfind for any buffer, without a copy).");

  m.def(
      "prep_chunk",
      [](const py::object& data, bool more_follows, uint64_t base_offset, const std::string& tokenizer,
         int max_elo, int min_elo, bool keep_unknown_elo, uint32_t time_classes,
         const std::vector<std::string>& drop_terminations, int min_plies, bool allow_chess960,
         bool keep_unfinished, bool keep_partial, double val_fraction) {
        const pgn::PrepConfig cfg =
            make_config(tokenizer, max_elo, min_elo, keep_unknown_elo, time_classes, drop_terminations,
                        min_plies, allow_chess960, keep_unfinished, keep_partial, val_fraction);
        std::vector<py::buffer_info> infos;
        const std::vector<std::string_view> parts = chunk_parts(data, infos);
        pgn::PrepOutput out;
        {
          py::gil_scoped_release release;
          out = pgn::prep_chunk(cfg, parts, more_follows, base_offset);
        }
        const bool wide = cfg.tokenizer != pgn::TokenizerKind::kChar;
        py::dict d;
        d["train"] = columns_dict(std::move(out.split[0]), wide);
        d["val"] = columns_dict(std::move(out.split[1]), wide);
        const pgn::PrepStats& s = out.stats;
        py::dict stats;
        stats["bytes"] = s.bytes;
        stats["games"] = s.games;
        stats["kept"] = s.kept;
        stats["plies_replayed"] = s.plies_replayed;
        stats["plies_kept"] = s.plies_kept;
        stats["tokens_kept"] = s.tokens_kept;
        stats["dropped"] =
            counts_dict(s.dropped, [](int i) { return pgn::drop_reason_name(pgn::DropReason(i)); });
        stats["parse_errors"] =
            counts_dict(s.parse_errors, [](int i) { return pgn::error_name(pgn::ErrorCode(i)); });
        stats["replay_errors"] =
            counts_dict(s.replay_errors, [](int i) { return pgn::replay_code_name(pgn::ReplayCode(i)); });
        d["stats"] = stats;
        return d;
      },
      py::arg("data"), py::arg("more_follows"), py::arg("base_offset"), py::arg("tokenizer"),
      py::arg("max_elo") = -1, py::arg("min_elo") = -1, py::arg("keep_unknown_elo") = false,
      py::arg("time_classes") = (1u << pgn::kNumTimeClasses) - 1,
      py::arg("drop_terminations") = std::vector<std::string>{"Abandoned", "Unterminated"},
      py::arg("min_plies") = 0, py::arg("allow_chess960") = false, py::arg("keep_unfinished") = false,
      py::arg("keep_partial") = false, py::arg("val_fraction") = 0.05,
      "Parse, filter and tokenize a chunk (bytes-like, or a list of pieces): {'train': columns, 'val': "
      "columns, 'stats': counts}.");
}

}  // namespace chess::bindings
