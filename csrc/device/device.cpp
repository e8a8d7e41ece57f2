// The aie device for c10 and ATen: the DeviceGuard implementation (current device,
// streams, events) and the PrivateUse1 hooks (availability, generators, pinned
// memory, storage resize). The emulator runs everything synchronously on the host,
// so streams and events are trivially complete.
#include "csrc/device/device.h"

#include <ATen/detail/PrivateUse1HooksInterface.h>
#include <ATen/native/Resize.h>
#include <c10/core/impl/DeviceGuardImplInterface.h>
#include <torch/library.h>

#include "csrc/device/memory/allocator.h"
#include "csrc/device/rng.h"

namespace torch_aie {

namespace {

// One device, but the current index is per thread, as it is for CUDA.
thread_local c10::DeviceIndex current_index = 0;

bool valid_index(int64_t index) {
  return index >= 0 && index < kDeviceCount;
}

}  // namespace

c10::DeviceIndex check_device_index(int64_t index) {
  if (index == -1) {
    return current_device();
  }
  TORCH_CHECK(
      valid_index(index),
      "invalid aie device index ",
      index,
      ": torch_aie has ",
      static_cast<int>(kDeviceCount),
      " device(s), aie:0 to aie:",
      kDeviceCount - 1);
  return static_cast<c10::DeviceIndex>(index);
}

c10::DeviceIndex current_device() {
  return current_index;
}

void set_current_device(c10::DeviceIndex index) {
  current_index = check_device_index(index);
}

namespace {

using c10::Device;
using c10::DeviceIndex;
using c10::Stream;

// A recorded event needs a non-null handle; all work is complete when recorded.
char completed_event_token;

struct AieGuardImpl final : public c10::impl::DeviceGuardImplInterface {
  static constexpr c10::DeviceType static_type = c10::DeviceType::PrivateUse1;

  c10::DeviceType type() const override {
    return static_type;
  }

  Device exchangeDevice(Device d) const override {
    check_is_aie(d);
    const Device old = getDevice();
    if (d.has_index()) {
      set_current_device(d.index());
    }
    return old;
  }

  Device getDevice() const override {
    return aie_device(current_device());
  }

  void setDevice(Device d) const override {
    check_is_aie(d);
    if (d.has_index()) {
      set_current_device(d.index());
    }
  }

  // Destructors of guards restore a device that was valid when saved.
  void uncheckedSetDevice(Device d) const noexcept override {
    if (valid_index(d.index())) {
      current_index = d.index();
    }
  }

  Stream getStream(Device d) const override {
    return Stream(Stream::DEFAULT, d);
  }

  Stream getDefaultStream(Device d) const override {
    return Stream(Stream::DEFAULT, d);
  }

  Stream getNewStream(Device d, int priority) const override {
    return Stream(Stream::DEFAULT, d);
  }

  Stream getStreamFromGlobalPool(Device d, bool isHighPriority) const override {
    return Stream(Stream::DEFAULT, d);
  }

  Stream exchangeStream(Stream s) const override {
    return Stream(Stream::DEFAULT, s.device());
  }

  // Must not throw (ATen calls it while probing backends).
  DeviceIndex deviceCount() const noexcept override {
    return kDeviceCount;
  }

  void record(
      void** event,
      const Stream& stream,
      const DeviceIndex device_index,
      const c10::EventFlag flag) const override {
    TORCH_CHECK(
        device_index == -1 || device_index == stream.device_index(),
        "event device index ",
        device_index,
        " does not match the recording stream's device index ",
        stream.device_index());
    *event = &completed_event_token;
  }

  void block(void* event, const Stream& stream) const override {}

  bool queryEvent(void* event) const override {
    return true;
  }

  void destroyEvent(void* event, const DeviceIndex device_index) const noexcept override {}

  bool queryStream(const Stream& stream) const override {
    return true;
  }

  void synchronizeStream(const Stream& stream) const override {}

  void synchronizeEvent(void* event) const override {}

  void synchronizeDevice(const DeviceIndex device_index) const override {}

  void recordDataPtrOnStream(const c10::DataPtr& data_ptr, const Stream& stream) const override {}

 private:
  static void check_is_aie(Device d) {
    TORCH_CHECK(d.is_privateuseone(), "expected an aie device, got ", d);
  }
};

C10_REGISTER_GUARD_IMPL(PrivateUse1, AieGuardImpl);

struct AieHooks final : public at::PrivateUse1HooksInterface {
  bool isBuilt() const override {
    return true;
  }

  // The emulator needs no hardware, so the device is always usable.
  bool isAvailable() const override {
    return true;
  }

  bool hasPrimaryContext(DeviceIndex device_index) const override {
    return valid_index(device_index);
  }

  void init() const override {}

  DeviceIndex deviceCount() const override {
    return kDeviceCount;
  }

  void setCurrentDevice(DeviceIndex device) const override {
    set_current_device(device);
  }

  DeviceIndex getCurrentDevice() const override {
    return current_device();
  }

  DeviceIndex exchangeDevice(DeviceIndex device) const override {
    const DeviceIndex old = current_device();
    set_current_device(device);
    return old;
  }

  // Unlike exchangeDevice, an invalid index leaves the current device alone.
  DeviceIndex maybeExchangeDevice(DeviceIndex device) const override {
    const DeviceIndex old = current_device();
    if (valid_index(device)) {
      current_index = device;
    }
    return old;
  }

  at::Device getDeviceFromPtr(void* data) const override {
    TORCH_CHECK(
        is_device_ptr(data),
        "pointer ",
        data,
        " does not point into memory allocated on the aie device");
    return aie_device(0);
  }

  const at::Generator& getDefaultGenerator(DeviceIndex device_index) const override {
    return default_generator(device_index);
  }

  at::Generator getNewGenerator(DeviceIndex device_index) const override {
    return new_generator(device_index);
  }

  at::Allocator* getPinnedMemoryAllocator() const override {
    return pinned_host_allocator();
  }

  bool isPinnedPtr(const void* data) const override {
    return is_pinned_host_ptr(data);
  }

  // Storage.resize_() on an aie storage: device memory is host memory, so ATen's
  // CPU byte-resize (allocate with the storage's allocator, memcpy) is exact.
  void resizePrivateUse1Bytes(const c10::Storage& storage, size_t newsize) const override {
    at::native::resize_bytes_cpu(storage.unsafeGetStorageImpl(), newsize);
  }
};

// Registered exactly once per process: the hooks object lives as long as ATen.
const bool hooks_registered [[maybe_unused]] = [] {
  at::RegisterPrivateUse1HooksInterface(new AieHooks());
  return true;
}();

// ---- control ops (torch.ops._aie.*), behind torch.aie.device_count() etc. -------

int64_t device_count_op() {
  return kDeviceCount;
}

int64_t current_device_op() {
  return current_device();
}

void set_device_op(int64_t device) {
  set_current_device(check_device_index(device));
}

TORCH_LIBRARY_FRAGMENT(_aie, m) {
  m.def("device_count() -> int", &device_count_op);
  m.def("current_device() -> int", &current_device_op);
  m.def("set_device(int device) -> ()", &set_device_op);
}

}  // namespace

}  // namespace torch_aie
