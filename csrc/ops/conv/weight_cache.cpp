#include "csrc/ops/conv/weight_cache.h"

#include <ATen/ops/from_blob.h>
#include <c10/util/Exception.h>
#include <c10/util/intrusive_ptr.h>

#include <cstdlib>
#include <functional>
#include <list>
#include <mutex>
#include <sstream>
#include <string_view>
#include <vector>

namespace torch_aie::conv {

namespace {

constexpr int64_t kDefaultBudget = int64_t(1) << 30;  // 1 GiB

struct Key {
  const c10::TensorImpl* tensor;
  const c10::StorageImpl* storage;
  uint32_t version;
  int64_t offset;
  std::vector<int64_t> sizes, strides;
  at::ScalarType dtype;
  runtime::ConvAlgorithm algorithm;
  runtime::Numerics numerics;
  runtime::HostLayout layout;
  int64_t groups;
  int form = 0;          // 0: runtime::PackedWeights; others: opaque forms
  int64_t variant = 0;   // form-specific packing parameter

  bool operator==(const Key& o) const {
    return form == o.form && variant == o.variant && tensor == o.tensor && storage == o.storage && version == o.version &&
           offset == o.offset && sizes == o.sizes && strides == o.strides && dtype == o.dtype &&
           algorithm == o.algorithm && numerics == o.numerics && layout == o.layout &&
           groups == o.groups;
  }
};

struct Entry {
  Key key;
  // Weak references: an expired one means the address may have been reused.
  c10::weak_intrusive_ptr<c10::TensorImpl> tensor_ref;
  c10::weak_intrusive_ptr<c10::StorageImpl> storage_ref;
  OpaquePtr packed;
  size_t bytes;
  size_t checksum;  // of the weight's values when packed: what verify mode compares
  bool alive() const { return !tensor_ref.expired() && !storage_ref.expired(); }
};

// A hash of the weight's values (its host memory, in logical order).
size_t weight_checksum(const at::Tensor& w) {
  auto host = at::from_blob(const_cast<void*>(w.const_data_ptr()), w.sizes(), w.strides(),
                            at::TensorOptions().dtype(w.dtype()))
                  .contiguous();
  return std::hash<std::string_view>{}(
      std::string_view(static_cast<const char*>(host.const_data_ptr()), host.nbytes()));
}

// Verify mode: a hit whose weight values changed without a version bump is a stale entry.
void check_not_stale(const Entry& e, const at::Tensor& w) {
  if (weight_checksum(w) == e.checksum) return;
  std::ostringstream os;
  os << "aie weight cache (verify mode): the packed form cached for the conv weight of shape "
     << w.sizes() << " (" << w.scalar_type() << ", " << w.device() << ", data_ptr "
     << w.const_data_ptr() << ", version " << e.key.version
     << ") is stale: the weight's values changed after it was packed without a version-counter "
        "bump (a write through .data, a raw pointer or numpy). Write it in place under "
        "torch.no_grad() instead (w.copy_(new)), or call torch_aie.weight_cache_clear() after "
        "such writes. Find the parameter with [n for n, p in model.named_parameters() if "
        "p.data_ptr() == "
     << reinterpret_cast<uintptr_t>(w.const_data_ptr()) << "].";
  TORCH_CHECK(false, os.str());
}

bool verify_from_env() {
  const char* v = std::getenv("TORCH_AIE_WEIGHT_CACHE_VERIFY");
  return v != nullptr && std::string_view(v) != "0" && std::string_view(v) != "";
}

int64_t budget_from_env() {
  const char* v = std::getenv("TORCH_AIE_WEIGHT_CACHE_BYTES");
  return v ? std::atoll(v) : kDefaultBudget;
}

}  // namespace

struct WeightCache::Impl {
  std::mutex mutex;
  std::list<Entry> lru;  // front = most recently used
  WeightCacheStats stats;
  bool enabled = true;
  bool verify = verify_from_env();

  void erase(std::list<Entry>::iterator it) {
    stats.bytes -= it->bytes;
    stats.entries -= 1;
    lru.erase(it);
  }

  // Entries of the same tensor with an older version, or whose tensor died, can never hit again.
  void drop_dead_and_stale(const Key& k) {
    for (auto it = lru.begin(); it != lru.end();) {
      auto next = std::next(it);
      const bool same_tensor_older = it->key.tensor == k.tensor && it->key.version != k.version;
      if (!it->alive() || same_tensor_older) erase(it);
      it = next;
    }
  }

