// The int8 convolution op aie::qconv2d (schema below; fake impl and Python wrapper in
// torch_aie/qconv_op.py): plan (algorithm, int8 array plan), pack weights once (weight
// cache), run the host emulator's int8 path. Also its _aie:: introspection functions.
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_strided.h>
#include <torch/library.h>

#include <sstream>

#include "csrc/ops/conv/conv_config.h"
#include "csrc/ops/conv/planner.h"
#include "csrc/ops/conv/weight_cache.h"
#include "csrc/ops/qconv/qconv_params.h"
#include "csrc/runtime/array_model.h"
#include "csrc/runtime/host_alias.h"
#include "csrc/runtime/int8_conv.h"

namespace torch_aie::qconv {

namespace q = aie_kernels::qs8;
using runtime::ConvAlgorithm;
using runtime::host_alias;

namespace {

constexpr int kInt8Form = 1;  // weight-cache form id of runtime::QPackedWeights

struct QDecision {
  ConvAlgorithm algorithm = ConvAlgorithm::Direct;
  std::string reason;
  runtime::ArrayPlan plan;
};

// The bf16 planner's rule (csrc/ops/conv/planner.cpp), and its global override.
QDecision plan(const runtime::ConvShape& s) {
  QDecision d;
  const auto forced = conv::global_algorithm();
  if (forced && conv::why_not(*forced, s).empty()) {
    d.algorithm = *forced;
    d.reason = std::string("forced: ") + runtime::algorithm_name(*forced);
  } else {
    std::string prefix = forced ? std::string("forced ") + runtime::algorithm_name(*forced) + " does not apply (" +
                                      conv::why_not(*forced, s) + "); "
                                : "";
    if (s.groups > 1 && conv::why_not(ConvAlgorithm::Depthwise, s).empty()) {
      d.algorithm = ConvAlgorithm::Depthwise;
      d.reason = prefix + "auto: depthwise (groups == channels)";
    } else if (conv::why_not(ConvAlgorithm::Gemm1x1, s).empty()) {
      d.algorithm = ConvAlgorithm::Gemm1x1;
      d.reason = prefix + "auto: 1x1 kernel without padding is a plain GEMM";
    } else if (s.Cg() >= 16) {
      d.algorithm = ConvAlgorithm::Direct;
      d.reason = prefix + "auto: direct (>= 16 channels per group per tap)";
    } else {
      d.algorithm = ConvAlgorithm::Im2colGemm;
      d.reason = prefix + "auto: im2col_gemm (few channels per tap)";
    }
  }
  // int8 operands: 1-byte buffers, the int8 MAC tile and rate.
  d.plan = runtime::plan_conv_on_array(s, d.algorithm, runtime::array_by_name(conv::array_name()), 1, 1);
  return d;
}

std::shared_ptr<const runtime::QPackedWeights> packed(const at::Tensor& weight, const runtime::ConvShape& s,
                                                      ConvAlgorithm alg) {
  auto p = conv::WeightCache::global().get_or_pack_opaque(weight, kInt8Form, alg, s.groups,
                                                          runtime::reduction_run(s, alg), [&] {
    const auto w = host_alias(weight).contiguous();
    auto made = std::make_shared<const runtime::QPackedWeights>(
        runtime::pack_qweights(w.const_data_ptr<int8_t>(), s, alg));
    const size_t bytes = made->bytes();
    return conv::OpaquePacked{std::move(made), bytes};
  });
  return std::static_pointer_cast<const runtime::QPackedWeights>(p);
}

// A CPU tensor holding `t`'s values with exactly `like`'s strides (or `t`'s host alias if it has them).
at::Tensor with_strides_of(const at::Tensor& t, const at::Tensor& like) {
  const at::Tensor h = host_alias(t);
  if (h.strides() == like.strides()) return h;
  auto c = at::empty_strided(like.sizes(), like.strides(), h.options());
  c.copy_(h);
  return c;
}

at::Tensor qconv2d(const at::Tensor& x, const at::Tensor& weight, const std::optional<at::Tensor>& bias,
                   const at::Tensor& multiplier, const at::Tensor& shift, c10::IntArrayRef stride,
                   c10::IntArrayRef padding, c10::IntArrayRef dilation, int64_t groups, int64_t out_zero_point,
                   int64_t out_min, int64_t out_max, at::ScalarType out_dtype, c10::string_view rounding,
                   const std::optional<at::Tensor>& skip, int64_t skip_multiplier, int64_t skip_shift) {
  const QConvArgs args{x, weight, bias, multiplier, shift, stride, padding, dilation, groups, out_zero_point,
                       out_min, out_max, out_dtype, std::string(rounding), skip, skip_multiplier, skip_shift};
  const QConvParams p = validate(args);
  const auto& s = p.shape;
  auto out = at::empty(p.output_sizes, x.options().dtype(out_dtype).memory_format(
                                           p.channels_last ? at::MemoryFormat::ChannelsLast
                                                           : at::MemoryFormat::Contiguous));
  if (out.numel() == 0) return out;
  const QDecision d = plan(s);
  if (d.plan.fits)
    conv::count_stat(std::string("npu:int8:") + runtime::algorithm_name(d.algorithm));
  else  // the same exact integer kernels, but on the host: the NPU could not run this plan
    conv::count_fallback(std::string("int8 ") + runtime::algorithm_name(d.algorithm) + " plan does not fit " +
                         conv::array_name() + ": " + d.plan.why_not + " (run on the host, exact)");

  const auto w = packed(weight, s, d.algorithm);
  const at::Tensor hout = host_alias(out);
  const at::Tensor hmult = host_alias(multiplier).contiguous(), hshift = host_alias(shift).contiguous();
  at::Tensor hbias, hskip;
  runtime::QRequantArgs rq;
  if (bias && bias->defined()) {
    hbias = host_alias(*bias).contiguous();
    rq.bias = hbias.const_data_ptr<int32_t>();
  }
  rq.multiplier = hmult.const_data_ptr<int32_t>();
  rq.shift = hshift.const_data_ptr<int32_t>();
  rq.rounding = p.rounding;
  rq.zero_point = out_zero_point;
  rq.out_min = out_min;
  rq.out_max = out_max;
  rq.out_u8 = out_dtype == at::kByte;
  if (skip && skip->defined()) {
    hskip = with_strides_of(*skip, hout);
    rq.skip = static_cast<const uint8_t*>(hskip.const_data_ptr());
    rq.skip_u8 = skip->scalar_type() == at::kByte;
    rq.skip_multiplier = skip_multiplier;
    rq.skip_shift = skip_shift;
  }
  runtime::QOutputView ov{static_cast<uint8_t*>(hout.data_ptr()), hout.stride(0), hout.stride(1), hout.stride(2),
                          hout.stride(3)};
  runtime::emulate_qconv(s, *w, host_alias(x), rq, ov, runtime::qs8_kernels());
  return out;
}

std::string explain_qconv(const at::Tensor& x, const at::Tensor& weight, c10::IntArrayRef stride,
                          c10::IntArrayRef padding, c10::IntArrayRef dilation, int64_t groups) {
  const auto s = qconv_shape(x, weight, stride, padding, dilation, groups);
  const QDecision d = plan(s);
  const auto& arr = runtime::array_by_name(conv::array_name());
  std::ostringstream os;
  if (!d.plan.fits) os << "host (plan does not fit " << arr.name << ": " << d.plan.why_not << "), ";
  os << "int8 " << runtime::algorithm_name(d.algorithm) << ": " << d.reason << "; GEMM M=" << s.M()
     << " N=" << s.OCg() << " K=" << s.K() << " x" << s.groups << " groups; " << arr.name
     << " plan with int8 buffers (1-byte elements) at the int8 MAC rate (" << arr.int8_macs
     << " MACs/cycle/core, MAC tile " << arr.int8_mmul[0] << "x" << arr.int8_mmul[1] << "x" << arr.int8_mmul[2]
     << "): " << d.plan.cores_used << " cores, tile " << d.plan.tile_m << "x" << d.plan.tile_n << "x"
     << d.plan.tile_k << ", core " << d.plan.core_bytes << " B, memtile " << d.plan.memtile_bytes
     << " B, modelled " << d.plan.modelled_us << " us; host kernels " << q::qisa_name(runtime::qs8_kernels().isa);
  return os.str();
}

std::tuple<std::string, std::vector<std::string>, std::vector<double>> qconv_array_plan(
    const at::Tensor& x, const at::Tensor& weight, c10::IntArrayRef stride, c10::IntArrayRef padding,
    c10::IntArrayRef dilation, int64_t groups) {
  const auto s = qconv_shape(x, weight, stride, padding, dilation, groups);
  const QDecision d = plan(s);
  const auto& arr = runtime::array_by_name(conv::array_name());
  const auto& ap = d.plan;
  std::vector<std::string> keys = {"cores_used", "tile_m", "tile_n", "tile_k", "core_bytes", "core_capacity",
                                   "memtile_bytes", "memtile_capacity", "compute_cycles", "dma_cycles", "cycles",
                                   "modelled_us", "utilisation", "fits", "elem_bytes", "macs_per_cycle"};
  std::vector<double> values = {double(ap.cores_used), double(ap.tile_m), double(ap.tile_n), double(ap.tile_k),
                                double(ap.core_bytes), double(arr.core_mem), double(ap.memtile_bytes),
                                double(arr.memtile_mem), ap.compute_cycles, ap.dma_cycles, ap.cycles,
                                ap.modelled_us, ap.utilisation, ap.fits ? 1.0 : 0.0, 1.0, double(arr.int8_macs)};
  std::string summary = ap.fits ? std::string("int8 ") + runtime::algorithm_name(d.algorithm)
                                : "host: int8 plan does not fit: " + ap.why_not;
  return {summary, keys, values};
}

// (name, runnable, why not) of every int8 kernel variant, and the one in use.
std::tuple<std::vector<std::string>, std::vector<int64_t>, std::vector<std::string>> qconv_isas() {
  std::vector<std::string> names, why;
  std::vector<int64_t> ok;
  for (int i = 0; i < q::kNumQIsa; ++i) {
    const char* w = nullptr;
    ok.push_back(q::qs8_can_run(static_cast<q::QIsa>(i), &w));
    names.emplace_back(q::qisa_name(static_cast<q::QIsa>(i)));
    why.emplace_back(w ? w : "");
  }
  return {names, ok, why};
}

void set_qconv_isa(c10::string_view name) {
  for (int i = 0; i < q::kNumQIsa; ++i)
    if (name == q::qisa_name(static_cast<q::QIsa>(i))) return runtime::set_qs8_isa(static_cast<q::QIsa>(i));
  TORCH_CHECK_VALUE(false, "unknown int8 kernel variant '", std::string(name),
                    "' (scalar, avx2, avx_vnni, avx512_vnni, amx_int8)");
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(aie, m) {
  m.set_python_module("torch_aie.qconv_op");
  m.def(
      "qconv2d(Tensor x, Tensor weight, Tensor? bias, Tensor multiplier, Tensor shift, int[2] stride=1, "
      "int[2] padding=0, int[2] dilation=1, int groups=1, int out_zero_point=0, int out_min=-128, "
      "int out_max=127, ScalarType out_dtype=int8, str rounding=\"conv_even\", Tensor? skip=None, "
      "int skip_multiplier=1, int skip_shift=0) -> Tensor");
}

// The CPU kernel runs the same emulator: aie.qconv2d has the NPU's numerics on any device.
TORCH_LIBRARY_IMPL(aie, PrivateUse1, m) { m.impl("qconv2d", &qconv2d); }
TORCH_LIBRARY_IMPL(aie, CPU, m) { m.impl("qconv2d", &qconv2d); }
// PyTorch quantized tensors reach the same entry, whose validation refuses them by name.
TORCH_LIBRARY_IMPL(aie, QuantizedCPU, m) { m.impl("qconv2d", &qconv2d); }
TORCH_LIBRARY_IMPL(aie, QuantizedPrivateUse1, m) { m.impl("qconv2d", &qconv2d); }

TORCH_LIBRARY_FRAGMENT(_aie, m) {
  m.def("explain_qconv(Tensor x, Tensor weight, int[] stride, int[] padding, int[] dilation, int groups) -> str",
        &explain_qconv);
  m.def("qconv_array_plan(Tensor x, Tensor weight, int[] stride, int[] padding, int[] dilation, int groups) "
        "-> (str, str[], float[])",
        &qconv_array_plan);
  m.def("qconv_isas() -> (str[], int[], str[])", &qconv_isas);
  m.def("qconv_isa() -> str", [] { return std::string(q::qisa_name(runtime::qs8_kernels().isa)); });
  m.def("set_qconv_isa(str name) -> ()", &set_qconv_isa);
}

}  // namespace torch_aie::qconv
