// The host emulator backend: runs the aie_kernels on the CPU with the NPU's
// numerics, parallel over output tiles (never over the reduction), so results
// do not depend on the thread count.
#pragma once
#include <ATen/core/Tensor.h>

#include "csrc/runtime/conv_job.h"

namespace torch_aie::runtime {

// The kernel table for this host's best ISA, chosen once.
const aie_kernels::KernelTable& host_kernels();

// Which way the emulator runs a conv whose output is channels-last or planar (NCHW).
HostLayout choose_host_layout(const ConvShape& s, ConvAlgorithm a, bool channels_last);

// Stages `x` (a CPU tensor [N][C][H][W] in any strides, float or bfloat16) into
// zero-padded buffers in `layout`'s form (see StagedInput), one per A variant the
// numerics need. The buffers belong to the calling thread and stay valid until its
// next stage_input call.
StagedInput stage_input(const at::Tensor& x, const ConvShape& s, Numerics numerics, HostLayout layout);

void emulate_conv(const ConvShape& s, const PackedWeights& w, const StagedInput& in,
                  const Epilogue& epi, const OutputView& out);

}  // namespace torch_aie::runtime
