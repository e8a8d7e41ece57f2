// Fresh results of the CPU fallback, born in device memory.
//
// A CPU kernel allocates its results with the CPU allocator; the fallback then had to
// copy each into new aie memory (a memcpy as large as the result: 3.5x the op's own
// time for hardswish on a MobileNet activation). Instead, while the fallback runs a
// CPU kernel, CPU allocations made on that thread come from the aie device pool
// (still tagged CPU, so the kernel sees CPU tensors), and a fresh result that nothing
// else holds becomes an aie tensor over the same memory: no copy. Device memory is
// host memory (emulator, XDNA), so the CPU kernel may use it as it is.
#pragma once

#include <c10/core/Device.h>
#include <c10/core/Storage.h>

#include <optional>

namespace torch_aie {

// While alive, CPU allocations on this thread are served from device memory. Other
// threads (including the kernel's own worker threads) are unaffected; temporaries
// the kernel frees go back to the device pool's cache.
class CpuAllocationsInDeviceMemory {
 public:
  CpuAllocationsInDeviceMemory();
  ~CpuAllocationsInDeviceMemory();
  CpuAllocationsInDeviceMemory(const CpuAllocationsInDeviceMemory&) = delete;
  CpuAllocationsInDeviceMemory& operator=(const CpuAllocationsInDeviceMemory&) = delete;

 private:
  bool previous_;
};

// If `cpu` (a CPU storage) holds device memory allocated under the scope above and
// only `expected_refs` tensors reference it, moves that memory into a new aie storage
// on `device` and returns it; `cpu` is left empty. Otherwise nullopt (copy instead).
std::optional<c10::Storage> adopt_device_memory(const c10::Storage& cpu, size_t expected_refs,
                                                c10::Device device);

}  // namespace torch_aie
