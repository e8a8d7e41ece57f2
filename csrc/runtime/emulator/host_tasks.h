// Task scheduling for the host emulator on ATen's thread pool.
#pragma once
#include <ATen/Parallel.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>

namespace torch_aie::runtime {

// Runs fn(i) for every i in [0, n) on ATen's thread pool (so torch.set_num_threads
// applies). Worker w owns the contiguous range [w n / W, (w + 1) n / W), as in
// parallel_for's static split, and takes its tasks from a counter on its own cache
// line; a worker whose range is done takes what is left of the others' (tiles of
// unequal cost still keep every thread busy). The static ranges keep a thread on the
// same part of the image in the staging pass, in the conv and in the next layer:
// on a VM whose vCPUs were at times far apart, one shared counter per task made a
// 1x1 conv 1.6x slower on two threads than on one, and dynamic runs with no affinity
// made the stem 1.45x slower than in a normal phase, where oneDNN's static split lost
// about 10% (docs/ARCHITECTURE.md, "Task scheduling").
// Which thread runs a task never changes its result.
template <class F>
void run_tasks(int64_t n, const F& fn) {
  if (n <= 0) return;
  const int64_t workers = std::min<int64_t>(n, at::get_num_threads());
  struct alignas(64) Range {
    std::atomic<int64_t> next{0};
    int64_t end = 0;
  };
  std::unique_ptr<Range[]> ranges(new Range[workers]);
  for (int64_t w = 0; w < workers; ++w) {
    ranges[w].next.store(w * n / workers, std::memory_order_relaxed);
    ranges[w].end = (w + 1) * n / workers;
  }
  at::parallel_for(0, workers, 1, [&](int64_t begin, int64_t end) {
    for (int64_t w = begin; w < end; ++w)
      for (int64_t v = 0; v < workers; ++v) {  // its own range first, then the others'
        Range& r = ranges[(w + v) % workers];
        for (int64_t i = r.next.fetch_add(1, std::memory_order_relaxed); i < r.end;
             i = r.next.fetch_add(1, std::memory_order_relaxed))
          fn(i);
      }
  });
}

}  // namespace torch_aie::runtime
