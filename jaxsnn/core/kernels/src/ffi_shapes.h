// Shape checks shared by the FFI handlers.
//
// Every handler accepts extra leading dimensions: under jax.vmap the ffi_call is batched with
// vmap_method="broadcast_all", which prepends the same vmap dimensions to every operand and
// result. The handler runs one independent problem per leading index.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "xla/ffi/api/ffi.h"

namespace jaxsnn {

namespace ffi = xla::ffi;
using Dims = ffi::AnyBuffer::Dimensions;

inline int64_t Product(Dims dims, size_t begin, size_t end) {
  int64_t p = 1;
  for (size_t i = begin; i < end; ++i) p *= dims[i];
  return p;
}

inline std::string Format(const std::vector<int64_t>& dims) {
  std::ostringstream s;
  s << "(";
  for (size_t i = 0; i < dims.size(); ++i) s << (i ? ", " : "") << dims[i];
  s << (dims.size() == 1 ? ",)" : ")");
  return s.str();
}

// The vmap dimensions of an operand whose own rank is `core_rank`.
struct Leading {
  std::vector<int64_t> dims;
  int64_t count = 1;  // number of independent problems

  Leading(Dims full, size_t core_rank) : dims(full.begin(), full.end() - core_rank) {
    for (int64_t d : dims) count *= d;
  }
};

// Collects shape checks of one call; the first mismatch becomes an InvalidArgument error that
// names the op, the operand, its shape and the accepted shapes.
class ShapeCheck {
 public:
  ShapeCheck(std::string_view op, const Leading& lead) : op_(op), lead_(lead) {}

  // Requires dims == leading dims + one of the `allowed` core shapes.
  ShapeCheck& Expect(std::string_view what, Dims dims,
                     std::initializer_list<std::vector<int64_t>> allowed) {
    if (!message_.empty()) return *this;
    const std::vector<int64_t> actual(dims.begin(), dims.end());
    std::string expected;
    for (const std::vector<int64_t>& core : allowed) {
      std::vector<int64_t> full = lead_.dims;
      full.insert(full.end(), core.begin(), core.end());
      if (full == actual) return *this;
      expected += (expected.empty() ? "" : " or ") + Format(full);
    }
    message_ = std::string(op_) + ": " + std::string(what) + " has shape " + Format(actual) +
               ", expected " + expected;
    return *this;
  }

  bool failed() const { return !message_.empty(); }
  ffi::Error error() const { return ffi::Error::InvalidArgument(message_); }

 private:
  std::string_view op_;
  const Leading& lead_;
  std::string message_;
};

}  // namespace jaxsnn
