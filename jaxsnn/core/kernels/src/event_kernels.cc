#include "event_kernels.h"

#include <algorithm>

#include "vec.h"

namespace jaxsnn {

void EventProject(const float* x, const float* w, float* out, int64_t K, int64_t N, int64_t r0,
                  int64_t r1) {
  for (int64_t r = r0; r < r1; ++r) SparseRowCombination(out + r * N, x + r * K, w, K, N);
}

void EventProjectGradW(const float* x, const float* g, float* dw, int64_t M, int64_t K, int64_t N,
                       int64_t k0, int64_t k1) {
  std::fill(dw + k0 * N, dw + k1 * N, 0.0f);
  for (int64_t r = 0; r < M; ++r) {
    const float* xr = x + r * K;
    for (int64_t k = k0; k < k1; ++k) {
      if (xr[k] != 0.0f) Axpy(dw + k * N, xr[k], g + r * N, N);
    }
  }
}

}  // namespace jaxsnn
