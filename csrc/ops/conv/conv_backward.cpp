// Backward (training): on the host through ATen, exact fp32 gradients
// (docs/ARCHITECTURE.md, "Conv contract": backward is never wrong).
#include <ATen/ops/convolution_backward.h>

#include "csrc/ops/conv/conv_config.h"
#include "csrc/ops/conv/conv_forward.h"
#include "csrc/ops/conv/conv_paths.h"
#include "csrc/runtime/memory_view.h"

namespace torch_aie::conv {

using runtime::host_view;

std::tuple<at::Tensor, at::Tensor, at::Tensor> conv_backward(
    const at::Tensor& grad_output, const at::Tensor& input, const at::Tensor& weight,
    at::OptionalIntArrayRef bias_sizes, c10::IntArrayRef stride, c10::IntArrayRef padding,
    c10::IntArrayRef dilation, bool transposed, c10::IntArrayRef output_padding, int64_t groups,
    std::array<bool, 3> output_mask) {
  note_host_op("aten::convolution_backward", "conv backward runs through ATen on the host");
  count_fallback("convolution_backward runs on the host (ATen)");
  auto [gi, gw, gb] = at::convolution_backward(
      host_view(grad_output), host_view(input), host_view(weight), bias_sizes, stride, padding,
      dilation, transposed, output_padding, groups, output_mask);
  return {to_device_of(gi, input), to_device_of(gw, input), to_device_of(gb, input)};
}

}  // namespace torch_aie::conv
