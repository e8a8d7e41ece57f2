// The device pool's caching policy and statistics (see caching_pool.h).
#include "csrc/device/memory/caching_pool.h"

#include <c10/util/Exception.h>

#include "csrc/device/device.h"
#include "csrc/device/memory/allocator_env.h"

namespace torch_aie {

namespace {

using c10::CachingAllocator::Stat;
using c10::CachingAllocator::StatArray;
using c10::CachingAllocator::StatType;

constexpr size_t kAll = static_cast<size_t>(StatType::AGGREGATE);
// Blocks up to this size count in the "small_pool" stats, as CUDA's do.
constexpr size_t kSmallBlock = size_t{1} << 20;

size_t pool_of(size_t bytes) {
  return static_cast<size_t>(bytes <= kSmallBlock ? StatType::SMALL_POOL : StatType::LARGE_POOL);
}

void free_device_memory(void* ptr) {
  if (ptr != nullptr) {
    device_pool().free(ptr);
  }
}

}  // namespace

DeviceMemoryPool& device_pool() {
  static auto* pool = new DeviceMemoryPool(device_memory_provider());
  return *pool;
}

REGISTER_ALLOCATOR(c10::DeviceType::PrivateUse1, &device_pool());

at::DataPtr DeviceMemoryPool::allocate(size_t nbytes) {
  const c10::Device device = aie_device(current_device());
  if (nbytes == 0) {
    return {nullptr, nullptr, &free_device_memory, device};
  }
  const size_t bytes = round_to_alignment(nbytes);
  void* ptr = nullptr;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    cache_limit_locked();  // read now: free() must not throw
    ptr = take_cached_locked(nbytes, bytes);
    if (ptr != nullptr) {
      return {ptr, ptr, &free_device_memory, device};
    }
    reserve_locked(nbytes, bytes);
  }
  ptr = provider_.allocate(bytes);
  if (ptr == nullptr) {
    // The provider may be short of memory because of what the cache holds.
    try {
      empty_cache();
    } catch (...) {
    }
    ptr = provider_.allocate(bytes);
  }
  std::lock_guard<std::mutex> lock(mutex_);
  if (ptr == nullptr) {
    count_live_locked(Block{bytes, nbytes}, -1);
    count_segment_locked(bytes, -1);
    stats_.num_device_alloc--;
    TORCH_CHECK_WITH(OutOfMemoryError, false, "aie out of memory: the host could not provide ", bytes,
                     " bytes of emulated device memory");
  }
  blocks_.insert(ptr, Block{bytes, nbytes});
  return {ptr, ptr, &free_device_memory, device};
}

at::DeleterFnPtr DeviceMemoryPool::raw_deleter() const {
  return &free_device_memory;
}

void DeviceMemoryPool::free(void* ptr) noexcept {
  std::vector<void*> evicted;
  bool to_provider = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    std::optional<Block> block = blocks_.erase(ptr);
    // A pointer this pool never handed out is leaked rather than released.
    if (!block) {
      return;
    }
    count_live_locked(*block, -1);
    if (!cache_locked(ptr, block->bytes, evicted)) {
      count_segment_locked(block->bytes, -1);
      stats_.num_device_free++;
      to_provider = true;
    }
  }
  if (to_provider) {
    provider_.release(ptr);
  }
  release_all(evicted);
}

bool DeviceMemoryPool::owns(const void* ptr) {
  std::lock_guard<std::mutex> lock(mutex_);
  return blocks_.contains(ptr);
}

void DeviceMemoryPool::empty_cache() {
  std::vector<void*> to_provider;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    to_provider.reserve(cache_.size());
    evict_locked(0, to_provider);
  }
  release_all(to_provider);
}

