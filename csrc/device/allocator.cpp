// Emulated NPU memory. Device memory is page-aligned host memory handed out from a
// pool with a fixed capacity, so programs that would not fit the device fail here
// too, with torch.OutOfMemoryError.
//
// Freed blocks are cached and handed out again, as CUDA's caching allocator does
// (simplified: blocks are never split or merged). A request takes the smallest cached
// block of at least its (4 KiB-rounded) size and at most 1.25x that, so steady-state
// loops such as a model's forward pass reuse their blocks instead of page-faulting
// fresh host memory on every call. The cache holds at most TORCH_AIE_ALLOCATOR_CACHE_BYTES
// (default 1 GiB; torch_aie.set_allocator_cache_limit()); beyond that the oldest cached
// blocks go back to the host. A limit of 0 disables caching, so that AddressSanitizer
// sees every use after free (scripts/sanitize.sh sets it).
//
// Stats follow torch.cuda.memory_stats(): "allocated"/"active" count live blocks,
// "reserved"/"segment" live plus cached blocks (reserved - allocated is the cache), and
// num_device_alloc / num_device_free count real host allocations and frees. Cached
// blocks are whole segments, not split remainders, so "inactive_split" stays 0, as it
// does for CUDA's unsplit segments. The capacity bounds reserved bytes: an allocation
// that would exceed it first returns the cache to the host and retries
// (num_alloc_retries), and only then raises OutOfMemoryError.
#include "csrc/device/allocator.h"

#include <c10/core/CachingDeviceAllocator.h>
#include <c10/util/Exception.h>
#include <torch/library.h>

#include <charconv>
#include <cstdlib>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "csrc/device/device.h"

namespace torch_aie {

namespace {

using c10::CachingAllocator::Stat;
using c10::CachingAllocator::StatArray;
using c10::CachingAllocator::StatType;
using c10::CachingDeviceAllocator::DeviceStats;

// NPU buffer objects are page-aligned; so is every block here.
constexpr size_t kAlignment = 4096;
// Blocks up to this size count in the "small_pool" stats, as CUDA's do.
constexpr size_t kSmallBlock = size_t{1} << 20;
constexpr uint64_t kDefaultCapacity = uint64_t{16} << 30;
constexpr const char* kCapacityEnv = "TORCH_AIE_MEMORY_CAPACITY";
constexpr uint64_t kDefaultCacheLimit = uint64_t{1} << 30;
constexpr const char* kCacheEnv = "TORCH_AIE_ALLOCATOR_CACHE_BYTES";

size_t round_up(size_t nbytes) {
  TORCH_CHECK_WITH(
      OutOfMemoryError,
      nbytes <= std::numeric_limits<size_t>::max() - kAlignment,
      "aie out of memory: cannot allocate ",
      nbytes,
      " bytes");
  return (nbytes + kAlignment - 1) / kAlignment * kAlignment;
}

void* aligned_host_alloc(size_t bytes) {
  void* ptr = nullptr;
  return posix_memalign(&ptr, kAlignment, bytes) == 0 ? ptr : nullptr;
}

struct Block {
  size_t bytes;  // as allocated (rounded to kAlignment)
  size_t requested;  // as asked for
};

// Live blocks by start address, ordered so that an interior pointer (a tensor
// with a storage offset) finds the block that holds it.
class BlockTable {
 public:
  void insert(void* ptr, Block block) {
    blocks_.emplace(address(ptr), block);
  }

  std::optional<Block> erase(void* ptr) {
    auto it = blocks_.find(address(ptr));
    if (it == blocks_.end()) {
      return std::nullopt;
    }
    Block block = it->second;
    blocks_.erase(it);
    return block;
  }

  bool contains(const void* ptr) const {
    auto it = blocks_.upper_bound(address(ptr));
    if (it == blocks_.begin()) {
      return false;
    }
    --it;
    return address(ptr) < it->first + it->second.bytes;
  }

 private:
  static uintptr_t address(const void* ptr) {
    return reinterpret_cast<uintptr_t>(ptr);
  }

