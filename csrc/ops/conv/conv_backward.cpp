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
  // bf16/fp16 gradients are computed in fp32 and rounded once, as the forward host path
  // does: ATen's CPU reduced-precision conv kernels differ by host and crash on some.
  const auto dtype = input.scalar_type();
  const bool reduced = dtype == at::kBFloat16 || dtype == at::kHalf;
  auto host = [&](const at::Tensor& t) { return reduced ? host_view(t).to(at::kFloat) : host_view(t); };
  auto [gi, gw, gb] = at::convolution_backward(host(grad_output), host(input), host(weight), bias_sizes,
                                               stride, padding, dilation, transposed, output_padding,
                                               groups, output_mask);
  auto back = [&](const at::Tensor& g) { return to_device_of(reduced && g.defined() ? g.to(dtype) : g, input); };
  return {back(gi), back(gw), back(gb)};
}

}  // namespace torch_aie::conv
