// How the host emulator orients a GEMM-family conv. Either way every output
// element is the same in-order FMA chain, so the choice never changes a result;
// it only decides which side is staged and which is packed. A host-emulator
// concept: nothing outside csrc/runtime/emulator sees it.
#pragma once
#include "csrc/runtime/conv_job.h"

namespace torch_aie::runtime {

enum class HostLayout {
  PixelRows,    // C[pixel][channel]: NHWC staging, weights in kNR-wide channel panels
  ChannelRows,  // C[channel][pixel]: planar staging, weights in kMR-high channel panels
};
const char* host_layout_name(HostLayout l);

// Planar depthwise runs channel rows when an output row has at least this many
// pixels and at least kDepthwiseRowPerChannel per channel (few channels, long rows).
constexpr int64_t kDepthwiseRowMin = 32;
constexpr int64_t kDepthwiseRowPerChannel = 2;

// Planar 1x1 (stride 1) convs run pixel rows up to this many output pixels (N x OH x OW),
// and up to kPixelRowsMaxMReducing when they reduce channels by 3x or more (measured on
// AVX2, benchmarks/RESULTS.md: above these, packing the input as channel rows is cheaper).
constexpr int64_t kPixelRowsMaxM1x1 = 256;
constexpr int64_t kPixelRowsMaxMReducing = 1024;

// Which way the emulator runs a conv whose output is channels-last or planar (NCHW).
HostLayout choose_host_layout(const ConvShape& s, ConvAlgorithm a, bool channels_last);

}  // namespace torch_aie::runtime
