// Small contiguous-vector loops shared by the kernels, written so GCC/Clang vectorize them with
// whatever vector width the enclosing function is compiled for (see simd.h) and still produce
// the same bits at every width: no loop here reassociates a floating-point sum. The gathers use
// std::fma, which halves their cost on FMA hardware (one instruction, one rounding) and rounds
// the same everywhere.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace jaxsnn {

// y = fma(a, x, y)
inline void Axpy(float* __restrict y, float a, const float* __restrict x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = std::fma(a, x[i], y[i]);
}

// sum_i x[i] * y[i], accumulated in 16 fixed lanes (lane j sums i = j mod 16 in order) and then
// lane by lane: the order is fixed by the code, not by the SIMD width the compiler picks.
inline float Dot(const float* __restrict x, const float* __restrict y, int64_t n) {
  constexpr int64_t kLanes = 16;
  float lanes[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int64_t j = 0; j < kLanes; ++j) lanes[j] = std::fma(x[i + j], y[i + j], lanes[j]);
  }
  for (int64_t j = 0; i + j < n; ++j) lanes[j] = std::fma(x[i + j], y[i + j], lanes[j]);
  float sum = 0.0f;
  for (int64_t j = 0; j < kLanes; ++j) sum += lanes[j];
  return sum;
}

// Output columns per block of CombineBlock: 128 floats of partial sums stay in registers (8 AVX-512
// or 16 AVX2 registers) and a 128-column panel of the source matrix stays in L2.
inline constexpr int64_t kColumnBlock = 128;

// out[c0, c0 + width) = sum over entries e in [e0, e1), in order, of
// value[e] * matrix[index[e], c0 : c0 + width]: a product over the nonzero inputs only, with
// `matrix` row-major of n columns and width <= kColumnBlock. `out` is written once.
inline void CombineBlock(float* __restrict out, const int32_t* __restrict index,
                         const float* __restrict value, int64_t e0, int64_t e1,
                         const float* __restrict matrix, int64_t n, int64_t c0, int64_t width) {
  if (width == kColumnBlock) {
    float acc[kColumnBlock] = {};
    for (int64_t e = e0; e < e1; ++e) {
      const float* __restrict row = matrix + static_cast<int64_t>(index[e]) * n + c0;
      const float a = value[e];
      for (int64_t i = 0; i < kColumnBlock; ++i) acc[i] = std::fma(a, row[i], acc[i]);
    }
    for (int64_t i = 0; i < kColumnBlock; ++i) out[c0 + i] = acc[i];
    return;
  }
  for (int64_t i = 0; i < width; ++i) out[c0 + i] = 0.0f;
  for (int64_t e = e0; e < e1; ++e) {
    Axpy(out + c0, value[e], matrix + static_cast<int64_t>(index[e]) * n + c0, width);
  }
}

// All columns of one output row: out = sum over entries e in [e0, e1) of value[e] * matrix[index[e]].
inline void CombineRows(float* __restrict out, const int32_t* __restrict index,
                        const float* __restrict value, int64_t e0, int64_t e1,
                        const float* __restrict matrix, int64_t n) {
  for (int64_t c0 = 0; c0 < n; c0 += kColumnBlock) {
    CombineBlock(out, index, value, e0, e1, matrix, n, c0, std::min(kColumnBlock, n - c0));
  }
}

}  // namespace jaxsnn
