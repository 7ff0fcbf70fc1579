// Board-feature bindings: move-tokenizer rows -> (features, value targets) numpy arrays, computed
// with the GIL released (the training loader calls this for every batch).
#include <pybind11/numpy.h>

#include <string>

#include "bindings/bindings.h"
#include "bindings/numpy_util.h"
#include "tokenize/board_features.h"

namespace chess::bindings {

namespace {

namespace tk = chess::tokenize;

template <typename Token>
py::tuple features_of(const py::array& rows, bool perspective) {
  auto a = py::array_t<Token, py::array::c_style>::ensure(rows);
  if (!a) throw py::type_error("board_features: tokens must be a 2-D integer array");
  const size_t n_rows = size_t(a.shape(0)), n_cols = size_t(a.shape(1));
  std::vector<int16_t> features(n_rows * n_cols * tk::MAX_FEATURES);
  std::vector<int8_t> values(n_rows * n_cols);
  tk::RowFeaturesStats stats;
  {
    py::gil_scoped_release release;
    stats = tk::row_features<Token>(a.data(), n_rows, n_cols, perspective, features.data(), values.data());
  }
  const auto r = py::ssize_t(n_rows), c = py::ssize_t(n_cols);
  return py::make_tuple(owned_array(std::move(features), {r, c, py::ssize_t(tk::MAX_FEATURES)}),
                        owned_array(std::move(values), {r, c}), stats.plies, stats.bad_tokens);
}

// Bit-packed legal-move masks (n_rows, n_cols, LEGAL_MASK_BYTES) of the positions the tokens leave.
template <typename Token>
py::array legal_masks_of(const py::array& rows) {
  auto a = py::array_t<Token, py::array::c_style>::ensure(rows);
  if (!a) throw py::type_error("board_legal_masks: tokens must be a 2-D integer array");
  const size_t n_rows = size_t(a.shape(0)), n_cols = size_t(a.shape(1));
  std::vector<uint8_t> legal(n_rows * n_cols * tk::LEGAL_MASK_BYTES);
  {
    py::gil_scoped_release release;
    std::vector<int16_t> features(n_rows * n_cols * tk::MAX_FEATURES);  // scratch
    std::vector<int8_t> values(n_rows * n_cols);
    tk::row_features<Token>(a.data(), n_rows, n_cols, false, features.data(), values.data(), legal.data());
  }
  return owned_array(std::move(legal),
                     {py::ssize_t(n_rows), py::ssize_t(n_cols), py::ssize_t(tk::LEGAL_MASK_BYTES)});
}

// Calls fn.template operator()<Token>(tokens) with the token dtype the array has (int64 otherwise).
template <typename Fn>
auto by_token_type(const py::array& tokens, const char* name, Fn fn) {
  if (tokens.ndim() != 2)
    throw py::value_error(std::string(name) + ": tokens must be 2-D (rows, tokens), got " +
                          std::to_string(tokens.ndim()) + "-D");
  const char kind = tokens.dtype().kind();
  const auto size = tokens.itemsize();
  if (kind == 'u' && size == 2) return fn(tokens, uint16_t{});
  if (kind == 'i' && size == 4) return fn(tokens, int32_t{});
  if ((kind == 'i' || kind == 'u') && size <= 8) {
    py::array as64 = py::array_t<int64_t, py::array::c_style | py::array::forcecast>::ensure(tokens);
    return fn(as64, int64_t{});
  }
  throw py::type_error(std::string(name) + ": tokens must be an integer array");
}

}  // namespace

void bind_features(py::module_& m) {
  m.attr("FEATURES_VOCAB") = tk::FEATURES_VOCAB;
  m.attr("FEATURE_PAD") = tk::FEATURE_PAD;
  m.attr("MAX_FEATURES") = tk::MAX_FEATURES;
  m.attr("LEGAL_MASK_BYTES") = tk::LEGAL_MASK_BYTES;

  m.def(
      "board_features",
      [](const py::array& tokens, bool perspective) {
        return by_token_type(tokens, "board_features", [&](const py::array& t, auto token) {
          return features_of<decltype(token)>(t, perspective);
        });
      },
      py::arg("tokens"), py::arg("perspective") = false,
      "Board features of move-tokenizer rows (n, T): (features int16 (n, T, MAX_FEATURES), value "
      "targets int8 (n, T), plies replayed, bad tokens). See docs/formats.md, 'Board features'.");
  m.def(
      "board_legal_masks",
      [](const py::array& tokens) {
        return by_token_type(tokens, "board_legal_masks", [](const py::array& t, auto token) {
          return legal_masks_of<decltype(token)>(t);
        });
      },
      py::arg("tokens"),
      "Bit-packed legal-move masks (n, T, LEGAL_MASK_BYTES) uint8 of move-tokenizer rows (n, T): the "
      "moves the token after each one may be (all bits set where no game goes on). See "
      "docs/formats.md, 'Board features'.");
}

}  // namespace chess::bindings
