// Live allocations by start address, shared by the device pool and the pinned
// host allocator.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>

namespace torch_aie {

struct Block {
  size_t bytes;      // as allocated (rounded to kAlignment)
  size_t requested;  // as asked for
};

// Ordered so that an interior pointer (a tensor with a storage offset) finds the
// block that holds it.
class BlockTable {
 public:
  void insert(void* ptr, Block block) { blocks_.emplace(address(ptr), block); }

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
  static uintptr_t address(const void* ptr) { return reinterpret_cast<uintptr_t>(ptr); }

  std::map<uintptr_t, Block> blocks_;
};

}  // namespace torch_aie
