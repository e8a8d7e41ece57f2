// The aie device as the rest of csrc/device sees it: how many there are, which one
// is current, and the checks every entry point applies to a device index.
#pragma once

#include <c10/core/Device.h>

#include <cstdint>

namespace torch_aie {

// The emulator models a single NPU partition.
constexpr c10::DeviceIndex kDeviceCount = 1;

// Resolves -1 to the current device; rejects indices that name no aie device
// with an error that states the valid range.
c10::DeviceIndex check_device_index(int64_t index);

c10::DeviceIndex current_device();
void set_current_device(c10::DeviceIndex index);

inline c10::Device aie_device(c10::DeviceIndex index) {
  return c10::Device(c10::DeviceType::PrivateUse1, index);
}

}  // namespace torch_aie
