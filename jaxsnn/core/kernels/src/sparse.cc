#include "sparse.h"

#include "simd.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace jaxsnn {
namespace {

// Appends the nonzeros of x[0, k) to `out`. Inputs are mostly zeros, so groups of 16 are first
// reduced to a bit mask and only its set bits are visited. On x86-64 the mask comes from SSE2
// compares (part of the baseline, so every build has it); elsewhere from a plain loop.
inline void AppendNonzeros(const float* __restrict x, int64_t k, SparseRows& out) {
  constexpr int64_t kGroup = 16;
  int64_t i = 0;
  for (; i + kGroup <= k; i += kGroup) {
    uint32_t mask = 0;
#if defined(__SSE2__)
    const __m128 zero = _mm_setzero_ps();
    for (int64_t j = 0; j < kGroup; j += 4) {
      const __m128 nonzero = _mm_cmpneq_ps(_mm_loadu_ps(x + i + j), zero);
      mask |= static_cast<uint32_t>(_mm_movemask_ps(nonzero)) << j;
    }
#else
    for (int64_t j = 0; j < kGroup; ++j) mask |= static_cast<uint32_t>(x[i + j] != 0.0f) << j;
#endif
    for (; mask != 0; mask &= mask - 1) {
      const int64_t col = i + __builtin_ctz(mask);
      out.index.push_back(static_cast<int32_t>(col));
      out.value.push_back(x[col]);
    }
  }
  for (; i < k; ++i) {
    if (x[i] != 0.0f) {
      out.index.push_back(static_cast<int32_t>(i));
      out.value.push_back(x[i]);
    }
  }
}

}  // namespace

JAXSNN_SIMD_CLONES
void CompressRows(const float* x, int64_t K, int64_t r0, int64_t r1, SparseRows& out) {
  out.offset.clear();
  out.index.clear();
  out.value.clear();
  out.offset.reserve(r1 - r0 + 1);
  const int64_t guess = (r1 - r0) * K / 8 + 16;  // spike inputs: a few percent nonzero
  out.index.reserve(guess);
  out.value.reserve(guess);
  for (int64_t r = r0; r < r1; ++r) {
    out.offset.push_back(static_cast<int64_t>(out.index.size()));
    AppendNonzeros(x + r * K, K, out);
  }
  out.offset.push_back(static_cast<int64_t>(out.index.size()));
}

}  // namespace jaxsnn
