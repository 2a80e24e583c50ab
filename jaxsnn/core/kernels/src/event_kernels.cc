// Both products loop over column blocks outermost, so that the 128-column panel of the matrix
// being gathered (w forward, g backward) stays in L2 while all rows go past it.
#include "event_kernels.h"

#include <algorithm>

#include "simd.h"
#include "vec.h"

namespace jaxsnn {

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

JAXSNN_SIMD_CLONES
void EventProjectGradW(const SparseRows& columns, const float* g, float* dw, int64_t N, int64_t k0,
                       int64_t k1) {
  for (int64_t c0 = 0; c0 < N; c0 += kColumnBlock) {
    const int64_t width = std::min(kColumnBlock, N - c0);
    for (int64_t k = k0; k < k1; ++k) {
      CombineBlock(dw + k * N, columns.index.data(), columns.value.data(), columns.offset[k],
                   columns.offset[k + 1], g, N, c0, width);
    }
  }
}

}  // namespace jaxsnn
