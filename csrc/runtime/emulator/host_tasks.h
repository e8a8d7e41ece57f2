// Task scheduling for the host emulator on ATen's thread pool.
#pragma once
#include <ATen/Parallel.h>

#include <algorithm>
#include <atomic>
#include <cstdint>

namespace torch_aie::runtime {

// Runs fn(i) for every i in [0, n) on ATen's thread pool (so torch.set_num_threads
// applies). Tasks are handed out in guided runs: each grab takes a share of what is
// left (remaining / (2 * workers), at least one), so tiles of unequal cost still keep
// every thread busy (parallel_for's static split would leave one idle), while the
// shared counter is touched a few dozen times per call, not once per task: on a VM
// whose two vCPUs were far apart, one atomic per task made a 392-task conv 2.8x
// slower on two threads than on one (docs/ARCHITECTURE.md, "Task scheduling").
// Which thread runs a task never changes its result.
template <class F>
void run_tasks(int64_t n, const F& fn) {
  if (n <= 0) return;
  const int64_t workers = std::min<int64_t>(n, at::get_num_threads());
  std::atomic<int64_t> next{0};
  at::parallel_for(0, workers, 1, [&](int64_t, int64_t) {
    int64_t i = next.load(std::memory_order_relaxed);
    while (i < n) {
      const int64_t take = std::max<int64_t>(1, (n - i) / (2 * workers));
      if (!next.compare_exchange_weak(i, i + take, std::memory_order_relaxed)) continue;
      for (const int64_t end = i + take; i < end; ++i) fn(i);
      i = next.load(std::memory_order_relaxed);
    }
  });
}

}  // namespace torch_aie::runtime
