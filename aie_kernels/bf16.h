// bf16 rounding as the NPU does it: round-to-nearest-even, NaN kept NaN.
// Values stay in fp32 containers: a bf16 value widened to fp32 is exact, and a
// product of two such values is exact in fp32, so an fp32 FMA on them is the
// AIE's bf16 MAC with fp32 accumulation.
#pragma once

namespace aie_kernels {

// c10::BFloat16's rounding, out of line so that no ISA-specific copy of c10's
// inline code can be chosen by the linker for another ISA's callers.
float round_to_bf16(float x);

}  // namespace aie_kernels
