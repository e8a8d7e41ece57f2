#include "csrc/runtime/emulator/host_buffers.h"

#include <cstdint>

#include "csrc/runtime/typed_buffer.h"

namespace torch_aie::runtime {

void* thread_bytes(int slot, size_t bytes) {
  thread_local TypedBuffer buffers[kNumSlots];
  auto& b = buffers[slot];
  if (b.bytes() < bytes) b.reset(c10::ScalarType::Byte, static_cast<int64_t>(bytes));
  return b.data<uint8_t>();
}

}  // namespace torch_aie::runtime
