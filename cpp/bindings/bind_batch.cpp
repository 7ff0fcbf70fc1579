// The move vocabulary and the batch legal-move API used by the inference engine.
//
// Batch calls gather their inputs under the GIL, then run with it released (and, for large
// batches, on several threads); results come back as numpy arrays that own C++ buffers (no copy).
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <thread>
#include <vector>

#include "bindings/bindings.h"
#include "bindings/numpy_util.h"
#include "core/position.h"
#include "core/vocab.h"

namespace chess::bindings {

namespace {

using chess::Position;

// Run fn(i) for i in [0, n), split across threads when the batch is large enough to pay for them.
template <typename Fn>
void parallel_for(size_t n, Fn fn) {
  const size_t hw = std::max(1u, std::thread::hardware_concurrency());
  const size_t workers = std::min<size_t>(hw, n / 256);
  if (workers <= 1) {
    for (size_t i = 0; i < n; ++i) fn(i);
    return;
  }
  std::vector<std::thread> threads;
  const size_t chunk = (n + workers - 1) / workers;
  for (size_t w = 0; w < workers; ++w)
    threads.emplace_back([&, w] {
      for (size_t i = w * chunk; i < std::min(n, (w + 1) * chunk); ++i) fn(i);
    });
  for (auto& t : threads) t.join();
}

struct LegalIds {
  std::vector<int16_t> ids;
  std::vector<int64_t> offsets;
};

// Legal move ids of each position; positions are read-only for the duration of the call.
LegalIds legal_ids(const std::vector<const Position*>& positions) {
  const size_t n = positions.size();
  std::vector<std::vector<int16_t>> per(n);
  parallel_for(n, [&](size_t i) {
    const Position& p = *positions[i];
    chess::MoveList list = p.legal_moves();
    per[i].reserve(list.size());
    for (chess::Move m : list) per[i].push_back(int16_t(chess::vocab::id_of(p.state(), m, p.chess960())));
    std::sort(per[i].begin(), per[i].end());
  });
  LegalIds out;
  out.offsets.resize(n + 1);
  out.offsets[0] = 0;
  for (size_t i = 0; i < n; ++i) out.offsets[i + 1] = out.offsets[i] + int64_t(per[i].size());
  out.ids.reserve(size_t(out.offsets[n]));
  for (auto& v : per) out.ids.insert(out.ids.end(), v.begin(), v.end());
  return out;
}

py::array mask_from(const LegalIds& li, size_t n, bool packed) {
  const size_t width = packed ? (chess::vocab::NUM_MOVES + 7) / 8 : chess::vocab::NUM_MOVES;
  std::vector<uint8_t> mask(n * width, 0);
  for (size_t i = 0; i < n; ++i)
    for (int64_t k = li.offsets[i]; k < li.offsets[i + 1]; ++k) {
      const int id = li.ids[size_t(k)];
      if (packed)
        mask[i * width + size_t(id >> 3)] |= uint8_t(1u << (id & 7));
      else
        mask[i * width + size_t(id)] = 1;
    }
  py::array arr = owned_array(std::move(mask), {py::ssize_t(n), py::ssize_t(width)});
  return packed ? arr : arr.attr("view")("bool").cast<py::array>();
}

std::vector<const Position*> boards_from(const py::sequence& boards, std::vector<py::object>& keep) {
  std::vector<const Position*> out;
  out.reserve(py::len(boards));
  for (py::handle h : boards) {
    py::object obj = py::reinterpret_borrow<py::object>(h);
    // Accept the facade (which holds ._board) as well as the raw binding object.
    if (py::hasattr(obj, "_board")) obj = obj.attr("_board");
    out.push_back(&obj.cast<const Position&>());
    keep.push_back(std::move(obj));
  }
  return out;
}

// Replay games given as UCI move lists; errors name the game and the ply.
std::vector<Position> replay_games(const std::vector<std::vector<std::string>>& games,
                                   const std::vector<std::string>& fens, bool chess960) {
  std::vector<Position> out;
  out.reserve(games.size());
  for (size_t g = 0; g < games.size(); ++g) {
    const std::string& fen = fens.empty() ? std::string(Position::START_FEN) : fens[g];
    Position p = Position::from_fen(fen, chess960);
    for (size_t ply = 0; ply < games[g].size(); ++ply) {
      chess::Move m;
      const chess::ParseStatus st = p.try_parse_uci(games[g][ply], m);
      if (st != chess::ParseStatus::OK)
        throw chess::IllegalMoveError("game " + std::to_string(g) + ", ply " + std::to_string(ply + 1) +
                                      ": " + (st == chess::ParseStatus::INVALID ? "invalid" : "illegal") +
                                      " UCI move '" + games[g][ply] + "' in " + p.fen());
      p.push(m);
    }
    out.push_back(std::move(p));
  }
  return out;
}

}  // namespace

void bind_batch(py::module_& m) {
  m.attr("NUM_MOVES") = chess::vocab::NUM_MOVES;
  m.def(
      "move_vocab",
      [] {
        std::vector<std::string> out;
        for (int i = 0; i < chess::vocab::NUM_MOVES; ++i) out.push_back(chess::vocab::uci_of(i));
        return out;
      },
      "The 1968 UCI strings of the move vocabulary, in id order.");
  m.def(
      "move_id",
      [](int from, int to, int promotion) {
        return chess::vocab::id_of(from, to, chess::PieceType(promotion));
      },
      py::arg("from_square"), py::arg("to_square"), py::arg("promotion") = 0,
      "Vocabulary id of a (from, to, promotion) triple, or -1.");

  m.def(
      "legal_move_ids",
      [](const py::sequence& boards) {
        std::vector<py::object> keep;
        auto positions = boards_from(boards, keep);
        LegalIds li;
        {
          // Safe: `keep` holds every board alive and the call only reads them.
          py::gil_scoped_release release;
          li = legal_ids(positions);
        }
        return py::make_tuple(owned_array(std::move(li.ids), {py::ssize_t(li.ids.size())}),
                              owned_array(std::move(li.offsets), {py::ssize_t(positions.size() + 1)}));
      },
      py::arg("boards"),
      "Legal move ids of each board: (ids int16 flat, offsets int64 of length N + 1), ids sorted per board.");
  m.def(
      "legal_move_mask",
      [](const py::sequence& boards, bool packed) {
        std::vector<py::object> keep;
        auto positions = boards_from(boards, keep);
        LegalIds li;
        {
          py::gil_scoped_release release;
          li = legal_ids(positions);
        }
        return mask_from(li, positions.size(), packed);
      },
      py::arg("boards"), py::arg("packed") = false,
      "Legal-move mask (N, 1968) bool, or bit-packed (N, 246) uint8 (little bit order) when packed.");
  m.def(
      "legal_move_mask_games",
      [](const std::vector<std::vector<std::string>>& games, const std::vector<std::string>& fens,
         bool chess960, bool packed) {
        if (!fens.empty() && fens.size() != games.size())
          throw py::value_error("got " + std::to_string(fens.size()) + " start FENs for " +
                                std::to_string(games.size()) + " games");
        std::vector<Position> positions;
        LegalIds li;
        {
          // Pure C++ on copies of the inputs.
          py::gil_scoped_release release;
          positions = replay_games(games, fens, chess960);
          std::vector<const Position*> ptrs;
          for (auto& p : positions) ptrs.push_back(&p);
          li = legal_ids(ptrs);
        }
        return mask_from(li, positions.size(), packed);
      },
      py::arg("games"), py::arg("fens") = std::vector<std::string>{}, py::arg("chess960") = false,
      py::arg("packed") = false, "Legal-move masks of the final positions of games given as UCI move lists.");
}

}  // namespace chess::bindings
