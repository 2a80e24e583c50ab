// XLA FFI bindings of the event-driven projection (see event_kernels.h).
//
// Operands: w (K, N) with optional vmap dimensions in front; x (..., K) whose leading dimensions
// start with w's vmap dimensions, the rest being rows (e.g. time and batch).
//   project: x, w -> out (..., N)        grad_w: x, g (..., N) -> dw (K, N)
#include <algorithm>
#include <vector>

#include "event_kernels.h"
#include "ffi_shapes.h"
#include "handlers.h"
#include "parallel.h"

namespace jaxsnn {
namespace {

using F32 = ffi::Buffer<ffi::F32>;
using F32Out = ffi::ResultBuffer<ffi::F32>;
constexpr char kProject[] = "jaxsnn_event_project";
constexpr char kGradW[] = "jaxsnn_event_project_grad_w";

// Problem layout: G independent (M, K) x (K, N) products.
struct EventDims {
  int64_t G, M, K, N;
};

// Validates x (lead + rows + (K,)), w (lead + (K, N)) and `other` (lead + rows + (N,)).
ffi::Error Layout(std::string_view op, Dims x, Dims w, std::string_view other_name, Dims other,
                  EventDims& d) {
  if (w.size() < 2 || x.size() + 1 < w.size()) {
    return ffi::Error::InvalidArgument(std::string(op) + ": expected x (..., K) and w (K, N)");
  }
  const Leading lead(w, 2);
  const size_t l = lead.dims.size();
  d = {lead.count, Product(x, l, x.size() - 1), w[w.size() - 2], w[w.size() - 1]};
  const auto rows_then = [&](int64_t last) {
    std::vector<int64_t> dims(x.begin() + l, x.end() - 1);
    dims.push_back(last);
    return dims;
  };
  ShapeCheck check(op, lead);
  check.Expect("x", x, {rows_then(d.K)}).Expect(other_name, other, {rows_then(d.N)});
  return check.failed() ? check.error() : ffi::Error::Success();
}

ffi::Error EventProjectImpl(ffi::ThreadPool pool, F32 x, F32 w, F32Out out) {
  EventDims d;
  if (ffi::Error e = Layout(kProject, x.dimensions(), w.dimensions(), "out", out->dimensions(), d);
      e.failure()) {
    return e;
  }
  const int64_t chunks = ChunkCount(d.M, d.K + d.N);
  ParallelFor(pool, d.G * chunks, [&](int64_t item) {
    const int64_t g = item / chunks;
    const auto [r0, r1] = ChunkRange(d.M, chunks, item % chunks);
    EventProject(x.typed_data() + g * d.M * d.K, w.typed_data() + g * d.K * d.N,
                 out->typed_data() + g * d.M * d.N, d.K, d.N, r0, r1);
  });
  return ffi::Error::Success();
}

ffi::Error EventProjectGradWImpl(ffi::ThreadPool pool, F32 x, F32 g, F32Out dw) {
  EventDims d;
  if (ffi::Error e = Layout(kGradW, x.dimensions(), dw->dimensions(), "g", g.dimensions(), d);
      e.failure()) {
    return e;
  }
  // x's nonzeros by row, in row-chunk pieces built in parallel; then each chunk of the product
  // owns a range of dw's columns.
  const int64_t pieces = ChunkCount(d.M, d.K);
  std::vector<SparseRows> rows(d.G * pieces);
  ParallelFor(pool, d.G * pieces, [&](int64_t item) {
    const auto [r0, r1] = ChunkRange(d.M, pieces, item % pieces);
    CompressRows(x.typed_data() + (item / pieces) * d.M * d.K, d.K, r0, r1, rows[item]);
  });
  const int64_t blocks = (d.N + kGradColumnBlock - 1) / kGradColumnBlock;
  const int64_t chunks = ChunkCount(blocks, d.K * d.M * kGradColumnBlock);
  ParallelFor(pool, d.G * chunks, [&](int64_t item) {
    const int64_t p = item / chunks;
    const auto [first, last] = ChunkRange(blocks, chunks, item % chunks);
    EventProjectGradW(rows.data() + p * pieces, pieces, g.typed_data() + p * d.M * d.N,
                      dw->typed_data() + p * d.K * d.N, d.K, d.N, first * kGradColumnBlock,
                      std::min(d.N, last * kGradColumnBlock));
  });
  return ffi::Error::Success();
}

}  // namespace
}  // namespace jaxsnn

namespace ffi = xla::ffi;

XLA_FFI_DEFINE_HANDLER_SYMBOL(JaxsnnEventProject, jaxsnn::EventProjectImpl,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::ThreadPool>()
                                  .Arg<ffi::Buffer<ffi::F32>>()  // x
                                  .Arg<ffi::Buffer<ffi::F32>>()  // w
                                  .Ret<ffi::Buffer<ffi::F32>>());  // out

XLA_FFI_DEFINE_HANDLER_SYMBOL(JaxsnnEventProjectGradW, jaxsnn::EventProjectGradWImpl,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::ThreadPool>()
                                  .Arg<ffi::Buffer<ffi::F32>>()  // x
                                  .Arg<ffi::Buffer<ffi::F32>>()  // g
                                  .Ret<ffi::Buffer<ffi::F32>>());  // dw
