// Host work on behalf of an aie op (a conv the NPU path does not take, a pool with no
// NPU design): counted in fallback_stats() with its reason, and under the device's
// fallback mode ("raise" stops it before anything runs), like any CPU fallback.
#pragma once
#include <string_view>

namespace torch_aie::ops {

void note_host_op(std::string_view op, std::string_view reason);

}  // namespace torch_aie::ops
