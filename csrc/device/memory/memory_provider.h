// Where device memory comes from, under the caching policy: an interface, so that
// a real NPU backend can hand out device buffers (e.g. XRT buffer objects, which
// XDNA maps into host memory) where the emulator hands out page-aligned host memory.
#pragma once

#include <cstddef>

namespace torch_aie {

// NPU buffer objects are page-aligned; so is every block here.
constexpr size_t kAlignment = 4096;

// `nbytes` rounded up to kAlignment; OutOfMemoryError if that overflows.
size_t round_to_alignment(size_t nbytes);

class MemoryProvider {
 public:
  virtual ~MemoryProvider() = default;
  virtual const char* name() const = 0;
  // `bytes` (a multiple of kAlignment) of kAlignment-aligned, host-addressable
  // memory, or nullptr when there is none. Must not throw.
  virtual void* allocate(size_t bytes) noexcept = 0;
  // Returns memory from allocate(). Must not throw.
  virtual void release(void* ptr) noexcept = 0;
};

// Page-aligned host memory: the emulated device's memory, and pinned host memory.
MemoryProvider& host_memory();

// What the device allocator draws on (host_memory() in the emulator).
MemoryProvider& device_memory_provider();

}  // namespace torch_aie
