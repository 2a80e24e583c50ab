// LIF backward pass (BPTT) for batch rows [b0, b1): reverse time loop over the forward residuals.
//
// Adjoints carried from step t+1 to step t live in the g_v0 / g_z0 output rows, which hold the
// gradient w.r.t. the initial state once the loop reaches t = 0. With delta = dL/dv[t]:
//   dL/du[t]      = (dz[t] carried + g_spikes[t]) * sg(v[t] - theta)
//   delta         = dv[t] carried + g_voltages[t] + dL/du[t],      dL/dI[t] = delta
//   subtract: dv[t-1] = alpha*delta, dz[t-1] = -theta*delta, dalpha += delta*v[t-1],
//             dtheta += -dL/du[t] - delta*z[t-1]
//   zero:     dv[t-1] = alpha*(1-z[t-1])*delta, dz[t-1] = -alpha*v[t-1]*delta,
//             dalpha += delta*v[t-1]*(1-z[t-1]), dtheta += -dL/du[t]
//   recurrent: dz[t-1] += delta @ w_rec^T       (dw_rec = sum_t z[t-1]^T delta, done afterwards)
// detach_reset drops the reset's dz[t-1] term, as stop_gradient does in the reference.
#include <algorithm>

#include "lif_kernels.h"
#include "surrogate.h"
#include "vec.h"

namespace jaxsnn {
namespace {

// Rows of w_rec per block of the delta @ w_rec^T product: 16 rows of 512 floats stay in L1 while
// every batch row of the range streams past them.
constexpr int64_t kRecBlock = 16;

template <Shape S, Reset R>
void BackwardRow(const LifBackwardInputs& in, bool detach_reset, int64_t n, int64_t row,
                 const float* __restrict v_prev, const float* __restrict z_prev,
                 float* __restrict delta, float* __restrict dv, float* __restrict dz,
                 double* __restrict acc_alpha, double* __restrict acc_theta) {
  const float* __restrict alpha = in.params.alpha;
  const float* __restrict theta = in.params.theta;
  const float* __restrict gamma = in.gamma;
  const float* __restrict beta = in.beta;
  const float* __restrict q = in.q;
  const float* __restrict v = in.voltages + row;
  const float* __restrict g_spikes = in.g_spikes + row;
  const float* __restrict g_voltages = in.g_voltages != nullptr ? in.g_voltages + row : nullptr;
  for (int64_t i = 0; i < n; ++i) {
    const float du =
        (dz[i] + g_spikes[i]) * SurrogateDerivative<S>(v[i] - theta[i], gamma[i], beta[i], q[i]);
    float d = dv[i] + du;
    if (g_voltages != nullptr) d += g_voltages[i];
    delta[i] = d;
    if constexpr (R == Reset::kSubtract) {
      acc_alpha[i] += static_cast<double>(d * v_prev[i]);
      acc_theta[i] -= static_cast<double>(du) + static_cast<double>(d * z_prev[i]);
      dv[i] = d * alpha[i];
      dz[i] = detach_reset ? 0.0f : -theta[i] * d;
    } else {
      const float keep = 1.0f - z_prev[i];
      acc_alpha[i] += static_cast<double>(d * v_prev[i] * keep);
      acc_theta[i] -= static_cast<double>(du);
      dv[i] = d * alpha[i] * keep;
      dz[i] = detach_reset ? 0.0f : -(alpha[i] * v_prev[i]) * d;
    }
  }
}

template <Shape S, Reset R>
void Backward(const LifDims& dims, bool detach_reset, const LifBackwardInputs& in,
              const LifBackwardOutputs& out, int64_t b0, int64_t b1) {
  const int64_t N = dims.N, slab = dims.B * dims.N;
  const float* w_rec = in.params.w_rec;
  std::copy(in.g_v_final + b0 * N, in.g_v_final + b1 * N, out.v0 + b0 * N);
  std::copy(in.g_z_final + b0 * N, in.g_z_final + b1 * N, out.z0 + b0 * N);
  for (int64_t t = dims.T - 1; t >= 0; --t) {
    const float* v_prev = t > 0 ? in.voltages + (t - 1) * slab : in.params.v0;
    const float* z_prev = t > 0 ? in.spikes + (t - 1) * slab : in.params.z0;
    float* delta = out.currents + t * slab;
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t off = b * N;
      BackwardRow<S, R>(in, detach_reset, N, t * slab + off, v_prev + off, z_prev + off,
                        delta + off, out.v0 + off, out.z0 + off, out.alpha_rows + off,
                        out.theta_rows + off);
    }
    if (w_rec == nullptr) continue;
    for (int64_t m0 = 0; m0 < N; m0 += kRecBlock) {
      const int64_t m1 = std::min(N, m0 + kRecBlock);
      for (int64_t b = b0; b < b1; ++b) {
        float* dz = out.z0 + b * N;
        for (int64_t m = m0; m < m1; ++m) dz[m] += Dot(delta + b * N, w_rec + m * N, N);
      }
    }
  }
}

}  // namespace

bool LifBackward(const LifDims& dims, int64_t shape, Reset reset, bool detach_reset,
                 const LifBackwardInputs& in, const LifBackwardOutputs& out, int64_t b0,
                 int64_t b1) {
  return DispatchShape(shape, [&](auto s) {
    if (reset == Reset::kSubtract) {
      Backward<decltype(s)::value, Reset::kSubtract>(dims, detach_reset, in, out, b0, b1);
    } else {
      Backward<decltype(s)::value, Reset::kZero>(dims, detach_reset, in, out, b0, b1);
    }
  });
}

void LifRecurrentWeightGrad(const LifDims& dims, const float* spikes, const float* z0,
                            const float* g_currents, float* g_w_rec, int64_t m0, int64_t m1) {
  const int64_t N = dims.N, slab = dims.B * dims.N;
  std::fill(g_w_rec + m0 * N, g_w_rec + m1 * N, 0.0f);
  for (int64_t t = 0; t < dims.T; ++t) {
    const float* z_prev = t > 0 ? spikes + (t - 1) * slab : z0;
    for (int64_t b = 0; b < dims.B; ++b) {
      const float* z = z_prev + b * N;
      const float* delta = g_currents + t * slab + b * N;
      for (int64_t m = m0; m < m1; ++m) {
        if (z[m] != 0.0f) Axpy(g_w_rec + m * N, z[m], delta, N);
      }
    }
  }
}

}  // namespace jaxsnn
