#include "csrc/runtime/write_epochs.h"

#include <c10/core/StorageImpl.h>
#include <c10/util/intrusive_ptr.h>

#include <atomic>
#include <mutex>
#include <unordered_map>

namespace torch_aie::runtime {

namespace {

struct Watched {
  c10::weak_intrusive_ptr<c10::StorageImpl> ref;  // expired: the address may be reused
  uint64_t epoch;
};

class Epochs {
 public:
  uint64_t epoch(const c10::Storage& s) {
    c10::StorageImpl* impl = s.unsafeGetStorageImpl();
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = map_.find(impl);
    if (it != map_.end() && !it->second.ref.expired()) return it->second.epoch;
    if (map_.size() >= prune_at_) prune();
    const uint64_t e = ++counter_;
    map_.insert_or_assign(impl, Watched{c10::weak_intrusive_ptr<c10::StorageImpl>(s.getWeakStorageImpl()), e});
    watched_.store(map_.size(), std::memory_order_release);
    return e;
  }

  void note_write(const c10::Storage& s) {
    if (watched_.load(std::memory_order_acquire) == 0) return;
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = map_.find(s.unsafeGetStorageImpl());
    if (it != map_.end()) it->second.epoch = ++counter_;
  }

 private:
  // Drops storages that died; the threshold doubles so pruning stays amortised O(1).
  void prune() {
    for (auto it = map_.begin(); it != map_.end();) it = it->second.ref.expired() ? map_.erase(it) : std::next(it);
    prune_at_ = std::max<size_t>(64, 2 * map_.size());
  }

  std::mutex mutex_;
  std::unordered_map<const c10::StorageImpl*, Watched> map_;
  std::atomic<size_t> watched_{0};
  uint64_t counter_ = 0;
  size_t prune_at_ = 64;
};

Epochs& epochs() {
  static auto* instance = new Epochs();  // leaked: kernels may run during static teardown
  return *instance;
}

}  // namespace

uint64_t write_epoch(const c10::Storage& storage) { return epochs().epoch(storage); }

void note_write(const c10::Storage& storage) { epochs().note_write(storage); }

}  // namespace torch_aie::runtime
