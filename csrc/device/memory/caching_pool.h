// The caching policy of emulated NPU memory: the PrivateUse1 device allocator.
//
// Device memory comes from a MemoryProvider (page-aligned host memory in the
// emulator) within a fixed capacity, so programs that would not fit the device fail
// here too, with torch.OutOfMemoryError.
//
// Freed blocks are cached and handed out again, as CUDA's caching allocator does
// (simplified: blocks are never split or merged). A request takes the smallest cached
// block of at least its (4 KiB-rounded) size and at most 1.25x that, so steady-state
// loops such as a model's forward pass reuse their blocks instead of page-faulting
// fresh host memory on every call. The cache holds at most TORCH_AIE_ALLOCATOR_CACHE_BYTES
// (default 1 GiB; torch_aie.set_allocator_cache_limit()); beyond that the oldest cached
// blocks go back to the provider. A limit of 0 disables caching, so that AddressSanitizer
// sees every use after free (scripts/sanitize.sh sets it).
//
// Stats follow torch.cuda.memory_stats(): "allocated"/"active" count live blocks,
// "reserved"/"segment" live plus cached blocks (reserved - allocated is the cache), and
// num_device_alloc / num_device_free count real provider allocations and frees. Cached
// blocks are whole segments, not split remainders, so "inactive_split" stays 0, as it
// does for CUDA's unsplit segments. The capacity bounds reserved bytes: an allocation
// that would exceed it first returns the cache to the provider and retries
// (num_alloc_retries), and only then raises OutOfMemoryError.
#pragma once

#include <c10/core/CachingDeviceAllocator.h>

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include "csrc/device/memory/block_table.h"
#include "csrc/device/memory/memory_provider.h"

namespace torch_aie {

class DeviceMemoryPool final : public c10::DeviceAllocator {
 public:
  using DeviceStats = c10::CachingDeviceAllocator::DeviceStats;

  explicit DeviceMemoryPool(MemoryProvider& provider) : provider_(provider) {}

  at::DataPtr allocate(size_t nbytes) override;
  at::DeleterFnPtr raw_deleter() const override;
  void copy_data(void* dest, const void* src, std::size_t count) const override {
    default_copy_data(dest, src, count);
  }
  // Runs from DataPtr deleters: must not throw.
  void free(void* ptr) noexcept;
  // True for live blocks only: a cached block is free memory.
  bool owns(const void* ptr);
  bool initialized() override { return true; }
  // Returns every cached block to the provider. The emulator has one memory pool.
  void emptyCache(c10::MempoolId_t mempool_id) override { empty_cache(); }
  void empty_cache();
  // All work is synchronous: a block is free for reuse as soon as it is freed.
  void recordStream(const at::DataPtr& ptr, c10::Stream stream) override {}
  DeviceStats getDeviceStats(c10::DeviceIndex device) override;
  void resetAccumulatedStats(c10::DeviceIndex device) override;
  void resetPeakStats(c10::DeviceIndex device) override;
  // (free, total) bytes of the emulated device memory; cached blocks are in use, as
  // for cudaMemGetInfo.
  std::pair<size_t, size_t> getMemoryInfo(c10::DeviceIndex device) override;

  uint64_t capacity();
  // A capacity below what is in use only makes further allocations fail.
  void set_capacity(int64_t nbytes);
  uint64_t cache_limit();
  // Lowering the limit returns the oldest cached blocks until the cache fits it.
  void set_cache_limit(int64_t nbytes);
  // (cached blocks, cached bytes).
  std::pair<uint64_t, uint64_t> cached();

 private:
  struct CachedBlock {
    void* ptr;
    uint64_t age;  // order of caching: the smallest is evicted first
  };
  using Cache = std::multimap<size_t, CachedBlock>;

  std::vector<c10::CachingAllocator::StatArray*> stat_arrays();
  uint64_t capacity_locked();
  uint64_t cache_limit_locked();
  void count_live_locked(Block block, int sign);
  void count_segment_locked(size_t bytes, int sign);
  void* take_cached_locked(size_t requested, size_t bytes);
  void reserve_locked(size_t requested, size_t bytes);
  bool cache_locked(void* ptr, size_t bytes, std::vector<void*>& to_provider) noexcept;
  void evict_locked(uint64_t keep, std::vector<void*>& to_provider);
  void release_all(const std::vector<void*>& ptrs) noexcept;

  MemoryProvider& provider_;
  std::mutex mutex_;
  BlockTable blocks_;  // live blocks
  Cache cache_;        // freed blocks kept for reuse, by size
  std::map<uint64_t, Cache::iterator> by_age_;  // the same blocks, oldest first
  uint64_t cached_bytes_ = 0;
  uint64_t next_age_ = 0;
  DeviceStats stats_;
  std::optional<uint64_t> capacity_;
  std::optional<uint64_t> cache_limit_;
};

// The device allocator (never destroyed: tensors held by Python globals are freed
// after static destructors have run).
DeviceMemoryPool& device_pool();

}  // namespace torch_aie
