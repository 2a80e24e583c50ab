// LIF forward and backward loops for ONE problem (one vmap element) over a range of batch rows.
//
// Batch rows never interact (the recurrence z[t-1] @ w_rec mixes neurons, not rows), so a caller
// may run disjoint row ranges concurrently; gradients of shared parameters go to per-range
// accumulators that the caller reduces. The equations are those of jaxsnn/core/reference.py:
//   subtract: v[t] = alpha*v[t-1] + I[t] + z[t-1] @ w_rec - theta*z[t-1]
//   zero:     v[t] = alpha*v[t-1] + I[t] + z[t-1] @ w_rec - alpha*v[t-1]*z[t-1]
//   z[t] = H(v[t] - theta)
// evaluated term by term in the reference's float32 operation order (XLA may still fuse alpha*v + I
// into one FMA, so voltages can differ from it by an ulp; spikes only at exact near-ties).
#pragma once

#include <cstdint>

namespace jaxsnn {

enum class Reset : int64_t { kSubtract = 0, kZero = 1 };

struct LifDims {
  int64_t T, B, N;
};

// Inputs of the forward pass; all arrays row-major float32.
struct LifInputs {
  const float* currents;  // (T, B, N)
  const float* alpha;     // (N)
  const float* theta;     // (N)
  const float* w_rec;     // (N, N), nullptr without recurrence
  const float* v0;        // (B, N)
  const float* z0;        // (B, N)
};

struct LifForwardOutputs {
  float* spikes;    // (T, B, N)
  float* voltages;  // (T, B, N), nullptr when not requested
  float* v_final;   // (B, N)
  float* z_final;   // (B, N)
};

// Forward residuals and output cotangents consumed by the backward pass.
struct LifBackwardInputs {
  LifInputs params;           // currents unused
  const float* gamma;         // (N) surrogate peak
  const float* beta;          // (N) surrogate sharpness
  const float* q;             // (N) surrogate tail
  const float* spikes;        // (T, B, N); only dL/dw_rec reads it, the loop recomputes z[t-1]
  const float* voltages;      // (T, B, N)
  const float* g_spikes;      // (T, B, N)
  const float* g_voltages;    // (T, B, N), nullptr when voltages were not an output
  const float* g_v_final;     // (B, N)
  const float* g_z_final;     // (B, N)
};

// Gradients of one problem written by the backward loop. Parameter gradients are sums over time
// and rows; each row gets its own partial sums (over its T steps), which the caller reduces in row
// order, so results never depend on how rows were split across threads.
struct LifBackwardOutputs {
  float* currents;      // (T, B, N)
  float* v0;            // (B, N)
  float* z0;            // (B, N)
  float* alpha_rows;    // (B, N) partial sums of dL/dalpha, accumulated (+=)
  float* theta_rows;    // (B, N) partial sums of dL/dtheta, accumulated (+=)
};

void LifForward(const LifDims& dims, Reset reset, const LifInputs& in, const LifForwardOutputs& out,
                int64_t b0, int64_t b1);

// Returns false for an unknown surrogate shape code. Does not compute dL/dw_rec (see below).
bool LifBackward(const LifDims& dims, int64_t shape, Reset reset, bool detach_reset,
                 const LifBackwardInputs& in, const LifBackwardOutputs& out, int64_t b0, int64_t b1);

// dL/dw_rec rows [m0, m1) = sum over t, b of z[t-1][b, m] * dL/dI[t][b, :], visiting only nonzero
// z (spikes are sparse). Rows of the result are independent, so callers split over m.
void LifRecurrentWeightGrad(const LifDims& dims, const float* spikes, const float* z0,
                            const float* g_currents, float* g_w_rec, int64_t m0, int64_t m1);

}  // namespace jaxsnn
