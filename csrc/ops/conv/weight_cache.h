// Cache of pre-transformed conv weights (DESIGN.md section 5).
//
// Key: the weight TensorImpl and StorageImpl (held weakly, so a freed-then-reused
// address can never hit), the version counter (bumped by every in-place write:
// optimizer steps, copy_, load_state_dict), the view geometry, and every setting
// the packed form depends on. Bounded in bytes with LRU eviction; thread-safe.
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <memory>

#include "csrc/runtime/conv_job.h"

namespace torch_aie::conv {

struct WeightCacheStats {
  int64_t hits = 0, misses = 0, evictions = 0, uncacheable = 0, bytes = 0, entries = 0,
          budget = 0;
};

using PackedPtr = std::shared_ptr<const runtime::PackedWeights>;
// Any other packed form (e.g. the int8 family's), held opaquely with its size in bytes.
using OpaquePtr = std::shared_ptr<const void>;
struct OpaquePacked {
  OpaquePtr ptr;
  size_t bytes = 0;
};

class WeightCache {
 public:
  static WeightCache& global();

  // The packed form of `weight` for (algorithm, numerics, host layout, groups); `pack` builds it on a miss.
  PackedPtr get_or_pack(const at::Tensor& weight, runtime::ConvAlgorithm algorithm,
                        runtime::Numerics numerics, runtime::HostLayout layout, int64_t groups,
                        const std::function<runtime::PackedWeights()>& pack);

  // The same for a packed form other than PackedWeights: `form` names it (distinct
  // forms never share an entry; 0 is PackedWeights), `variant` any parameter it depends on.
  OpaquePtr get_or_pack_opaque(const at::Tensor& weight, int form, runtime::ConvAlgorithm algorithm,
                               int64_t groups, int64_t variant, const std::function<OpaquePacked()>& pack);

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
  OpaquePtr lookup_or_pack(const at::Tensor& weight, int form, runtime::ConvAlgorithm algorithm,
                           runtime::Numerics numerics, runtime::HostLayout layout, int64_t groups,
                           int64_t variant, const std::function<OpaquePacked()>& pack);
  WeightCache();
  std::unique_ptr<Impl> impl_;
};

}  // namespace torch_aie::conv
