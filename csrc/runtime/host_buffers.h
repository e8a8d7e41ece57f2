// Per-thread scratch of the host emulator, reused across calls so that steady
// state does not allocate.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "csrc/runtime/conv_job.h"

namespace torch_aie::runtime {

// Staged inputs live on the calling thread, which also runs a share of the
// tiles, so they must not share a slot with task scratch.
enum Slot { kTileC = 0, kPanelA = 1, kRowTmp = 2, kRowTmp2 = 3, kStaged0 = 4, kNumSlots = kStaged0 + 3 };

// A buffer of at least n floats for this thread's `slot`.
float* thread_buffer(int slot, size_t n);

// bf16 scratch of the native-bf16 paths, per thread: staged variants in slots
// kStagedB0.., task scratch (packed A rows or B pixel panels) in kBf16Task.
enum Bf16Slot { kStagedB0 = 0, kBf16Task = 3, kNumBf16Slots = 4 };
uint16_t* bf16_buffer(int slot, size_t n);

// The distinct A roundings `numerics`' passes read: one staged copy each.
std::vector<aie_kernels::Rounding> staged_roundings(Numerics numerics);

// Claims this thread's staging slots for `roundings`, `total` floats each, and
// records them in `st.variants`; returns them indexed by rounding.
std::array<float*, 4> claim_staging(const std::vector<aie_kernels::Rounding>& roundings, int64_t total,
                                    StagedInput& st);

}  // namespace torch_aie::runtime
