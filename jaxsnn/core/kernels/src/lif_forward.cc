// LIF forward pass: time-major loop, batch rows [b0, b1), one neuron slab per row and step.
#include <algorithm>
#include <vector>

#include "lif_kernels.h"
#include "simd.h"
#include "sparse.h"
#include "vec.h"

namespace jaxsnn {
namespace {

// One step of one row: v <- new voltage, z <- spike. rec is z[t-1] @ w_rec (if kRec).
// Operation order mirrors reference.lif_step term by term; no control flow, so it vectorizes.
template <Reset R, bool kRec>
void StepRow(const float* __restrict current, const float* __restrict rec,
             const float* __restrict z_prev, const float* __restrict alpha,
             const float* __restrict theta, float* __restrict v, float* __restrict z, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float leak = alpha[i] * v[i];
    float x = leak + current[i];
    if constexpr (kRec) x = x + rec[i];
    if constexpr (R == Reset::kSubtract) {
      x = x - theta[i] * z_prev[i];
    } else {
      x = x - leak * z_prev[i];
    }
    v[i] = x;
    z[i] = (x - theta[i]) > 0.0f ? 1.0f : 0.0f;
  }
}

template <Reset R>
void Forward(const LifDims& d, const LifInputs& in, const LifForwardOutputs& out, int64_t b0,
             int64_t b1) {
  const int64_t N = d.N, slab = d.B * d.N;
  std::vector<float> rec(in.w_rec != nullptr ? N : 0);
  SparseRows active;  // neurons that spiked at t-1
  // v_final doubles as the running voltage of each row.
  std::copy(in.v0 + b0 * N, in.v0 + b1 * N, out.v_final + b0 * N);
  for (int64_t t = 0; t < d.T; ++t) {
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t row = t * slab + b * N;
      const float* z_prev = t > 0 ? out.spikes + row - slab : in.z0 + b * N;
      float* v = out.v_final + b * N;
      if (in.w_rec != nullptr) {  // z[t-1] @ w_rec over the neurons that spiked
        CompressRows(z_prev, N, 0, 1, active);
        CombineRows(rec.data(), active.index.data(), active.value.data(), 0, active.index.size(),
                    in.w_rec, N);
        StepRow<R, true>(in.currents + row, rec.data(), z_prev, in.alpha, in.theta, v,
                         out.spikes + row, N);
      } else {
        StepRow<R, false>(in.currents + row, nullptr, z_prev, in.alpha, in.theta, v,
                          out.spikes + row, N);
      }
      if (out.voltages != nullptr) std::copy(v, v + N, out.voltages + row);
    }
  }
  const float* z_last = d.T > 0 ? out.spikes + (d.T - 1) * slab : in.z0;
  std::copy(z_last + b0 * N, z_last + b1 * N, out.z_final + b0 * N);
}

}  // namespace

JAXSNN_SIMD_CLONES
void LifForward(const LifDims& dims, Reset reset, const LifInputs& in, const LifForwardOutputs& out,
                int64_t b0, int64_t b1) {
  if (reset == Reset::kSubtract) {
    Forward<Reset::kSubtract>(dims, in, out, b0, b1);
  } else {
    Forward<Reset::kZero>(dims, in, out, b0, b1);
  }
}

}  // namespace jaxsnn
