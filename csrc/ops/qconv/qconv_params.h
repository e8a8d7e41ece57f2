// aie::qconv2d's arguments, validated and normalised (docs/ARCHITECTURE.md, "Numerics
// contract", int8; semantics pinned by tests/qconv_reference.py).
#pragma once
#include <ATen/core/Tensor.h>

#include <optional>
#include <string>
#include <vector>

#include "aie_kernels/int8/qs8.h"
#include "csrc/runtime/conv_job.h"

namespace torch_aie::qconv {

struct QConvArgs {
  const at::Tensor& x;
  const at::Tensor& weight;
  const std::optional<at::Tensor>& bias;
  const at::Tensor& multiplier;
  const at::Tensor& shift;
  c10::IntArrayRef stride, padding, dilation;
  int64_t groups;
  int64_t out_zero_point, out_min, out_max;
  at::ScalarType out_dtype;
  std::string rounding;
  const std::optional<at::Tensor>& skip;
  int64_t skip_multiplier, skip_shift;
};

struct QConvParams {
  runtime::ConvShape shape{};
  std::vector<int64_t> output_sizes;
  bool channels_last = false;  // output memory format (ATen's rule for convs)
  aie_kernels::qs8::QRound rounding = aie_kernels::qs8::QRound::ConvEven;
};

aie_kernels::qs8::QRound parse_rounding(const std::string& name);

// Every check of the contract, with the offending value in the message. Reads the
// values of bias and shift (on the host) but never writes any input.
QConvParams validate(const QConvArgs& a);

// Geometry only (for explain / array plans: x and weight may be on "meta").
runtime::ConvShape qconv_shape(const at::Tensor& x, const at::Tensor& weight, c10::IntArrayRef stride,
                               c10::IntArrayRef padding, c10::IntArrayRef dilation, int64_t groups);

}  // namespace torch_aie::qconv
