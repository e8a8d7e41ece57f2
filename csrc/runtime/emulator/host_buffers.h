// Per-thread scratch of the host emulator, reused across calls so that steady
// state does not allocate.
#pragma once
#include <cstddef>

namespace torch_aie::runtime {

// Staged inputs live on the calling thread, which also runs a share of the
// tiles, so they must not share a slot with task scratch.
enum Slot { kTileC = 0, kPanelA = 1, kRowTmp = 2, kRowTmp2 = 3, kStaged0 = 4, kNumSlots = kStaged0 + 3 };

// At least `bytes` bytes of this thread's `slot`, 64-byte aligned; contents
// are whatever the slot's last user left.
void* thread_bytes(int slot, size_t bytes);

// A buffer of at least n elements of T for this thread's `slot`.
template <class T>
T* thread_buffer(int slot, size_t n) {
  return static_cast<T*>(thread_bytes(slot, n * sizeof(T)));
}

}  // namespace torch_aie::runtime
