// chessformer._core: the C++ chess core as a Python extension. Each bind_*.cpp binds one area.
#include "bindings/bindings.h"

namespace cb = chess::bindings;

PYBIND11_MODULE(_core, m) {
  m.doc() = "chessformer's C++ core: positions, legal moves, notations, perft and batch APIs.";
  cb::bind_exceptions(m);
  cb::bind_board(m);
  cb::bind_batch(m);
  cb::bind_tokenize(m);
  cb::bind_pgn(m);
  cb::bind_infer(m);
  cb::bind_features(m);
}
