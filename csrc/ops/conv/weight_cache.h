// Cache of pre-transformed conv weights (docs/ARCHITECTURE.md, "Cache contract").
//
// Key: the weight TensorImpl and StorageImpl (held weakly, so a freed-then-reused
// address can never hit), the version counter (bumped by every in-place write:
// optimizer steps, copy_, load_state_dict), the view geometry and dtype, and the
// backend's name and pack key (everything its opaque packed form depends on).
// Bounded in bytes with LRU eviction; thread-safe.
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "csrc/runtime/conv_backend.h"

namespace torch_aie::conv {

struct WeightCacheStats {
  int64_t hits = 0, misses = 0, evictions = 0, uncacheable = 0, bytes = 0, entries = 0,
          budget = 0;
};

using PackedPtr = std::shared_ptr<const runtime::PackedOperand>;

class WeightCache {
 public:
  static WeightCache& global();

  // The packed form of `weight` under (backend, pack_key); `pack` builds it on a miss.
  PackedPtr get_or_pack(const at::Tensor& weight, const std::string& backend, const std::string& pack_key,
                        const std::function<PackedPtr()>& pack);

  WeightCacheStats stats();
  void clear();
  void reset_counters();
  void set_budget(int64_t bytes);
  void set_enabled(bool enabled);
  bool enabled();
  // Debug mode (TORCH_AIE_WEIGHT_CACHE_VERIFY=1): every hit re-checks the weight's values
  // against a checksum taken when it was packed and raises, naming the weight, if stale.
  void set_verify(bool verify);
  bool verify();

 private:
  struct Impl;
  WeightCache();
  std::unique_ptr<Impl> impl_;
};

}  // namespace torch_aie::conv
