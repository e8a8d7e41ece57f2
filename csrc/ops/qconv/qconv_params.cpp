#include "csrc/ops/qconv/qconv_params.h"

#include <c10/util/Exception.h>

#include <algorithm>
#include <cstdlib>
#include <limits>

#include "csrc/runtime/memory_view.h"

namespace torch_aie::qconv {

namespace q = aie_kernels::qs8;
using runtime::host_view;

namespace {

constexpr const char* kFlow =
    "quantise with torch_aie.quantize(model, calibration_batches) or torch_aie.quantization.AieQuantizer "
    "(torchao prepare_pt2e / convert_pt2e) + torch_aie.quantization.lower(gm), which pass plain int8 tensors";

void refuse_quantized(const at::Tensor& t, const char* name) {
  if (!t.is_quantized()) return;
  if (name == std::string("weight")) {
    if (t.qscheme() == at::kPerTensorAffine || t.qscheme() == at::kPerTensorSymmetric) {
      TORCH_CHECK(t.q_zero_point() == 0, "torch_aie: aie.qconv2d takes symmetric int8 weights; the weight has ",
                        "zero point ", t.q_zero_point(), " (weight zero points are not supported)");
    } else if (t.qscheme() == at::kPerChannelAffine || t.qscheme() == at::kPerChannelSymmetric) {
      const auto zp = t.q_per_channel_zero_points().cpu().to(at::kLong).contiguous();
      const int64_t* z = zp.const_data_ptr<int64_t>();
      for (int64_t i = 0; i < zp.numel(); ++i)
        TORCH_CHECK(z[i] == 0, "torch_aie: aie.qconv2d takes symmetric int8 weights; the weight has zero point ",
                          z[i], " at output channel ", i, " (weight zero points are not supported)");
    }
  }
  TORCH_CHECK(false, "torch_aie: aie.qconv2d takes plain int8/uint8/int32 tensors, not PyTorch quantized tensors (",
                    name, " is ", t.scalar_type(), ", ", t.qscheme(), "); ", kFlow);
}

void check_device(const at::Tensor& t, const char* name, const at::Device& dev) {
  TORCH_CHECK(t.device() == dev, "aie.qconv2d: all tensors must be on one device, but ", name, " is on ",
              t.device(), " and x on ", dev);
}

void check_int32_vector(const at::Tensor& t, const char* name, int64_t oc) {
  TORCH_CHECK(t.scalar_type() == at::kInt, "aie.qconv2d: ", name, " must be int32, got ", t.scalar_type());
  TORCH_CHECK(t.dim() == 1 && t.size(0) == oc, "aie.qconv2d: ", name, " must have shape [", oc,
                    "] (one value per output channel), got ", t.sizes());
}

int64_t dtype_min(at::ScalarType t) { return t == at::kByte ? 0 : -128; }
int64_t dtype_max(at::ScalarType t) { return t == at::kByte ? 255 : 127; }

std::vector<int64_t> pair(c10::IntArrayRef v, const char* name) {
  TORCH_CHECK(v.size() == 1 || v.size() == 2, "aie.qconv2d: ", name, " must have 1 or 2 values, got ", v);
  return v.size() == 1 ? std::vector<int64_t>{v[0], v[0]} : v.vec();
}

}  // namespace

q::QRound parse_rounding(const std::string& r) {
  if (r == "floor") return q::QRound::Floor;
  if (r == "positive_inf") return q::QRound::PositiveInf;
  if (r == "symmetric_inf") return q::QRound::SymmetricInf;
  if (r == "conv_even") return q::QRound::ConvEven;
  TORCH_CHECK(false, "aie.qconv2d: rounding must be one of 'floor', 'positive_inf', 'symmetric_inf', ",
                    "'conv_even', got '", r, "'");
}

runtime::ConvShape qconv_shape(const at::Tensor& x, const at::Tensor& w, c10::IntArrayRef stride,
                               c10::IntArrayRef padding, c10::IntArrayRef dilation, int64_t groups) {
  TORCH_CHECK(x.dim() == 4, "aie.qconv2d: x must be 4-D [N, C, H, W], got shape ", x.sizes());
  TORCH_CHECK(w.dim() == 4, "aie.qconv2d: weight must be 4-D [OC, C/groups, KH, KW], got shape ", w.sizes());
  const auto s = pair(stride, "stride"), p = pair(padding, "padding"), d = pair(dilation, "dilation");
  TORCH_CHECK(s[0] > 0 && s[1] > 0, "aie.qconv2d: stride must be positive, got ", stride);
  TORCH_CHECK(d[0] > 0 && d[1] > 0, "aie.qconv2d: dilation must be positive, got ", dilation);
  TORCH_CHECK(p[0] >= 0 && p[1] >= 0, "aie.qconv2d: padding must be non-negative, got ", padding);
  TORCH_CHECK(groups > 0, "aie.qconv2d: groups must be positive, got ", groups);
  runtime::ConvShape sh{};
  sh.N = x.size(0);
  sh.C = x.size(1);
  sh.H = x.size(2);
  sh.W = x.size(3);
  sh.OC = w.size(0);
  sh.KH = w.size(2);
  sh.KW = w.size(3);
  sh.stride_h = s[0];
  sh.stride_w = s[1];
  sh.pad_h = p[0];
  sh.pad_w = p[1];
  sh.dil_h = d[0];
  sh.dil_w = d[1];
  sh.groups = groups;
  TORCH_CHECK(sh.C % groups == 0 && w.size(1) * groups == sh.C, "aie.qconv2d: x has ", sh.C,
                    " channels but weight expects ", w.size(1), " x groups (", groups, ") = ", w.size(1) * groups);
  TORCH_CHECK(sh.OC % groups == 0 && sh.OC > 0, "aie.qconv2d: out channels (", sh.OC,
                    ") must be a positive multiple of groups (", groups, ")");
  TORCH_CHECK(sh.KH > 0 && sh.KW > 0 && w.size(1) > 0, "aie.qconv2d: weight has an empty extent: ", w.sizes());
  const int64_t eh = sh.H + 2 * sh.pad_h - sh.dil_h * (sh.KH - 1) - 1;
  const int64_t ew = sh.W + 2 * sh.pad_w - sh.dil_w * (sh.KW - 1) - 1;
  TORCH_CHECK(eh >= 0 && ew >= 0, "aie.qconv2d: input (", sh.H, "x", sh.W, ", padded ", sh.Hp(), "x", sh.Wp(),
                    ") is smaller than the dilated kernel (", sh.dil_h * (sh.KH - 1) + 1, "x",
                    sh.dil_w * (sh.KW - 1) + 1, ")");
  sh.OH = eh / sh.stride_h + 1;
  sh.OW = ew / sh.stride_w + 1;
  return sh;
}

QConvParams validate(const QConvArgs& a) {
  const at::Tensor& x = a.x;
  const at::Tensor& w = a.weight;
  refuse_quantized(x, "x");
  refuse_quantized(w, "weight");
  if (a.bias && a.bias->defined()) refuse_quantized(*a.bias, "bias");
  if (a.skip && a.skip->defined()) refuse_quantized(*a.skip, "skip");
  refuse_quantized(a.multiplier, "multiplier");
  refuse_quantized(a.shift, "shift");

  const bool x_int = x.scalar_type() == at::kChar || x.scalar_type() == at::kByte;
  TORCH_CHECK(!(at::isFloatingType(x.scalar_type()) && w.scalar_type() == at::kChar),
                    "aie.qconv2d: mixed float/int operands: x is ", x.scalar_type(),
                    " and weight int8; quantise x to int8/uint8 first (", kFlow, ")");
  TORCH_CHECK(!(x_int && at::isFloatingType(w.scalar_type())), "aie.qconv2d: float weights (",
                    w.scalar_type(), ") with ", x.scalar_type(), " activations: weights must be int8 (symmetric, ",
                    "zero point 0); ", kFlow);
  TORCH_CHECK(x_int, "aie.qconv2d: x must be int8 or uint8, got ", x.scalar_type());
  TORCH_CHECK(w.scalar_type() == at::kChar, "aie.qconv2d: weight must be int8, got ", w.scalar_type());

  const auto dev = x.device();
  TORCH_CHECK(dev.is_cpu() || dev.is_privateuseone(), "aie.qconv2d runs on aie or CPU tensors, got x on ", dev);
  check_device(w, "weight", dev);
  check_device(a.multiplier, "multiplier", dev);
  check_device(a.shift, "shift", dev);
  if (a.bias && a.bias->defined()) check_device(*a.bias, "bias", dev);
  if (a.skip && a.skip->defined()) check_device(*a.skip, "skip", dev);

  QConvParams p;
  p.shape = qconv_shape(x, w, a.stride, a.padding, a.dilation, a.groups);
  const auto& s = p.shape;
  p.output_sizes = {s.N, s.OC, s.OH, s.OW};
  p.channels_last = x.suggest_memory_format() == at::MemoryFormat::ChannelsLast ||
                    w.suggest_memory_format() == at::MemoryFormat::ChannelsLast;
  p.rounding = parse_rounding(a.rounding);

  check_int32_vector(a.multiplier, "multiplier", s.OC);
  check_int32_vector(a.shift, "shift", s.OC);
  int64_t max_bias = 0;
  if (a.bias && a.bias->defined()) {
    const at::Tensor& b = *a.bias;
    TORCH_CHECK(!at::isFloatingType(b.scalar_type()), "aie.qconv2d: mixed float/int operands: bias is ",
                      b.scalar_type(), "; it must be int32 at scale s_x * s_w (", kFlow, ")");
    check_int32_vector(b, "bias", s.OC);
    const auto hb = host_view(b).contiguous();
    const int32_t* bv = hb.const_data_ptr<int32_t>();
    for (int64_t i = 0; i < hb.numel(); ++i) max_bias = std::max<int64_t>(max_bias, std::abs(int64_t(bv[i])));
  }
  {
    const auto sh = host_view(a.shift).contiguous();
    const int32_t* sv = sh.const_data_ptr<int32_t>();
    for (int64_t i = 0; i < sh.numel(); ++i)
      TORCH_CHECK(sv[i] >= 0 && sv[i] <= 62, "aie.qconv2d: shift must be in [0, 62]; output channel ", i,
                        " has shift ", sv[i]);
  }
  TORCH_CHECK(a.out_dtype == at::kChar || a.out_dtype == at::kByte,
                    "aie.qconv2d: out_dtype must be int8 or uint8, got ", a.out_dtype);
  const int64_t lo = dtype_min(a.out_dtype), hi = dtype_max(a.out_dtype);
  TORCH_CHECK(a.out_min >= lo && a.out_max <= hi && a.out_min <= a.out_max, "aie.qconv2d: out range [",
                    a.out_min, ", ", a.out_max, "] must be a non-empty range within ", a.out_dtype, "'s [", lo, ", ",
                    hi, "]");
  TORCH_CHECK(a.out_zero_point >= lo && a.out_zero_point <= hi, "aie.qconv2d: out_zero_point ",
                    a.out_zero_point, " is outside ", a.out_dtype, "'s [", lo, ", ", hi, "]");
  if (a.skip && a.skip->defined()) {
    const at::Tensor& k = *a.skip;
    TORCH_CHECK(!at::isFloatingType(k.scalar_type()), "aie.qconv2d: mixed float/int operands: skip is ",
                      k.scalar_type(), "; it must be int8 or uint8");
    TORCH_CHECK(k.scalar_type() == at::kChar || k.scalar_type() == at::kByte,
                      "aie.qconv2d: skip must be int8 or uint8, got ", k.scalar_type());
    TORCH_CHECK(k.sizes().vec() == p.output_sizes, "aie.qconv2d: skip must have the output's shape ",
                      c10::IntArrayRef(p.output_sizes), ", got ", k.sizes());
    TORCH_CHECK(a.skip_shift >= 0 && a.skip_shift <= 62, "aie.qconv2d: skip_shift must be in [0, 62], got ",
                      a.skip_shift);
    TORCH_CHECK(a.skip_multiplier >= std::numeric_limits<int32_t>::min() &&
                          a.skip_multiplier <= std::numeric_limits<int32_t>::max(),
                      "aie.qconv2d: skip_multiplier must fit int32, got ", a.skip_multiplier);
  }
  // Exact int32 accumulation: refuse reductions that could leave int32 for some input.
  const int64_t xmax = x.scalar_type() == at::kByte ? 255 : 128;
  const int64_t bound = s.K() * xmax * 128 + max_bias;
  TORCH_CHECK(bound <= std::numeric_limits<int32_t>::max(), "aie.qconv2d: the int32 accumulator could overflow: ",
                    "K = ", s.K(), " (C/groups ", s.Cg(), " x ", s.KH, "x", s.KW, ") x max|x| ", xmax,
                    " x max|w| 128 + max|bias| ", max_bias, " = ", bound, " > 2^31 - 1; split the reduction ",
                    "(e.g. into groups) or lower the channel count");
  return p;
}

}  // namespace torch_aie::qconv
