// The channel-rows (planar) side of the host emulator: staging into planar
// phase-split rows and the GEMM driver whose tiles are [output channel][pixel].
#pragma once
#include <ATen/core/Tensor.h>

#include <vector>

#include "csrc/runtime/conv_job.h"

namespace torch_aie::runtime {

// Offset of each tap (kh, kw) from its output pixel's base within one staged channel.
std::vector<int64_t> planar_tap_offsets(const ConvShape& s, const StagedInput& in);

// Offset of output pixel m's first tap within the planar staged input (channel 0);
// ohw = OH * OW.
int64_t planar_pixel_base(const ConvShape& s, const StagedInput& in, int64_t m, int64_t ohw);

StagedInput stage_input_planar(const at::Tensor& x, const ConvShape& s, Numerics numerics);

// Runs a GEMM-family conv (im2col, 1x1, direct) with weights packed for
// HostLayout::ChannelRows; `out` must be planar with contiguous pixels (NCHW).
void emulate_gemm_planar(const ConvShape& s, const PackedWeights& w, const StagedInput& in,
                         const Epilogue& epi, const OutputView& out);

// Depthwise (one input and one output channel per group) on planar staging:
// each output row is a vector FMA chain over the taps.
void emulate_depthwise_planar(const ConvShape& s, const PackedWeights& w, const StagedInput& in,
                              const Epilogue& epi, const OutputView& out);

}  // namespace torch_aie::runtime
