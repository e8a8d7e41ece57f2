// The host allocator behind pin_memory(): page-aligned host memory. There is no DMA
// here, so "pinned" only means "allocated by this allocator", which is what
// is_pinned() reports.
#include <c10/core/Allocator.h>
#include <c10/util/Exception.h>

#include <mutex>

#include "csrc/device/memory/allocator.h"
#include "csrc/device/memory/block_table.h"
#include "csrc/device/memory/memory_provider.h"

namespace torch_aie {

namespace {

void free_pinned_memory(void* ptr);

class PinnedHostAllocator final : public c10::Allocator {
 public:
  at::DataPtr allocate(size_t nbytes) override {
    const c10::Device cpu(c10::DeviceType::CPU);
    if (nbytes == 0) {
      return {nullptr, nullptr, &free_pinned_memory, cpu};
    }
    const size_t bytes = round_to_alignment(nbytes);
    void* ptr = host_memory().allocate(bytes);
    TORCH_CHECK_WITH(OutOfMemoryError, ptr != nullptr, "out of host memory allocating ", nbytes, " pinned bytes");
    std::lock_guard<std::mutex> lock(mutex_);
    blocks_.insert(ptr, Block{bytes, nbytes});
    return {ptr, ptr, &free_pinned_memory, cpu};
  }

  at::DeleterFnPtr raw_deleter() const override { return &free_pinned_memory; }

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
      host_memory().release(ptr);
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
  static auto* pool = new PinnedHostAllocator();  // never destroyed, like the device pool
  return pool;
}

void free_pinned_memory(void* ptr) {
  if (ptr != nullptr) {
    pinned_pool()->free(ptr);
  }
}

}  // namespace

c10::Allocator* pinned_host_allocator() {
  return pinned_pool();
}

bool is_pinned_host_ptr(const void* ptr) {
  return ptr != nullptr && pinned_pool()->owns(ptr);
}

}  // namespace torch_aie
