// The channel-rows (planar) side of the host emulator: staging into planar
// phase-split rows and the GEMM driver whose tiles are [output channel][pixel].
#pragma once
#include <ATen/core/Tensor.h>

#include "csrc/runtime/emulator/emulator.h"

namespace torch_aie::runtime {



// Runs a GEMM-family conv (im2col, 1x1, direct) with weights packed for
// HostLayout::ChannelRows; `out` must be planar with contiguous pixels (NCHW).
void emulate_gemm_planar(const ConvShape& s, const PackedWeights& w, const StagedInput& in,
                         const Epilogue& epi, const OutputView& out);

// Depthwise (one input and one output channel per group) on planar staging:
// each output row is a vector FMA chain over the taps.
void emulate_depthwise_planar(const ConvShape& s, const PackedWeights& w, const StagedInput& in,
                              const Epilogue& epi, const OutputView& out);

}  // namespace torch_aie::runtime