  std::map<uintptr_t, Block> blocks_;
};

// A byte count from the environment: `name`'s value, or `fallback` when unset or empty.
uint64_t bytes_from_env(const char* name, uint64_t fallback, bool allow_zero) {
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0') {
    return fallback;
  }
  const std::string value(text);
  uint64_t bytes = 0;
  const auto [end, err] = std::from_chars(value.data(), value.data() + value.size(), bytes);
  TORCH_CHECK(
      err == std::errc() && end == value.data() + value.size() && (allow_zero || bytes > 0),
      name,
      "='",
      value,
      "' is not a ",
      allow_zero ? "non-negative" : "positive",
      " number of bytes");
  return bytes;
}

void free_device_memory(void* ptr);

class DeviceMemoryPool final : public c10::DeviceAllocator {
 public:
  at::DataPtr allocate(size_t nbytes) override {
    const c10::Device device = aie_device(current_device());
    if (nbytes == 0) {
      return {nullptr, nullptr, &free_device_memory, device};
    }
    const size_t bytes = round_up(nbytes);
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
    ptr = aligned_host_alloc(bytes);
    if (ptr == nullptr) {
      // The host may be short of memory because of what the cache holds.
      try {
        empty_cache();
      } catch (...) {
      }
      ptr = aligned_host_alloc(bytes);
    }
    std::lock_guard<std::mutex> lock(mutex_);
    if (ptr == nullptr) {
      count_live_locked(Block{bytes, nbytes}, -1);
      count_segment_locked(bytes, -1);
      stats_.num_device_alloc--;
      TORCH_CHECK_WITH(
          OutOfMemoryError,
          false,
          "aie out of memory: the host could not provide ",
          bytes,
          " bytes of emulated device memory");
    }
    blocks_.insert(ptr, Block{bytes, nbytes});
    return {ptr, ptr, &free_device_memory, device};
  }

  at::DeleterFnPtr raw_deleter() const override {
    return &free_device_memory;
  }

  void copy_data(void* dest, const void* src, std::size_t count) const override {
    default_copy_data(dest, src, count);
  }

  // Runs from DataPtr deleters: must not throw.
  void free(void* ptr) noexcept {
    std::vector<void*> evicted;
    bool to_host = false;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      std::optional<Block> block = blocks_.erase(ptr);
      // A pointer this pool never handed out is leaked rather than passed to free().
      if (!block) {
        return;
      }
      count_live_locked(*block, -1);
      if (!cache_locked(ptr, block->bytes, evicted)) {
        count_segment_locked(block->bytes, -1);
        stats_.num_device_free++;
        to_host = true;
      }
    }
    if (to_host) {
      std::free(ptr);
    }
    for (void* p : evicted) {
      std::free(p);
    }
  }

  // True for live blocks only: a cached block is free memory.
  bool owns(const void* ptr) {
    std::lock_guard<std::mutex> lock(mutex_);
    return blocks_.contains(ptr);
  }

  bool initialized() override {
    return true;
  }

  // Returns every cached block to the host. The emulator has one memory pool.
  void emptyCache(c10::MempoolId_t mempool_id) override {
    empty_cache();
  }

