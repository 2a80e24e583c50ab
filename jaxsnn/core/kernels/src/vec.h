// Small contiguous-vector loops shared by the kernels, written so GCC/Clang vectorize them.
#pragma once

#include <cstdint>

namespace jaxsnn {

// y += a * x
inline void Axpy(float* __restrict y, float a, const float* __restrict x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}

// sum_i x[i] * y[i]; the reduction may be reordered (omp simd), which only changes the last bits.
inline float Dot(const float* __restrict x, const float* __restrict y, int64_t n) {
  float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
  for (int64_t i = 0; i < n; ++i) sum += x[i] * y[i];
  return sum;
}

// out = sum over the nonzero entries k of x of x[k] * rows[k, :]: a vector-matrix product that
// skips zeros, which is what makes binary spike inputs cheap. rows is (K, n) row-major.
inline void SparseRowCombination(float* __restrict out, const float* __restrict x,
                                 const float* __restrict rows, int64_t k_count, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = 0.0f;
  for (int64_t k = 0; k < k_count; ++k) {
    if (x[k] != 0.0f) Axpy(out, x[k], rows + k * n, n);
  }
}

}  // namespace jaxsnn
