// Per-thread scratch of the host emulator, reused across calls so that steady
// state does not allocate.
#pragma once
#include <c10/core/ScalarType.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "aie_kernels/kernel_table.h"
#include "csrc/runtime/emulator/staging.h"

namespace torch_aie::runtime {

// Staged inputs live on the calling thread, which also runs a share of the
// tiles, so they must not share a slot with task scratch.
enum Slot { kTileC = 0, kPanelA = 1, kRowTmp = 2, kRowTmp2 = 3, kStaged0 = 4, kNumSlots = kStaged0 + 3 };

// At least `bytes` bytes of this thread's `slot`, 64-byte aligned.
void* thread_bytes(int slot, size_t bytes);

// A buffer of at least n elements of T for this thread's `slot`.
template <class T>
T* thread_buffer(int slot, size_t n) {
  return static_cast<T*>(thread_bytes(slot, n * sizeof(T)));
}

// Claims this thread's staging slots for `roundings`, `total` elements of
// `st.dtype` each, and records them in `st.variants`; returns them indexed by rounding.
std::array<void*, 4> claim_staging(const std::vector<aie_kernels::Rounding>& roundings, int64_t total,
                                   StagedInput& st);

}  // namespace torch_aie::runtime
