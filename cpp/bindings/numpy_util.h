// numpy arrays that take ownership of C++ vectors: no copy, the capsule frees the vector.
#pragma once

#include <pybind11/numpy.h>

#include <vector>

namespace chess::bindings {

// A C-contiguous array of the given shape (default: 1-D) over the moved-in vector's buffer.
template <typename T>
pybind11::array_t<T> owned_array(std::vector<T>&& v, std::vector<pybind11::ssize_t> shape = {}) {
  auto* heap = new std::vector<T>(std::move(v));
  pybind11::capsule owner(heap, [](void* p) { delete static_cast<std::vector<T>*>(p); });
  if (shape.empty()) shape = {pybind11::ssize_t(heap->size())};
  std::vector<pybind11::ssize_t> strides(shape.size());
  pybind11::ssize_t stride = sizeof(T);
  for (size_t i = shape.size(); i-- > 0;) {
    strides[i] = stride;
    stride *= shape[i];
  }
  return pybind11::array_t<T>(shape, strides, heap->data(), owner);
}

}  // namespace chess::bindings
