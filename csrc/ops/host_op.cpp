#include "csrc/ops/host_op.h"

#include <ATen/core/dispatch/Dispatcher.h>

namespace torch_aie::ops {

// Reached through the dispatcher (_aie::note_host_op, csrc/device/fallback.cpp), which
// owns the fallback table and mode.
void note_host_op(std::string_view op, std::string_view reason) {
  static const auto note = c10::Dispatcher::singleton()
                               .findSchemaOrThrow("_aie::note_host_op", "")
                               .typed<void(c10::string_view, c10::string_view)>();
  note.call(op, reason);
}

}  // namespace torch_aie::ops