  void empty_cache() {
    std::vector<void*> to_host;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      to_host.reserve(cache_.size());
      evict_locked(0, to_host);
    }
    for (void* p : to_host) {
      std::free(p);
    }
  }

  // All work is synchronous: a block is free for reuse as soon as it is freed.
  void recordStream(const at::DataPtr& ptr, c10::Stream stream) override {}

  DeviceStats getDeviceStats(c10::DeviceIndex device) override {
    check_device_index(device);
    std::lock_guard<std::mutex> lock(mutex_);
    return stats_;
  }

  void resetAccumulatedStats(c10::DeviceIndex device) override {
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

  void resetPeakStats(c10::DeviceIndex device) override {
    check_device_index(device);
    std::lock_guard<std::mutex> lock(mutex_);
    for (StatArray* array : stat_arrays()) {
      for (Stat& stat : *array) {
        stat.reset_peak();
      }
    }
  }

  // (free, total) bytes of the emulated device memory; cached blocks are in use, as
  // for cudaMemGetInfo.
  std::pair<size_t, size_t> getMemoryInfo(c10::DeviceIndex device) override {
    check_device_index(device);
    std::lock_guard<std::mutex> lock(mutex_);
    const uint64_t total = capacity_locked();
    const uint64_t used = static_cast<uint64_t>(stats_.reserved_bytes[kAll].current);
    return {used < total ? total - used : 0, total};
  }

  uint64_t capacity() {
    std::lock_guard<std::mutex> lock(mutex_);
    return capacity_locked();
  }

  // A capacity below what is in use only makes further allocations fail.
  void set_capacity(int64_t nbytes) {
    TORCH_CHECK(nbytes > 0, "aie memory capacity must be a positive number of bytes, got ", nbytes);
    std::lock_guard<std::mutex> lock(mutex_);
    capacity_ = static_cast<uint64_t>(nbytes);
  }

  uint64_t cache_limit() {
    std::lock_guard<std::mutex> lock(mutex_);
    return cache_limit_locked();
  }

  // Lowering the limit returns the oldest cached blocks until the cache fits it.
  void set_cache_limit(int64_t nbytes) {
    TORCH_CHECK(
        nbytes >= 0, "aie allocator cache limit must be a non-negative number of bytes, got ", nbytes);
    std::vector<void*> to_host;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      cache_limit_ = static_cast<uint64_t>(nbytes);
      to_host.reserve(cache_.size());
      evict_locked(*cache_limit_, to_host);
    }
    for (void* p : to_host) {
      std::free(p);
    }
  }

  std::pair<uint64_t, uint64_t> cached() {
    std::lock_guard<std::mutex> lock(mutex_);
    return {cache_.size(), cached_bytes_};
  }

 private:
  static constexpr size_t kAll = static_cast<size_t>(StatType::AGGREGATE);

  struct CachedBlock {
    void* ptr;
    uint64_t age;  // order of caching: the smallest is evicted first
  };
  using Cache = std::multimap<size_t, CachedBlock>;

  static size_t pool_of(size_t bytes) {
    return static_cast<size_t>(bytes <= kSmallBlock ? StatType::SMALL_POOL : StatType::LARGE_POOL);
  }

  std::vector<StatArray*> stat_arrays() {
    return {&stats_.allocation, &stats_.segment, &stats_.active, &stats_.inactive_split,
            &stats_.allocated_bytes, &stats_.reserved_bytes, &stats_.active_bytes,
            &stats_.inactive_split_bytes, &stats_.requested_bytes};
  }

  // The environment is read on first use, not at library load: a bad value must
  // surface as a Python error, and static initialisers cannot throw.
  uint64_t capacity_locked() {
    if (!capacity_) {
      capacity_ = bytes_from_env(kCapacityEnv, kDefaultCapacity, /*allow_zero=*/false);
    }
    return *capacity_;
  }

  uint64_t cache_limit_locked() {
    if (!cache_limit_) {
      cache_limit_ = bytes_from_env(kCacheEnv, kDefaultCacheLimit, /*allow_zero=*/true);
    }
    return *cache_limit_;
  }

  // A live block's figures: allocation, active, allocated/active/requested bytes.
  void count_live_locked(Block block, int sign) {
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

  // A host allocation's figures: segment and reserved bytes.
  void count_segment_locked(size_t bytes, int sign) {
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
  void* take_cached_locked(size_t requested, size_t bytes) {
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

  // Claims `bytes` of the capacity for a new host allocation and counts it live.
  void reserve_locked(size_t requested, size_t bytes) {
    const uint64_t cap = capacity_locked();
    auto fits = [&] {
      const uint64_t used = static_cast<uint64_t>(stats_.reserved_bytes[kAll].current);
      return used <= cap && bytes <= cap - used;
    };
    if (!fits() && !cache_.empty()) {
      // Return the cache to the host, then retry.
      std::vector<void*> to_host;
      evict_locked(0, to_host);
      for (void* p : to_host) {
        std::free(p);
      }
      stats_.num_alloc_retries++;
    }
    if (!fits()) {
      stats_.num_ooms++;
      TORCH_CHECK_WITH(
          OutOfMemoryError,
          false,
          "aie out of memory: tried to allocate ",
          requested,
          " bytes (",
          bytes,
          " bytes after ",
          kAlignment,
          "-byte alignment) with ",
          stats_.reserved_bytes[kAll].current,
          " bytes already allocated of the emulated device's ",
          cap,
          "-byte capacity. Free tensors, or raise the capacity with "
          "torch_aie.set_memory_capacity() or ",
          kCapacityEnv,
          ".");
    }
    count_segment_locked(bytes, +1);
    count_live_locked(Block{bytes, requested}, +1);
    stats_.num_device_alloc++;
  }

  // Caches a freed block, evicting the oldest cached blocks into `to_host` to stay
  // within the limit; false if the block does not go to the cache (the caller frees it).
  bool cache_locked(void* ptr, size_t bytes, std::vector<void*>& to_host) noexcept {
    // The limit was read by the allocation that produced this block.
    const uint64_t limit = cache_limit_.value_or(0);
    if (bytes > limit) {
      return false;
    }
    try {
      to_host.reserve(to_host.size() + cache_.size() + 1);
    } catch (...) {
      return false;  // out of host memory for the bookkeeping: free the block instead
    }
    evict_locked(limit - bytes, to_host);
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

  // Moves the oldest cached blocks into `to_host` (to be freed after unlocking)
  // until at most `keep` bytes stay cached.
  // Callers reserve room in `to_host` first where they must not throw.
  void evict_locked(uint64_t keep, std::vector<void*>& to_host) {
    while (cached_bytes_ > keep) {
      const auto oldest = by_age_.begin();
      const Cache::iterator entry = oldest->second;
      to_host.push_back(entry->second.ptr);
      cached_bytes_ -= entry->first;
      count_segment_locked(entry->first, -1);
      stats_.num_device_free++;
      by_age_.erase(oldest);
      cache_.erase(entry);
    }
  }

  std::mutex mutex_;
  BlockTable blocks_;  // live blocks
  Cache cache_;  // freed blocks kept for reuse, by size
  std::map<uint64_t, Cache::iterator> by_age_;  // the same blocks, oldest first
  uint64_t cached_bytes_ = 0;
  uint64_t next_age_ = 0;
  DeviceStats stats_;
  std::optional<uint64_t> capacity_;
  std::optional<uint64_t> cache_limit_;
};

// Never destroyed: tensors held by Python globals are freed after static
// destructors have run.
DeviceMemoryPool* device_pool() {
  static auto* pool = new DeviceMemoryPool();
  return pool;
}

void free_device_memory(void* ptr) {
  if (ptr != nullptr) {
    device_pool()->free(ptr);
  }
}

void free_pinned_memory(void* ptr);

class PinnedHostAllocator final : public c10::Allocator {
 public:
  at::DataPtr allocate(size_t nbytes) override {
    const c10::Device cpu(c10::DeviceType::CPU);
    if (nbytes == 0) {
      return {nullptr, nullptr, &free_pinned_memory, cpu};
    }
    void* ptr = aligned_host_alloc(round_up(nbytes));
    TORCH_CHECK_WITH(
        OutOfMemoryError, ptr != nullptr, "out of host memory allocating ", nbytes, " pinned bytes");
    std::lock_guard<std::mutex> lock(mutex_);
    blocks_.insert(ptr, Block{round_up(nbytes), nbytes});
    return {ptr, ptr, &free_pinned_memory, cpu};
  }

  at::DeleterFnPtr raw_deleter() const override {
    return &free_pinned_memory;
  }

  void copy_data(void* dest, const void* src, std::size_t count) const override {
    default_copy_data(dest, src, count);
  }

  void free(void* ptr) noexcept {
    bool known = false;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      known = blocks_.erase(ptr).has_value();
    }
    if (known) {
      std::free(ptr);
    }
  }

  bool owns(const void* ptr) {
    std::lock_guard<std::mutex> lock(mutex_);
    return blocks_.contains(ptr);
  }

 private:
  std::mutex mutex_;
  BlockTable blocks_;
};

PinnedHostAllocator* pinned_pool() {
  static auto* pool = new PinnedHostAllocator();
  return pool;
}

void free_pinned_memory(void* ptr) {
  if (ptr != nullptr) {
    pinned_pool()->free(ptr);
  }
}

REGISTER_ALLOCATOR(c10::DeviceType::PrivateUse1, device_pool());

// ---- control ops (torch.ops._aie.*) -------------------------------------------

void add_stat_array(
    std::vector<std::string>& names,
    std::vector<int64_t>& values,
    const std::string& prefix,
    const StatArray& array) {
  static const char* const kPools[] = {"all", "small_pool", "large_pool"};
  for (size_t pool = 0; pool < array.size(); ++pool) {
    const std::string key = prefix + "." + kPools[pool] + ".";
    const Stat& stat = array[pool];
    for (const auto& [metric, value] :
         {std::pair<const char*, int64_t>{"current", stat.current},
          {"peak", stat.peak},
          {"allocated", stat.allocated},
          {"freed", stat.freed}}) {
      names.push_back(key + metric);
      values.push_back(value);
    }
  }
}

// Flattened like torch.cuda.memory_stats(), plus the pool's capacity.
std::tuple<std::vector<std::string>, std::vector<int64_t>> memory_stats(int64_t device) {
  const DeviceStats stats = device_pool()->getDeviceStats(check_device_index(device));
  const auto [cached_blocks, cached_bytes] = device_pool()->cached();
  std::vector<std::string> names;
  std::vector<int64_t> values;
  add_stat_array(names, values, "allocation", stats.allocation);
  add_stat_array(names, values, "segment", stats.segment);
  add_stat_array(names, values, "active", stats.active);
  add_stat_array(names, values, "inactive_split", stats.inactive_split);
  add_stat_array(names, values, "allocated_bytes", stats.allocated_bytes);
  add_stat_array(names, values, "reserved_bytes", stats.reserved_bytes);
  add_stat_array(names, values, "active_bytes", stats.active_bytes);
  add_stat_array(names, values, "inactive_split_bytes", stats.inactive_split_bytes);
  add_stat_array(names, values, "requested_bytes", stats.requested_bytes);
  for (const auto& [name, value] :
       {std::pair<const char*, int64_t>{"num_alloc_retries", stats.num_alloc_retries},
        {"num_ooms", stats.num_ooms},
        {"num_device_alloc", stats.num_device_alloc},
        {"num_device_free", stats.num_device_free},
        {"capacity_bytes", static_cast<int64_t>(device_pool()->capacity())},
        {"cached_blocks", static_cast<int64_t>(cached_blocks)},
        {"cached_bytes", static_cast<int64_t>(cached_bytes)},
        {"cache_limit_bytes", static_cast<int64_t>(device_pool()->cache_limit())}}) {
    names.emplace_back(name);
    values.push_back(value);
  }
  return {std::move(names), std::move(values)};
}

void reset_peak_memory_stats(int64_t device) {
  device_pool()->resetPeakStats(check_device_index(device));
}

void reset_accumulated_memory_stats(int64_t device) {
  device_pool()->resetAccumulatedStats(check_device_index(device));
}

void set_memory_capacity(int64_t nbytes) {
  device_pool()->set_capacity(nbytes);
}

int64_t memory_capacity() {
  return static_cast<int64_t>(device_pool()->capacity());
}

void empty_cache() {
  device_pool()->empty_cache();
}

void set_allocator_cache_limit(int64_t nbytes) {
  device_pool()->set_cache_limit(nbytes);
}

int64_t allocator_cache_limit() {
  return static_cast<int64_t>(device_pool()->cache_limit());
}

TORCH_LIBRARY_FRAGMENT(_aie, m) {
  m.def("memory_stats(int device=-1) -> (str[], int[])", &memory_stats);
  m.def("reset_peak_memory_stats(int device=-1) -> ()", &reset_peak_memory_stats);
  m.def("reset_accumulated_memory_stats(int device=-1) -> ()", &reset_accumulated_memory_stats);
  m.def("set_memory_capacity(int nbytes) -> ()", &set_memory_capacity);
  m.def("memory_capacity() -> int", &memory_capacity);
  m.def("empty_cache() -> ()", &empty_cache);
  m.def("set_allocator_cache_limit(int nbytes) -> ()", &set_allocator_cache_limit);
  m.def("allocator_cache_limit() -> int", &allocator_cache_limit);
}

}  // namespace

bool is_device_ptr(const void* ptr) {
  return ptr != nullptr && device_pool()->owns(ptr);
}

c10::Allocator* pinned_host_allocator() {
  return pinned_pool();
}

bool is_pinned_host_ptr(const void* ptr) {
  return ptr != nullptr && pinned_pool()->owns(ptr);
}

}  // namespace torch_aie
