// aie::conv2d's Autograd kernel (registered in conv_registration.cpp).
#pragma once
#include <ATen/core/Tensor.h>
#include <c10/util/string_view.h>

#include <optional>

namespace torch_aie::conv {

// Straight to the device kernel when nothing records a gradient; else a custom
// autograd Function (conv2d_autograd.cpp).
at::Tensor conv2d_autograd(const at::Tensor& input, const at::Tensor& weight, const std::optional<at::Tensor>& bias,
                           c10::IntArrayRef stride, c10::IntArrayRef padding, c10::IntArrayRef dilation,
                           int64_t groups, c10::string_view algorithm, bool relu, c10::string_view activation,
                           const std::optional<at::Tensor>& residual);

// aie::conv2d_scaled's: straight to the device kernel when nothing records a gradient;
// else aie::conv2d of ATen's input * scale, whose autograd records both.
at::Tensor conv2d_scaled_autograd(const at::Tensor& input, const at::Tensor& scale, const at::Tensor& weight,
                                  const std::optional<at::Tensor>& bias, c10::IntArrayRef stride,
                                  c10::IntArrayRef padding, c10::IntArrayRef dilation, int64_t groups,
                                  c10::string_view activation, const std::optional<at::Tensor>& residual);

}  // namespace torch_aie::conv
