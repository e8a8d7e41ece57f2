// The table of CPU fallbacks shared by the boxed aten fallback and by op code
// (e.g. convolution) that sends a call to CPU ATen on its own.
#pragma once

#include <string>

namespace torch_aie {

// Records one CPU fallback of `op_name` (e.g. "aten::convolution") under the
// current fallback mode: counts it; in "warn" mode warns the first time per op;
// in "raise" mode throws a RuntimeError naming the op instead of counting.
// Thread-safe; never takes the GIL.
void count_fallback(const std::string& op_name);

}  // namespace torch_aie
