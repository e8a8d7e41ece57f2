// Per-thread scratch of the host emulator, reused across calls so that steady
// state does not allocate.
#pragma once
#include <cstddef>

namespace torch_aie::runtime {

// Staged inputs live on the calling thread, which also runs a share of the
// tiles, so they must not share a slot with task scratch.
enum Slot { kTileC = 0, kPanelA = 1, kRowTmp = 2, kRowTmp2 = 3, kStaged0 = 4, kNumSlots = kStaged0 + 3 };

// A buffer of at least n floats for this thread's `slot`.
float* thread_buffer(int slot, size_t n);

}  // namespace torch_aie::runtime
