#include "csrc/device/fallback_memory.h"

#include <c10/core/CPUAllocator.h>
#include <c10/core/StorageImpl.h>
#include <c10/util/Exception.h>

#include "csrc/device/memory/allocator.h"

namespace torch_aie {

namespace {

thread_local bool tls_in_device_memory = false;

c10::Allocator* device_allocator() { return c10::GetAllocator(c10::DeviceType::PrivateUse1); }

// Wraps the process's CPU allocator: delegates to it except on a thread inside a
// CpuAllocationsInDeviceMemory scope. Installed once, when the library loads.
class CpuAllocatorWrapper final : public c10::Allocator {
 public:
  explicit CpuAllocatorWrapper(c10::Allocator* cpu) : cpu_(cpu) {}

  at::DataPtr allocate(size_t nbytes) override {
    if (!tls_in_device_memory) return cpu_->allocate(nbytes);
    at::DataPtr p = device_allocator()->allocate(nbytes);
    p.unsafe_set_device(c10::Device(c10::DeviceType::CPU));
    return p;
  }

  // raw_allocate() pairs with this; the pointer may be from either pool.
  at::DeleterFnPtr raw_deleter() const override { return &raw_delete; }

  void copy_data(void* dest, const void* src, std::size_t count) const override {
    cpu_->copy_data(dest, src, count);
  }

  static void raw_delete(void* ptr) {
    if (is_device_ptr(ptr)) {
      device_allocator()->raw_deleter()(ptr);
    } else {
      instance()->cpu_->raw_deleter()(ptr);
    }
  }

  static CpuAllocatorWrapper* instance();

 private:
  c10::Allocator* cpu_;
};

CpuAllocatorWrapper* CpuAllocatorWrapper::instance() {
  // Never destroyed: CPU tensors are freed during static teardown.
  static auto* wrapper = new CpuAllocatorWrapper(c10::GetCPUAllocator());
  return wrapper;
}

// Installed at load with the highest priority the current allocator allows; if another
// library has claimed a higher one, the scope below changes nothing (the fallback copies).
const bool installed = [] {
  c10::SetCPUAllocator(CpuAllocatorWrapper::instance(), /*priority=*/UINT8_MAX);
  return c10::GetCPUAllocator() == CpuAllocatorWrapper::instance();
}();

}  // namespace

CpuAllocationsInDeviceMemory::CpuAllocationsInDeviceMemory() : previous_(tls_in_device_memory) {
  tls_in_device_memory = installed;
}

CpuAllocationsInDeviceMemory::~CpuAllocationsInDeviceMemory() { tls_in_device_memory = previous_; }

std::optional<c10::Storage> adopt_device_memory(const c10::Storage& cpu, size_t expected_refs,
                                                c10::Device device) {
  c10::StorageImpl* impl = cpu.unsafeGetStorageImpl();
  if (impl == nullptr || impl->device_type() != c10::DeviceType::CPU) return std::nullopt;
  const at::DataPtr& dp = impl->data_ptr();
  // Ours only if the device pool's deleter frees it; anyone else holding the storage
  // (a kernel-side cache) would see its memory vanish, so then copy.
  if (dp.get_deleter() != device_allocator()->raw_deleter() || dp.get() == nullptr ||
      static_cast<size_t>(cpu.use_count()) != expected_refs) {
    return std::nullopt;
  }
  const size_t nbytes = impl->nbytes();
  at::DataPtr moved = impl->set_data_ptr(at::DataPtr(nullptr, c10::Device(c10::DeviceType::CPU)));
  impl->set_nbytes(0);
  moved.unsafe_set_device(device);
  return c10::Storage(c10::make_intrusive<c10::StorageImpl>(
      c10::StorageImpl::use_byte_size_t(), nbytes, std::move(moved), device_allocator(),
      /*resizable=*/true));
}

}  // namespace torch_aie
