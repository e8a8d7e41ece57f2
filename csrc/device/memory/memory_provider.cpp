#include "csrc/device/memory/memory_provider.h"

#include <c10/util/Exception.h>

#include <cstdlib>
#include <limits>

namespace torch_aie {

size_t round_to_alignment(size_t nbytes) {
  TORCH_CHECK_WITH(OutOfMemoryError, nbytes <= std::numeric_limits<size_t>::max() - kAlignment,
                   "aie out of memory: cannot allocate ", nbytes, " bytes");
  return (nbytes + kAlignment - 1) / kAlignment * kAlignment;
}

namespace {

class HostMemory final : public MemoryProvider {
 public:
  const char* name() const override { return "host"; }
  void* allocate(size_t bytes) noexcept override {
    void* ptr = nullptr;
    return posix_memalign(&ptr, kAlignment, bytes) == 0 ? ptr : nullptr;
  }
  void release(void* ptr) noexcept override { std::free(ptr); }
};

}  // namespace

MemoryProvider& host_memory() {
  static HostMemory* host = new HostMemory();  // never destroyed: frees run after static destructors
  return *host;
}

MemoryProvider& device_memory_provider() { return host_memory(); }

}  // namespace torch_aie
