// The CPU fallback's accounting: per-op call counts and the fallback mode (silent,
// warn once per op, raise). Shared by the boxed fallback (fallback.cpp) and by op
// families whose aie kernels send some calls to the host (_aie::note_host_op).
#pragma once
#include <ATen/core/dispatch/Dispatcher.h>

#include <string>

namespace torch_aie {

// Records one CPU fallback under the current mode: counts it, warns once per op in
// "warn" mode, or raises naming the op in "raise" mode. Thread-safe; never takes the GIL.
// `reason` (empty: the op has no aie kernel) says why an op with aie kernels ran on the host.
void count_fallback(const std::string& op_name, const std::string& reason = "");
// The same for an operator the boxed fallback runs (no string built per call).
void count_fallback_op(const c10::OperatorHandle& op);

// Forgets every count (torch_aie.reset_fallback_stats()).
void reset_fallback_table();

}  // namespace torch_aie
