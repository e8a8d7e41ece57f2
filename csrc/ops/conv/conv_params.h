// One normalised description of a convolution call, validated like ATen's.
#pragma once
#include <ATen/core/Tensor.h>

#include <optional>
#include <vector>

#include "csrc/runtime/conv_job.h"

namespace torch_aie::conv {

// aten::convolution's arguments.
struct ConvArgs {
  const at::Tensor& input;
  const at::Tensor& weight;
  const std::optional<at::Tensor>& bias;
  c10::IntArrayRef stride, padding, dilation;
  bool transposed;
  c10::IntArrayRef output_padding;
  int64_t groups;
};

struct ConvParams {
  int64_t spatial_dims = 0;
  bool transposed = false;
  at::ScalarType dtype = at::kFloat;
  // Filled when the NPU path could serve the call (1-D/2-D, forward, non-empty):
  bool servable_geometry = false;
  runtime::ConvShape shape{};  // 2-D view: a 1-D conv has H = KH = OH = 1
  std::vector<int64_t> output_sizes;
  bool channels_last = false;  // output memory format, by ATen's rule
};

// Validates the call the way ATen does (same conditions, ATen's messages) and
// normalises it. Shapes the NPU path never serves (transposed, 3-D) are only
// checked for device and dtype consistency; ATen validates them on fallback.
ConvParams normalize(const ConvArgs& args);

}  // namespace torch_aie::conv
