// The allocator's control surface (torch.ops._aie.*): statistics flattened like
// torch.cuda.memory_stats(), capacity, cache limit, empty_cache.
#include <torch/library.h>

#include <string>
#include <tuple>
#include <vector>

#include "csrc/device/memory/allocator.h"
#include "csrc/device/device.h"
#include "csrc/device/memory/caching_pool.h"

namespace torch_aie {

namespace {

using c10::CachingAllocator::Stat;
using c10::CachingAllocator::StatArray;
using c10::CachingDeviceAllocator::DeviceStats;

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
  const DeviceStats stats = device_pool().getDeviceStats(check_device_index(device));
  const auto [cached_blocks, cached_bytes] = device_pool().cached();
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
        {"capacity_bytes", static_cast<int64_t>(device_pool().capacity())},
        {"cached_blocks", static_cast<int64_t>(cached_blocks)},
        {"cached_bytes", static_cast<int64_t>(cached_bytes)},
        {"cache_limit_bytes", static_cast<int64_t>(device_pool().cache_limit())}}) {
    names.emplace_back(name);
    values.push_back(value);
  }
  return {std::move(names), std::move(values)};
}

void reset_peak_memory_stats(int64_t device) {
  device_pool().resetPeakStats(check_device_index(device));
}

void reset_accumulated_memory_stats(int64_t device) {
  device_pool().resetAccumulatedStats(check_device_index(device));
}

void set_memory_capacity(int64_t nbytes) {
  device_pool().set_capacity(nbytes);
}

int64_t memory_capacity() {
  return static_cast<int64_t>(device_pool().capacity());
}

void empty_cache() {
  device_pool().empty_cache();
}

void set_allocator_cache_limit(int64_t nbytes) {
  device_pool().set_cache_limit(nbytes);
}

int64_t allocator_cache_limit() {
  return static_cast<int64_t>(device_pool().cache_limit());
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
  return ptr != nullptr && device_pool().owns(ptr);
}

}  // namespace torch_aie
