// The host emulator's float kernel family runs every numerics as passes of
// bf16-valued fp32 operands: each pass multiplies one A (activation) rounding by
// one B (weight) rounding and accumulates onto the previous passes.
#pragma once
#include <vector>

#include "aie_kernels/kernel_table.h"
#include "csrc/runtime/conv_job.h"

namespace torch_aie::runtime {

struct Pass {
  aie_kernels::Rounding a, b;
};
std::vector<Pass> passes_for(Numerics n);

// The distinct A roundings `numerics`' passes read: one staged copy each.
std::vector<aie_kernels::Rounding> staged_roundings(Numerics numerics);

}  // namespace torch_aie::runtime
