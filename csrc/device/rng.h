// The aie random number generator: a CPU (mt19937) generator tagged with the aie
// device, so a seed gives the same stream on aie as on cpu.
#pragma once

#include <ATen/core/Generator.h>
#include <c10/core/Device.h>

namespace torch_aie {

const at::Generator& default_generator(c10::DeviceIndex index);
at::Generator new_generator(c10::DeviceIndex index);

}  // namespace torch_aie