  void evict_to_budget() {
    while (stats.bytes > stats.budget && !lru.empty()) {
      erase(std::prev(lru.end()));
      stats.evictions += 1;
    }
  }
};

WeightCache::WeightCache() : impl_(std::make_unique<Impl>()) { impl_->stats.budget = budget_from_env(); }

WeightCache& WeightCache::global() {
  static WeightCache* cache = new WeightCache();  // leaked: outlives static tensors at exit
  return *cache;
}

PackedPtr WeightCache::get_or_pack(const at::Tensor& weight, runtime::ConvAlgorithm algorithm,
                                   runtime::Numerics numerics, runtime::HostLayout layout, int64_t groups,
                                   const std::function<runtime::PackedWeights()>& pack) {
  auto p = lookup_or_pack(weight, 0, algorithm, numerics, layout, groups, 0, [&] {
    auto packed = std::make_shared<const runtime::PackedWeights>(pack());
    const size_t bytes = packed->bytes();
    return OpaquePacked{std::move(packed), bytes};
  });
  return std::static_pointer_cast<const runtime::PackedWeights>(p);
}

OpaquePtr WeightCache::get_or_pack_opaque(const at::Tensor& weight, int form, runtime::ConvAlgorithm algorithm,
                                          int64_t groups, int64_t variant,
                                          const std::function<OpaquePacked()>& pack) {
  TORCH_CHECK(form != 0, "weight cache form 0 is reserved for PackedWeights");
  return lookup_or_pack(weight, form, algorithm, runtime::Numerics::Bf16, runtime::HostLayout::PixelRows,
                        groups, variant, pack);
}

OpaquePtr WeightCache::lookup_or_pack(const at::Tensor& weight, int form, runtime::ConvAlgorithm algorithm,
                                      runtime::Numerics numerics, runtime::HostLayout layout, int64_t groups,
                                      int64_t variant, const std::function<OpaquePacked()>& pack) {
  auto* t = weight.unsafeGetTensorImpl();
  // Inference tensors carry no version counter, so an in-place update could not be seen.
  const bool cacheable = !weight.is_inference() && weight.has_storage();
  Key key{};
  if (cacheable) {
    key = Key{t, weight.storage().unsafeGetStorageImpl(), t->version_counter().current_version(),
              weight.storage_offset(), weight.sizes().vec(), weight.strides().vec(),
              weight.scalar_type(), algorithm, numerics, layout, groups, form, variant};
  }
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    if (!cacheable || !impl_->enabled) {
      impl_->stats.uncacheable += 1;
    } else {
      for (auto it = impl_->lru.begin(); it != impl_->lru.end(); ++it) {
        if (it->key == key && it->alive()) {
          if (impl_->verify) check_not_stale(*it, weight);
          impl_->lru.splice(impl_->lru.begin(), impl_->lru, it);
          impl_->stats.hits += 1;
          return it->packed;
        }
      }
      impl_->stats.misses += 1;
    }
  }
  OpaquePacked made = pack();  // outside the lock
  OpaquePtr packed = made.ptr;
  if (!cacheable) return packed;
  const size_t checksum = weight_checksum(weight);

  std::lock_guard<std::mutex> lock(impl_->mutex);
  if (!impl_->enabled || static_cast<int64_t>(made.bytes) > impl_->stats.budget) return packed;
  impl_->drop_dead_and_stale(key);
  for (auto& e : impl_->lru)
    if (e.key == key) return e.packed;  // another thread packed it meanwhile
  impl_->lru.push_front(Entry{key, c10::weak_intrusive_ptr<c10::TensorImpl>(weight.getIntrusivePtr()),
                              weight.storage().getWeakStorageImpl(), packed, made.bytes, checksum});
  impl_->stats.bytes += made.bytes;
  impl_->stats.entries += 1;
  impl_->evict_to_budget();
  return packed;
}

WeightCacheStats WeightCache::stats() {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->stats;
}

void WeightCache::clear() {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  impl_->lru.clear();
  impl_->stats.bytes = 0;
  impl_->stats.entries = 0;
}

void WeightCache::reset_counters() {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  auto& s = impl_->stats;
  s.hits = s.misses = s.evictions = s.uncacheable = 0;
}

void WeightCache::set_budget(int64_t bytes) {
  TORCH_CHECK_VALUE(bytes >= 0, "weight cache budget must be >= 0 bytes, got ", bytes);
  std::lock_guard<std::mutex> lock(impl_->mutex);
  impl_->stats.budget = bytes;
  impl_->evict_to_budget();
}

void WeightCache::set_enabled(bool enabled) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  impl_->enabled = enabled;
  if (!enabled) {
    impl_->lru.clear();
    impl_->stats.bytes = impl_->stats.entries = 0;
  }
}

void WeightCache::set_verify(bool verify) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  impl_->verify = verify;
}

bool WeightCache::verify() {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->verify;
}

bool WeightCache::enabled() {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->enabled;
}

}  // namespace torch_aie::conv
