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
// z[t-1] is recomputed from v[t-1] (the forward's own comparison, hence exact) rather than read
// back: the loop is memory-bound and that saves one (T, B, N) stream.
#include <algorithm>
#include <type_traits>

#include "lif_kernels.h"
#include "simd.h"
#include "surrogate.h"
#include "vec.h"

namespace jaxsnn {
namespace {

// Rows of w_rec per block of the delta @ w_rec^T product: 16 rows of 512 floats stay in L1 while
// every batch row of the range streams past them.
constexpr int64_t kRecBlock = 16;

// kStoredZ: z[t-1] is given (t = 0: the initial state, any value) rather than a spike of v[t-1].
// kVoltageGrad: voltages were an output and have a cotangent. Both are template parameters (and
// reset_scale is 0 or 1 rather than a branch) so the loop has no control flow and vectorizes.
template <Shape S, Reset R, bool kStoredZ, bool kVoltageGrad>
void BackwardRow(const LifBackwardInputs& in, float reset_scale, int64_t n, int64_t row,
                 const float* __restrict v_prev, const float* __restrict z_prev,
                 float* __restrict delta, float* __restrict dv, float* __restrict dz,
                 float* __restrict acc_alpha, float* __restrict acc_theta) {
  const float* __restrict alpha = in.params.alpha;
  const float* __restrict theta = in.params.theta;
  const float* __restrict gamma = in.gamma;
  const float* __restrict beta = in.beta;
  const float* __restrict q = in.q;
  const float* __restrict v = in.voltages + row;
  const float* __restrict g_spikes = in.g_spikes + row;
  const float* __restrict g_voltages = kVoltageGrad ? in.g_voltages + row : nullptr;
  for (int64_t i = 0; i < n; ++i) {
    const float du =
        (dz[i] + g_spikes[i]) * SurrogateDerivative<S>(v[i] - theta[i], gamma[i], beta[i], q[i]);
    float d = dv[i] + du;
    if constexpr (kVoltageGrad) d += g_voltages[i];
    delta[i] = d;
    float zp;
    if constexpr (kStoredZ) {
      zp = z_prev[i];
    } else {
      zp = (v_prev[i] - theta[i]) > 0.0f ? 1.0f : 0.0f;
    }
    if constexpr (R == Reset::kSubtract) {
      acc_alpha[i] += d * v_prev[i];
      acc_theta[i] -= du + d * zp;
      dv[i] = d * alpha[i];
      dz[i] = -theta[i] * d * reset_scale;
    } else {
      const float keep = 1.0f - zp;
      acc_alpha[i] += d * v_prev[i] * keep;
      acc_theta[i] -= du;
      dv[i] = d * alpha[i] * keep;
      dz[i] = -(alpha[i] * v_prev[i]) * d * reset_scale;
    }
  }
}

template <Shape S, Reset R, bool kVoltageGrad>
void Backward(const LifDims& dims, float reset_scale, const LifBackwardInputs& in,
              const LifBackwardOutputs& out, int64_t b0, int64_t b1) {
  const int64_t N = dims.N, slab = dims.B * dims.N;
  const float* w_rec = in.params.w_rec;
  std::copy(in.g_v_final + b0 * N, in.g_v_final + b1 * N, out.v0 + b0 * N);
  std::copy(in.g_z_final + b0 * N, in.g_z_final + b1 * N, out.z0 + b0 * N);
  for (int64_t t = dims.T - 1; t >= 0; --t) {
    const float* v_prev = t > 0 ? in.voltages + (t - 1) * slab : in.params.v0;
    float* delta = out.currents + t * slab;
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t off = b * N;
      const auto row = [&](auto stored_z) {
        BackwardRow<S, R, decltype(stored_z)::value, kVoltageGrad>(
            in, reset_scale, N, t * slab + off, v_prev + off, in.params.z0 + off, delta + off,
            out.v0 + off, out.z0 + off, out.alpha_rows + off, out.theta_rows + off);
      };
      if (t > 0) {
        row(std::false_type{});
      } else {
        row(std::true_type{});
      }
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

JAXSNN_SIMD_CLONES
bool LifBackward(const LifDims& dims, int64_t shape, Reset reset, bool detach_reset,
                 const LifBackwardInputs& in, const LifBackwardOutputs& out, int64_t b0,
                 int64_t b1) {
  // detach_reset multiplies the reset's dz term by 0 (sign of a zero aside, same as dropping it).
  const float reset_scale = detach_reset ? 0.0f : 1.0f;
  return DispatchShape(shape, [&](auto s) {
    constexpr Shape kShape = decltype(s)::value;
    const auto run = [&](auto reset_tag, auto voltage_grad) {
      Backward<kShape, decltype(reset_tag)::value, decltype(voltage_grad)::value>(
          dims, reset_scale, in, out, b0, b1);
    };
    const bool voltage_grad = in.g_voltages != nullptr;
    using Subtract = std::integral_constant<Reset, Reset::kSubtract>;
    using Zero = std::integral_constant<Reset, Reset::kZero>;
    if (reset == Reset::kSubtract) {
      voltage_grad ? run(Subtract{}, std::true_type{}) : run(Subtract{}, std::false_type{});
    } else {
      voltage_grad ? run(Zero{}, std::true_type{}) : run(Zero{}, std::false_type{});
    }
  });
}

JAXSNN_SIMD_CLONES
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
