#include "event_kernels.h"

#include "vec.h"

namespace jaxsnn {

void EventProject(const float* x, const float* w, float* out, int64_t K, int64_t N, int64_t r0,
                  int64_t r1) {
  for (int64_t r = r0; r < r1; ++r) SparseRowCombination(out + r * N, x + r * K, w, K, N);
}

void EventProjectGradW(const float* x, const float* g, float* dw, int64_t K, int64_t N, int64_t r0,
                       int64_t r1) {
  for (int64_t r = r0; r < r1; ++r) {
    const float* xr = x + r * K;
    for (int64_t k = 0; k < K; ++k) {
      if (xr[k] != 0.0f) Axpy(dw + k * N, xr[k], g + r * N, N);
    }
  }
}

}  // namespace jaxsnn
