// Event-driven input projection: out = x @ w and dL/dw = x^T @ g, visiting only nonzero x.
//
// Spike inputs are ~95 % zeros, so skipping them does ~20x fewer multiply-adds than the dense
// matmul while computing the same sums (in a different order, hence equal to float rounding).
// x is (M, K) row-major, w is (K, N), g and out are (M, N).
#pragma once

#include <cstdint>

#include "sparse.h"

namespace jaxsnn {

// out[r, :] = sum_k x[r, k] * w[k, :] for rows r in [r0, r1).
void EventProject(const float* x, const float* w, float* out, int64_t K, int64_t N, int64_t r0,
                  int64_t r1);

// Column block of EventProjectGradW: a 256-column slice of a g row stays in registers (16 AVX-512
// registers) while it is scattered into the rows of dw selected by that row's nonzeros.
inline constexpr int64_t kGradColumnBlock = 256;

// dw[k, c0:c1] = sum over rows r (in order) of x[r, k] * g[r, c0:c1] for every k, given x's
// nonzeros by row in `n_pieces` consecutive pieces (built in parallel; see sparse.h). Callers
// split the columns of dw (in multiples of kGradColumnBlock), so that every thread reads only its
// own columns of g, once.
void EventProjectGradW(const SparseRows* pieces, int64_t n_pieces, const float* g, float* dw,
                       int64_t K, int64_t N, int64_t c0, int64_t c1);

}  // namespace jaxsnn
