// Declarations shared by the binding translation units; module.cpp only wires them together.
#pragma once

#include <pybind11/pybind11.h>

namespace chess::bindings {
namespace py = pybind11;

void bind_exceptions(py::module_& m);
void bind_board(py::module_& m);
void bind_batch(py::module_& m);
void bind_tokenize(py::module_& m);
void bind_pgn(py::module_& m);
void bind_infer(py::module_& m);
void bind_features(py::module_& m);

}  // namespace chess::bindings
