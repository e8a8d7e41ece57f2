// Task scheduling for the host emulator on ATen's thread pool.
#pragma once
#include <ATen/Parallel.h>

#include <algorithm>
#include <atomic>
#include <cstdint>

namespace torch_aie::runtime {

// Runs fn(i) for every i in [0, n) on ATen's thread pool (so torch.set_num_threads
// applies), handing tasks out one at a time: tiles of unequal cost still keep
// every thread busy, where parallel_for's static split would leave one idle.
// Which thread runs a task never changes its result.
template <class F>
void run_tasks(int64_t n, const F& fn) {
  if (n <= 0) return;
  const int64_t workers = std::min<int64_t>(n, at::get_num_threads());
  std::atomic<int64_t> next{0};
  at::parallel_for(0, workers, 1, [&](int64_t begin, int64_t end) {
    for (int64_t w = begin; w < end; ++w)
      for (int64_t i = next.fetch_add(1); i < n; i = next.fetch_add(1)) fn(i);
  });
}

}  // namespace torch_aie::runtime