DeviceMemoryPool::DeviceStats DeviceMemoryPool::getDeviceStats(c10::DeviceIndex device) {
  check_device_index(device);
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

void DeviceMemoryPool::resetAccumulatedStats(c10::DeviceIndex device) {
  check_device_index(device);
  std::lock_guard<std::mutex> lock(mutex_);
  for (StatArray* array : stat_arrays()) {
    for (Stat& stat : *array) {
      stat.reset_accumulated();
    }
  }
  stats_.num_alloc_retries = 0;
  stats_.num_ooms = 0;
  stats_.num_device_alloc = 0;
  stats_.num_device_free = 0;
}

void DeviceMemoryPool::resetPeakStats(c10::DeviceIndex device) {
  check_device_index(device);
  std::lock_guard<std::mutex> lock(mutex_);
  for (StatArray* array : stat_arrays()) {
    for (Stat& stat : *array) {
      stat.reset_peak();
    }
  }
}

std::pair<size_t, size_t> DeviceMemoryPool::getMemoryInfo(c10::DeviceIndex device) {
  check_device_index(device);
  std::lock_guard<std::mutex> lock(mutex_);
  const uint64_t total = capacity_locked();
  const uint64_t used = static_cast<uint64_t>(stats_.reserved_bytes[kAll].current);
  return {used < total ? total - used : 0, total};
}

uint64_t DeviceMemoryPool::capacity() {
  std::lock_guard<std::mutex> lock(mutex_);
  return capacity_locked();
}

void DeviceMemoryPool::set_capacity(int64_t nbytes) {
  TORCH_CHECK(nbytes > 0, "aie memory capacity must be a positive number of bytes, got ", nbytes);
  std::lock_guard<std::mutex> lock(mutex_);
  capacity_ = static_cast<uint64_t>(nbytes);
}

uint64_t DeviceMemoryPool::cache_limit() {
  std::lock_guard<std::mutex> lock(mutex_);
  return cache_limit_locked();
}

void DeviceMemoryPool::set_cache_limit(int64_t nbytes) {
  TORCH_CHECK(nbytes >= 0, "aie allocator cache limit must be a non-negative number of bytes, got ", nbytes);
  std::vector<void*> to_provider;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    cache_limit_ = static_cast<uint64_t>(nbytes);
    to_provider.reserve(cache_.size());
    evict_locked(*cache_limit_, to_provider);
  }
  release_all(to_provider);
}

std::pair<uint64_t, uint64_t> DeviceMemoryPool::cached() {
  std::lock_guard<std::mutex> lock(mutex_);
  return {cache_.size(), cached_bytes_};
}

std::vector<StatArray*> DeviceMemoryPool::stat_arrays() {
  return {&stats_.allocation,      &stats_.segment,        &stats_.active,
          &stats_.inactive_split,  &stats_.allocated_bytes, &stats_.reserved_bytes,
          &stats_.active_bytes,    &stats_.inactive_split_bytes, &stats_.requested_bytes};
}

uint64_t DeviceMemoryPool::capacity_locked() {
  if (!capacity_) {
    capacity_ = bytes_from_env(kCapacityEnv, kDefaultCapacity, /*allow_zero=*/false);
  }
  return *capacity_;
}

uint64_t DeviceMemoryPool::cache_limit_locked() {
  if (!cache_limit_) {
    cache_limit_ = bytes_from_env(kCacheEnv, kDefaultCacheLimit, /*allow_zero=*/true);
  }
  return *cache_limit_;
}

// A live block's figures: allocation, active, allocated/active/requested bytes.
void DeviceMemoryPool::count_live_locked(Block block, int sign) {
  for (size_t type : {kAll, pool_of(block.bytes)}) {
    if (sign > 0) {
      stats_.allocation[type].increase(1);
      stats_.active[type].increase(1);
      stats_.allocated_bytes[type].increase(block.bytes);
      stats_.active_bytes[type].increase(block.bytes);
      stats_.requested_bytes[type].increase(block.requested);
    } else {
      stats_.allocation[type].decrease(1);
      stats_.active[type].decrease(1);
      stats_.allocated_bytes[type].decrease(block.bytes);
      stats_.active_bytes[type].decrease(block.bytes);
      stats_.requested_bytes[type].decrease(block.requested);
    }
  }
}

// A provider allocation's figures: segment and reserved bytes.
void DeviceMemoryPool::count_segment_locked(size_t bytes, int sign) {
  for (size_t type : {kAll, pool_of(bytes)}) {
    if (sign > 0) {
      stats_.segment[type].increase(1);
      stats_.reserved_bytes[type].increase(bytes);
    } else {
      stats_.segment[type].decrease(1);
      stats_.reserved_bytes[type].decrease(bytes);
    }
  }
}

