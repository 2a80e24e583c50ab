// Work splitting for the FFI handlers: contiguous chunks run on XLA's intra-op thread pool.
//
// Every kernel is written so that its result does not depend on the chunking (chunks own disjoint
// outputs; shared sums are reduced afterwards in a fixed order): outputs are bit-identical for
// any thread count, and a vmap-ed call equals a Python loop of single calls.
#pragma once

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <utility>

#include "xla/ffi/api/ffi.h"

namespace jaxsnn {

// A chunk below this many inner-loop iterations costs more to schedule than it saves.
inline constexpr int64_t kMinChunkWork = 1 << 15;
// More chunks than threads lets idle threads pick up the slack of busy ones.
inline constexpr int64_t kMaxChunks = 16;

// How many contiguous pieces to cut `rows` rows of `work_per_row` iterations each into.
inline int64_t ChunkCount(int64_t rows, int64_t work_per_row) {
  const int64_t by_work = rows * work_per_row / kMinChunkWork;
  return std::max<int64_t>(1, std::min({rows, by_work, kMaxChunks}));
}

// Row range [begin, end) of chunk c out of `chunks` over `rows` rows.
inline std::pair<int64_t, int64_t> ChunkRange(int64_t rows, int64_t chunks, int64_t c) {
  return {rows * c / chunks, rows * (c + 1) / chunks};
}

// Runs task(i) for every i in [0, count) on the calling thread plus idle pool threads.
//
// Indices are claimed from a shared counter, so the caller never waits for a helper that has not
// started: if the pool is busy (XLA may be running other ops on it), the caller does all the work
// itself. Helpers that start after everything is claimed touch only the shared counter, which a
// shared_ptr keeps alive beyond this call.
template <typename Task>
void ParallelFor(xla::ffi::ThreadPool& pool, int64_t count, const Task& task) {
  const int64_t helpers = std::min<int64_t>(pool.num_threads(), count) - 1;
  if (helpers <= 0) {
    for (int64_t i = 0; i < count; ++i) task(i);
    return;
  }
  struct Shared {
    std::atomic<int64_t> next{0};
    std::atomic<int64_t> done{0};
    std::mutex mutex;
    std::condition_variable finished;
  };
  auto shared = std::make_shared<Shared>();
  // Only ever called while the caller is still waiting, so `task` is alive.
  auto drain = [count, &task](Shared& s) {
    for (int64_t i = s.next.fetch_add(1); i < count; i = s.next.fetch_add(1)) {
      task(i);
      if (s.done.fetch_add(1) + 1 == count) {
        std::lock_guard<std::mutex> lock(s.mutex);
        s.finished.notify_all();
      }
    }
  };
  for (int64_t h = 0; h < helpers; ++h) {
    pool.Schedule([shared, drain] { drain(*shared); });
  }
  drain(*shared);
  std::unique_lock<std::mutex> lock(shared->mutex);
  shared->finished.wait(lock, [&] { return shared->done.load() == count; });
}

}  // namespace jaxsnn
