// LIF forward and backward loops for ONE problem (one vmap element) over a range of batch rows.
//
// Batch rows never interact (the recurrence z[t-1] @ w_rec mixes neurons, not rows), so a caller
// may run disjoint row ranges concurrently; gradients of shared parameters go to per-range
// accumulators that the caller reduces. The equations are those of jaxsnn/core/reference.py:
//   subtract: v[t] = alpha*v[t-1] + I[t] + z[t-1] @ w_rec - theta*z[t-1]
//   zero:     v[t] = alpha*v[t-1] + I[t] + z[t-1] @ w_rec - alpha*v[t-1]*z[t-1]
//   z[t] = H(v[t] - theta)
// evaluated in the same float32 operation order as the reference, so that spikes are identical.
#pragma once

#include <cstdint>
#include <vector>

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
  const float* spikes;        // (T, B, N)
  const float* voltages;      // (T, B, N)
  const float* g_spikes;      // (T, B, N)
  const float* g_voltages;    // (T, B, N), nullptr when voltages were not an output
  const float* g_v_final;     // (B, N)
  const float* g_z_final;     // (B, N)
};

// Per-row gradients (written) of one problem.
struct LifRowGradients {
  float* currents;  // (T, B, N)
  float* v0;        // (B, N)
  float* z0;        // (B, N)
};

// Gradients of parameters shared by all rows, accumulated (+=) by one row range. Double precision
// for the (N)-sized sums over T*B terms keeps the kernel at least as accurate as the reference.
struct LifParamAccumulators {
  std::vector<double> alpha, theta;  // (N)
  std::vector<float> w_rec;          // (N*N) or empty without recurrence

  LifParamAccumulators(int64_t n, bool recurrent)
      : alpha(n, 0.0), theta(n, 0.0), w_rec(recurrent ? n * n : 0, 0.0f) {}
};

void LifForward(const LifDims& dims, Reset reset, const LifInputs& in, const LifForwardOutputs& out,
                int64_t b0, int64_t b1);

// Returns false for an unknown surrogate shape code.
bool LifBackward(const LifDims& dims, int64_t shape, Reset reset, bool detach_reset,
                 const LifBackwardInputs& in, const LifRowGradients& grads,
                 LifParamAccumulators& acc, int64_t b0, int64_t b1);

}  // namespace jaxsnn