// The best-fitting cached block for `bytes`, now live, or nullptr.
void* DeviceMemoryPool::take_cached_locked(size_t requested, size_t bytes) {
  if (cache_.empty()) {
    return nullptr;
  }
  auto it = cache_.lower_bound(bytes);
  // At most 1.25x the request: a big block is not tied up by a small tensor.
  if (it == cache_.end() || it->first > bytes + bytes / 4) {
    return nullptr;
  }
  // Of equal sizes, the most recently freed (the last of its range) is likeliest
  // to be in the CPU caches still.
  const size_t size = it->first;
  auto last = cache_.upper_bound(size);
  --last;
  void* ptr = last->second.ptr;
  const Block block{size, requested};
  blocks_.insert(ptr, block);
  by_age_.erase(last->second.age);
  cache_.erase(last);
  cached_bytes_ -= size;
  count_live_locked(block, +1);
  return ptr;
}

// Claims `bytes` of the capacity for a new provider allocation and counts it live.
void DeviceMemoryPool::reserve_locked(size_t requested, size_t bytes) {
  const uint64_t cap = capacity_locked();
  auto fits = [&] {
    const uint64_t used = static_cast<uint64_t>(stats_.reserved_bytes[kAll].current);
    return used <= cap && bytes <= cap - used;
  };
  if (!fits() && !cache_.empty()) {
    // Return the cache to the provider, then retry.
    std::vector<void*> to_provider;
    evict_locked(0, to_provider);
    release_all(to_provider);
    stats_.num_alloc_retries++;
  }
  if (!fits()) {
    stats_.num_ooms++;
    TORCH_CHECK_WITH(OutOfMemoryError, false, "aie out of memory: tried to allocate ", requested, " bytes (", bytes,
                     " bytes after ", kAlignment, "-byte alignment) with ", stats_.reserved_bytes[kAll].current,
                     " bytes already allocated of the emulated device's ", cap,
                     "-byte capacity. Free tensors, or raise the capacity with "
                     "torch_aie.set_memory_capacity() or ",
                     kCapacityEnv, ".");
  }
  count_segment_locked(bytes, +1);
  count_live_locked(Block{bytes, requested}, +1);
  stats_.num_device_alloc++;
}

// Caches a freed block, evicting the oldest cached blocks into `to_provider` to stay
// within the limit; false if the block does not go to the cache (the caller releases it).
bool DeviceMemoryPool::cache_locked(void* ptr, size_t bytes, std::vector<void*>& to_provider) noexcept {
  // The limit was read by the allocation that produced this block.
  const uint64_t limit = cache_limit_.value_or(0);
  if (bytes > limit) {
    return false;
  }
  try {
    to_provider.reserve(to_provider.size() + cache_.size() + 1);
  } catch (...) {
    return false;  // out of host memory for the bookkeeping: release the block instead
  }
  evict_locked(limit - bytes, to_provider);
  const uint64_t age = next_age_++;
  Cache::iterator entry;
  try {
    entry = cache_.emplace(bytes, CachedBlock{ptr, age});
  } catch (...) {
    return false;
  }
  try {
    by_age_.emplace(age, entry);
  } catch (...) {
    cache_.erase(entry);
    return false;
  }
  cached_bytes_ += bytes;
  return true;
}

// Moves the oldest cached blocks into `to_provider` (released after unlocking)
// until at most `keep` bytes stay cached. Callers reserve room in `to_provider`
// first where they must not throw.
void DeviceMemoryPool::evict_locked(uint64_t keep, std::vector<void*>& to_provider) {
  while (cached_bytes_ > keep) {
    const auto oldest = by_age_.begin();
    const Cache::iterator entry = oldest->second;
    to_provider.push_back(entry->second.ptr);
    cached_bytes_ -= entry->first;
    count_segment_locked(entry->first, -1);
    stats_.num_device_free++;
    by_age_.erase(oldest);
    cache_.erase(entry);
  }
}

void DeviceMemoryPool::release_all(const std::vector<void*>& ptrs) noexcept {
  for (void* p : ptrs) {
    provider_.release(p);
  }
}

}  // namespace torch_aie
