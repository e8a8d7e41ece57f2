#include "csrc/ops/conv/conv_params.h"

#include <ATen/ops/convolution.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>
#include <c10/util/Exception.h>
#include <c10/util/irange.h>

namespace torch_aie::conv {

namespace {

// A CPU stand-in of `t`: same shape and dtype, one element of storage (expanded),
// so ATen's checks see exactly the caller's sizes.
at::Tensor stand_in(const at::Tensor& t) {
  return at::zeros({1}, t.options().device(at::kCPU)).expand(t.sizes());
}

// Lets ATen reject invalid arguments with its own message. Called only once our
// own cheap check has failed, so valid calls never pay for it.
void raise_if_aten_rejects(const ConvArgs& a) {
  std::optional<at::Tensor> bias;
  if (a.bias && a.bias->defined()) bias = stand_in(*a.bias);
  at::convolution(stand_in(a.input), stand_in(a.weight), bias, a.stride, a.padding,
                  a.dilation, a.transposed, a.output_padding, a.groups);
}

// Thrown when our check fails but ATen accepts the call (e.g. dilation 0 with an
// empty batch): the call then goes to ATen on the host, which defines its result.
struct AtenOnly {};

#define AIE_CONV_CHECK(cond, args, ...) \
  do {                                  \
    if (!(cond)) {                      \
      raise_if_aten_rejects(args);      \
      throw AtenOnly{};                 \
    }                                   \
  } while (0)

std::vector<int64_t> expand(c10::IntArrayRef v, const char* name, int64_t dims, const ConvArgs& a) {
  if (v.size() == 1) return std::vector<int64_t>(dims, v[0]);
  AIE_CONV_CHECK(static_cast<int64_t>(v.size()) == dims, a, "expected ", name,
                 " to be a single integer value or a list of ", dims,
                 " values to match the convolution dimensions, but got ", name, "=", v);
  return v.vec();
}

void check_devices_and_dtypes(const ConvArgs& a) {
  const auto dev = a.input.device();
  TORCH_CHECK(a.weight.device() == dev,
              "Expected all tensors to be on the same device, but got weight is on ",
              a.weight.device(), ", different from other tensors on ", dev,
              " (when checking argument in method aie::convolution)");
  TORCH_CHECK(a.input.scalar_type() == a.weight.scalar_type(), "Input type (",
              a.input.scalar_type(), ") and weight type (", a.weight.scalar_type(),
              ") should be the same");
  if (a.bias && a.bias->defined()) {
    TORCH_CHECK(a.bias->device() == dev,
                "Expected all tensors to be on the same device, but got bias is on ",
                a.bias->device(), ", different from other tensors on ", dev,
                " (when checking argument in method aie::convolution)");
    TORCH_CHECK(a.bias->scalar_type() == a.input.scalar_type(), "Input type (",
                a.input.scalar_type(), ") and bias type (", a.bias->scalar_type(),
                ") should be the same");
  }
}

ConvParams normalize_checked(const ConvArgs& a);

}  // namespace

ConvParams normalize(const ConvArgs& a) {
  check_devices_and_dtypes(a);
  try {
    return normalize_checked(a);
  } catch (const AtenOnly&) {
    ConvParams p;
    p.dtype = a.input.scalar_type();
    p.spatial_dims = a.input.dim() - 2;
    p.servable_geometry = false;
    return p;
  }
}

namespace {
ConvParams normalize_checked(const ConvArgs& a) {
  ConvParams p;
  p.dtype = a.input.scalar_type();
  p.transposed = a.transposed;
  p.spatial_dims = a.input.dim() - 2;
  AIE_CONV_CHECK(a.weight.dim() >= 3 && a.weight.dim() == a.input.dim(), a,
                 "Expected ", a.weight.dim(), "-dimensional input for ", a.weight.dim(),
                 "-dimensional weight ", a.weight.sizes(), ", but got ", a.input.dim(),
                 "-dimensional input of size ", a.input.sizes(), " instead");
  if (a.transposed || p.spatial_dims < 1 || p.spatial_dims > 2) return p;

  const int64_t d = p.spatial_dims;
  const auto stride = expand(a.stride, "stride", d, a);
  const auto padding = expand(a.padding, "padding", d, a);
  const auto dilation = expand(a.dilation, "dilation", d, a);
  for (auto i : c10::irange(d)) {
    AIE_CONV_CHECK(stride[i] > 0, a, "non-positive stride is not supported");
    AIE_CONV_CHECK(padding[i] >= 0, a, "negative padding is not supported");
    AIE_CONV_CHECK(dilation[i] > 0, a, "dilation should be greater than zero");
  }
  const int64_t groups = a.groups;
  AIE_CONV_CHECK(groups > 0, a, "non-positive groups is not supported");
  const auto in = a.input.sizes(), w = a.weight.sizes();
  AIE_CONV_CHECK(w[0] % groups == 0, a, "Given groups=", groups,
                 ", expected weight to be divisible by ", groups,
                 " at dimension 0, but got weight of size ", w, " instead");
  AIE_CONV_CHECK(in[1] == w[1] * groups, a, "Given groups=", groups, ", weight of size ", w,
                 ", expected input", in, " to have ", w[1] * groups, " channels, but got ", in[1],
                 " channels instead");
  if (a.bias && a.bias->defined()) {
    AIE_CONV_CHECK(a.bias->dim() == 1 && a.bias->size(0) == w[0], a, "Given weight of size ", w,
                   ", expected bias to be 1-dimensional with ", w[0],
                   " elements, but got bias of size ", a.bias->sizes(), " instead");
  }

  runtime::ConvShape& s = p.shape;
  s.N = in[0];
  s.C = in[1];
  s.OC = w[0];
  s.groups = groups;
  s.H = d == 2 ? in[2] : 1;
  s.W = in[d + 1];
  s.KH = d == 2 ? w[2] : 1;
  s.KW = w[d + 1];
  s.stride_h = d == 2 ? stride[0] : 1;
  s.stride_w = stride[d - 1];
  s.pad_h = d == 2 ? padding[0] : 0;
  s.pad_w = padding[d - 1];
  s.dil_h = d == 2 ? dilation[0] : 1;
  s.dil_w = dilation[d - 1];
  const int64_t eff_h = s.dil_h * (s.KH - 1) + 1, eff_w = s.dil_w * (s.KW - 1) + 1;
  AIE_CONV_CHECK(s.H + 2 * s.pad_h >= eff_h && s.W + 2 * s.pad_w >= eff_w, a,
                 "Calculated padded input size per channel is smaller than the kernel size ",
                 "(input ", in, ", padding ", a.padding, ", dilated kernel ", eff_h, "x", eff_w, ")");
  s.OH = (s.H + 2 * s.pad_h - eff_h) / s.stride_h + 1;
  s.OW = (s.W + 2 * s.pad_w - eff_w) / s.stride_w + 1;

  p.output_sizes = {s.N, s.OC};
  if (d == 2) p.output_sizes.push_back(s.OH);
  p.output_sizes.push_back(s.OW);
  // ATen's CPU rule: channels_last output if the input or the weight is channels_last.
  p.channels_last = d == 2 && (a.input.suggest_memory_format() == at::MemoryFormat::ChannelsLast ||
                               a.weight.suggest_memory_format() == at::MemoryFormat::ChannelsLast);
  // Empty channel or spatial extents: ATen decides what they mean (error or empty result).
  p.servable_geometry = s.C > 0 && s.H > 0 && s.W > 0;
  if (!p.servable_geometry) raise_if_aten_rejects(a);
  return p;
}
}  // namespace

}  // namespace torch_aie::conv
