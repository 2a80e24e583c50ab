// Compressed nonzero structure of a row-major (rows, K) float matrix, for event-driven products.
#pragma once

#include <cstdint>
#include <vector>

namespace jaxsnn {

// Nonzeros by row (CSR): row r's entries are [offset[r], offset[r + 1]), in column order.
struct SparseRows {
  std::vector<int64_t> offset;
  std::vector<int32_t> index;  // column of each entry
  std::vector<float> value;
};

// Sets `out` to the nonzeros of rows [r0, r1) of x (K columns), rows renumbered from 0; `out`'s
// storage is reused, so a loop calling this allocates only while it grows.
void CompressRows(const float* x, int64_t K, int64_t r0, int64_t r1, SparseRows& out);


}  // namespace jaxsnn
