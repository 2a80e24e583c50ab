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

// dw[k, :] = sum over rows r (in order) of x[r, k] * g[r, :] for dw rows k in [k0, k1), given
// x's nonzeros grouped by column (`columns`, see sparse.h). Rows of dw are independent, so
// callers split over k.
void EventProjectGradW(const SparseRows& columns, const float* g, float* dw, int64_t N, int64_t k0,
                       int64_t k1);

}  // namespace jaxsnn
