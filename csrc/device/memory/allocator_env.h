// The allocator's settings from the environment, read on first use (not at
// library load): a bad value must surface as a Python error, and static
// initialisers cannot throw.
#pragma once

#include <cstdint>

namespace torch_aie {

constexpr uint64_t kDefaultCapacity = uint64_t{16} << 30;
constexpr const char* kCapacityEnv = "TORCH_AIE_MEMORY_CAPACITY";
constexpr uint64_t kDefaultCacheLimit = uint64_t{1} << 30;
constexpr const char* kCacheEnv = "TORCH_AIE_ALLOCATOR_CACHE_BYTES";

// A byte count from the environment: `name`'s value, or `fallback` when unset or empty.
uint64_t bytes_from_env(const char* name, uint64_t fallback, bool allow_zero);

}  // namespace torch_aie
