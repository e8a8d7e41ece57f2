#include "csrc/ops/conv/weight_cache.h"

#include "csrc/runtime/write_epochs.h"

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
  uint64_t version;  // the version counter, or an inference tensor's storage write epoch
  int64_t offset;
  std::vector<int64_t> sizes, strides;
  at::ScalarType dtype;
  std::string backend, pack_key;

  bool operator==(const Key& o) const {
    return tensor == o.tensor && storage == o.storage && version == o.version &&
           offset == o.offset && sizes == o.sizes && strides == o.strides && dtype == o.dtype &&
           backend == o.backend && pack_key == o.pack_key;
  }
};

struct Entry {
  Key key;
  // Weak references: an expired one means the address may have been reused.
  c10::weak_intrusive_ptr<c10::TensorImpl> tensor_ref;
  c10::weak_intrusive_ptr<c10::StorageImpl> storage_ref;
  PackedPtr packed;
  size_t checksum;  // of the weight's values when packed: what verify mode compares
  bool alive() const { return !tensor_ref.expired() && !storage_ref.expired(); }
};

// How an in-place write to a weight becomes visible to the cache.
enum class Freshness {
  kVersionCounter,  // ordinary tensors: autograd's version counter
  kWriteEpoch,      // aie inference tensors: the storage's write epoch (write_epochs.h)
  kUntracked,       // other inference tensors, tensors without storage: not cacheable
};

Freshness freshness_of(const at::Tensor& weight) {
  if (!weight.has_storage()) return Freshness::kUntracked;
  if (!weight.is_inference()) return Freshness::kVersionCounter;
  // Every write to aie memory goes through an aie kernel that reports it; CPU memory
  // is written by CPU kernels, which report nothing.
  return weight.is_privateuseone() ? Freshness::kWriteEpoch : Freshness::kUntracked;
}

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
  bool warned_untracked = false;
  int64_t warned_over_budget = 0;  // the largest packed size warned about since the budget was set
  bool verify = verify_from_env();

  // Warns once per budget setting (again only for a larger weight): a weight that
  // cannot fit is re-packed on every call, which can cost seconds for large layers.
  void warn_over_budget(int64_t bytes) {
    if (bytes <= warned_over_budget) return;
    warned_over_budget = bytes;
    TORCH_WARN("aie conv: a packed weight of ", bytes, " bytes exceeds the weight cache budget of ",
               stats.budget, " bytes, so it is re-packed on every call. "
               "torch_aie.set_weight_cache_budget(", bytes, ") (or TORCH_AIE_WEIGHT_CACHE_BYTES) "
               "or more keeps it cached. (Warned once per budget and size.)");
  }

  void erase(std::list<Entry>::iterator it) {
    stats.bytes -= it->packed->bytes();
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

PackedPtr WeightCache::get_or_pack(const at::Tensor& weight, const std::string& backend,
                                   const std::string& pack_key, const std::function<PackedPtr()>& pack) {
  auto* t = weight.unsafeGetTensorImpl();
  const Freshness freshness = freshness_of(weight);
  const bool cacheable = freshness != Freshness::kUntracked;
  Key key{};
  if (cacheable) {
    const uint64_t version = freshness == Freshness::kVersionCounter
                                 ? t->version_counter().current_version()
                                 : runtime::write_epoch(weight.storage());
    key = Key{t, weight.storage().unsafeGetStorageImpl(), version,
              weight.storage_offset(), weight.sizes().vec(), weight.strides().vec(),
              weight.scalar_type(), backend, pack_key};
  }
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    if (!cacheable || !impl_->enabled) {
      impl_->stats.uncacheable += 1;
      if (!cacheable && impl_->enabled && !impl_->warned_untracked) {
        impl_->warned_untracked = true;
        TORCH_WARN("aie conv: the weight is an inference tensor on ", weight.device(),
                   " (made under torch.inference_mode()): it has no version counter and the aie "
                   "device does not see its writes, so its packed form cannot be cached and is "
                   "rebuilt on every call. Create the weights outside inference_mode (e.g. build "
                   "the model, then enter inference_mode), or move the model to \"aie\". "
                   "(Warned once.)");
      }
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
  PackedPtr packed = pack();  // outside the lock
  TORCH_CHECK(packed, "conv backend '", backend, "' packed no weights");
  if (!cacheable) return packed;
  const size_t checksum = weight_checksum(weight);

  std::lock_guard<std::mutex> lock(impl_->mutex);
  if (!impl_->enabled) return packed;
  const int64_t bytes = static_cast<int64_t>(packed->bytes());
  if (bytes > impl_->stats.budget) {
    impl_->warn_over_budget(bytes);
    return packed;
  }
  impl_->drop_dead_and_stale(key);
  for (auto& e : impl_->lru)
    if (e.key == key) return e.packed;  // another thread packed it meanwhile
  impl_->lru.push_front(Entry{key, c10::weak_intrusive_ptr<c10::TensorImpl>(weight.getIntrusivePtr()),
                              weight.storage().getWeakStorageImpl(), packed, checksum});
  impl_->stats.bytes += packed->bytes();
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
  impl_->warned_untracked = false;  // the next untracked weight warns afresh
  impl_->warned_over_budget = 0;
}

void WeightCache::set_budget(int64_t bytes) {
  TORCH_CHECK_VALUE(bytes >= 0, "weight cache budget must be >= 0 bytes, got ", bytes);
  std::lock_guard<std::mutex> lock(impl_->mutex);
  impl_->stats.budget = bytes;
  impl_->warned_over_budget = 0;
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
