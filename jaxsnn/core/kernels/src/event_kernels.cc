#include "event_kernels.h"

#include <algorithm>
#include <cmath>

#include "simd.h"
#include "vec.h"

namespace jaxsnn {

// Loops over column blocks outermost: the block's (K, 128) panel of w stays in L2 while all rows
// go past it.
JAXSNN_SIMD_CLONES
void EventProject(const float* x, const float* w, float* out, int64_t K, int64_t N, int64_t r0,
                  int64_t r1) {
  SparseRows rows;
  CompressRows(x, K, r0, r1, rows);
  for (int64_t c0 = 0; c0 < N; c0 += kColumnBlock) {
    const int64_t width = std::min(kColumnBlock, N - c0);
    for (int64_t r = r0; r < r1; ++r) {
      CombineBlock(out + r * N, rows.index.data(), rows.value.data(), rows.offset[r - r0],
                   rows.offset[r - r0 + 1], w, N, c0, width);
    }
  }
}

namespace {

// dw[index[e], c0 : c0 + width] += value[e] * g_row[c0 : c0 + width] for entries e in [e0, e1).
void ScatterBlock(float* __restrict dw, const int32_t* __restrict index,
                  const float* __restrict value, int64_t e0, int64_t e1,
                  const float* __restrict g_row, int64_t n, int64_t c0, int64_t width) {
  if (width == kGradColumnBlock) {
    float g[kGradColumnBlock];
    for (int64_t i = 0; i < kGradColumnBlock; ++i) g[i] = g_row[c0 + i];
    for (int64_t e = e0; e < e1; ++e) {
      float* __restrict row = dw + static_cast<int64_t>(index[e]) * n + c0;
      const float a = value[e];
      for (int64_t i = 0; i < kGradColumnBlock; ++i) row[i] = std::fma(a, g[i], row[i]);
    }
    return;
  }
  for (int64_t e = e0; e < e1; ++e) {
    Axpy(dw + static_cast<int64_t>(index[e]) * n + c0, value[e], g_row + c0, width);
  }
}

}  // namespace

// Loops over column blocks outermost: the block's (K, 256) panel of dw stays in L2 while the rows
// of g stream past in order.
JAXSNN_SIMD_CLONES
void EventProjectGradW(const SparseRows* pieces, int64_t n_pieces, const float* g, float* dw,
                       int64_t K, int64_t N, int64_t c0, int64_t c1) {
  for (int64_t k = 0; k < K; ++k) std::fill(dw + k * N + c0, dw + k * N + c1, 0.0f);
  for (int64_t b0 = c0; b0 < c1; b0 += kGradColumnBlock) {
    const int64_t width = std::min(kGradColumnBlock, c1 - b0);
    const float* g_row = g;
    for (const SparseRows* rows = pieces; rows != pieces + n_pieces; ++rows) {
      for (size_t r = 0; r + 1 < rows->offset.size(); ++r, g_row += N) {
        ScatterBlock(dw, rows->index.data(), rows->value.data(), rows->offset[r],
                     rows->offset[r + 1], g_row, N, b0, width);
      }
    }
  }
}

}  // namespace jaxsnn
