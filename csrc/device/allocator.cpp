// Emulated NPU memory. Device memory is page-aligned host memory handed out from a
// pool with a fixed capacity, so programs that would not fit the device fail here
// too, with torch.OutOfMemoryError. Nothing is cached: a free returns memory at
// once, so "reserved" equals "allocated". Stats follow torch.cuda.memory_stats().
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

uint64_t capacity_from_env() {
  const char* text = std::getenv(kCapacityEnv);
  if (text == nullptr || *text == '\0') {
    return kDefaultCapacity;
  }
  const std::string value(text);
  uint64_t bytes = 0;
  const auto [end, err] = std::from_chars(value.data(), value.data() + value.size(), bytes);
  TORCH_CHECK(
      err == std::errc() && end == value.data() + value.size() && bytes > 0,
      kCapacityEnv,
      "='",
      value,
      "' is not a positive number of bytes");
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
    reserve(nbytes, bytes);
    void* ptr = aligned_host_alloc(bytes);
    if (ptr == nullptr) {
      release(Block{bytes, nbytes});
      TORCH_CHECK_WITH(
          OutOfMemoryError,
          false,
          "aie out of memory: the host could not provide ",
          bytes,
          " bytes of emulated device memory");
    }
    std::lock_guard<std::mutex> lock(mutex_);
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
    std::optional<Block> block;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      block = blocks_.erase(ptr);
      if (block) {
        uncount_locked(*block);
        stats_.num_device_free++;
      }
    }
    // A pointer this pool never handed out is leaked rather than passed to free().
    if (block) {
      std::free(ptr);
    }
  }

  bool owns(const void* ptr) {
    std::lock_guard<std::mutex> lock(mutex_);
    return blocks_.contains(ptr);
  }

  bool initialized() override {
    return true;
  }

  // Nothing is cached, so there is nothing to release.
  void emptyCache(c10::MempoolId_t mempool_id) override {}

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

  // (free, total) bytes of the emulated device memory.
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

 private:
  static constexpr size_t kAll = static_cast<size_t>(StatType::AGGREGATE);

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
      capacity_ = capacity_from_env();
    }
    return *capacity_;
  }

  // Claims `bytes` of the capacity and counts the allocation.
  void reserve(size_t requested, size_t bytes) {
    std::lock_guard<std::mutex> lock(mutex_);
    const uint64_t cap = capacity_locked();
    const uint64_t used = static_cast<uint64_t>(stats_.reserved_bytes[kAll].current);
    if (used > cap || bytes > cap - used) {
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
          used,
          " bytes already allocated of the emulated device's ",
          cap,
          "-byte capacity. Free tensors, or raise the capacity with "
          "torch_aie.set_memory_capacity() or ",
          kCapacityEnv,
          ".");
    }
    for (size_t type : {kAll, pool_of(bytes)}) {
      stats_.allocation[type].increase(1);
      stats_.segment[type].increase(1);
      stats_.active[type].increase(1);
      stats_.allocated_bytes[type].increase(bytes);
      stats_.reserved_bytes[type].increase(bytes);
      stats_.active_bytes[type].increase(bytes);
      stats_.requested_bytes[type].increase(requested);
    }
    stats_.num_device_alloc++;
  }

  // Undoes reserve() for an allocation the host could not back.
  void release(Block block) {
    std::lock_guard<std::mutex> lock(mutex_);
    uncount_locked(block);
  }

  void uncount_locked(Block block) {
    for (size_t type : {kAll, pool_of(block.bytes)}) {
      stats_.allocation[type].decrease(1);
      stats_.segment[type].decrease(1);
      stats_.active[type].decrease(1);
      stats_.allocated_bytes[type].decrease(block.bytes);
      stats_.reserved_bytes[type].decrease(block.bytes);
      stats_.active_bytes[type].decrease(block.bytes);
      stats_.requested_bytes[type].decrease(block.requested);
    }
  }

  std::mutex mutex_;
  BlockTable blocks_;
  DeviceStats stats_;
  std::optional<uint64_t> capacity_;
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
        {"capacity_bytes", static_cast<int64_t>(device_pool()->capacity())}}) {
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

TORCH_LIBRARY_FRAGMENT(_aie, m) {
  m.def("memory_stats(int device=-1) -> (str[], int[])", &memory_stats);
  m.def("reset_peak_memory_stats(int device=-1) -> ()", &reset_peak_memory_stats);
  m.def("reset_accumulated_memory_stats(int device=-1) -> ()", &reset_accumulated_memory_stats);
  m.def("set_memory_capacity(int nbytes) -> ()", &set_memory_capacity);
  m.def("memory_capacity() -> int", &memory_capacity);
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
