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
  const int64_t chunks = ChunkCount(d.M, d.K + d.N, d.G);
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
  const int64_t chunks = ChunkCount(d.M, d.K + d.N, d.G);
  const int64_t size = d.K * d.N;
  // Chunk 0 of each problem accumulates straight into dw, the others into partial sums.
  std::vector<float> partial(d.G * (chunks - 1) * size, 0.0f);
  std::fill(dw->typed_data(), dw->typed_data() + d.G * size, 0.0f);
  auto target = [&](int64_t problem, int64_t chunk) {
    return chunk == 0 ? dw->typed_data() + problem * size
                      : partial.data() + (problem * (chunks - 1) + chunk - 1) * size;
  };
  ParallelFor(pool, d.G * chunks, [&](int64_t item) {
    const int64_t p = item / chunks, c = item % chunks;
    const auto [r0, r1] = ChunkRange(d.M, chunks, c);
    EventProjectGradW(x.typed_data() + p * d.M * d.K, g.typed_data() + p * d.M * d.N, target(p, c),
                      d.K, d.N, r0, r1);
  });
  for (int64_t p = 0; p < d.G; ++p) {
    for (int64_t c = 1; c < chunks; ++c) {
      const float* part = target(p, c);
      float* out = target(p, 0);
      for (int64_t i = 0; i < size; ++i) out[i] += part[i];
    }
  }
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
