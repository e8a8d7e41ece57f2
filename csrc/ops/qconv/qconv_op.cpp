// The int8 convolution op aie::qconv2d (schema below; fake impl and Python wrapper in
// torch_aie/qconv_op.py): plan (algorithm, int8 array plan), then the active conv
// backend packs the weights once (through the weight cache) and runs the Numerics::Int8
// job; what the backend or the array cannot take runs the exact integer path on the host.
#include <ATen/ops/convolution.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_strided.h>
#include <ATen/ops/full_like.h>
#include <ATen/ops/ones_like.h>
#include <ATen/ops/where.h>
#include <ATen/ops/zeros_like.h>
#include <torch/library.h>

#include <sstream>

#include "csrc/ops/conv/conv_config.h"
#include "csrc/ops/conv/conv_paths.h"
#include "csrc/ops/conv/planner.h"
#include "csrc/ops/conv/weight_cache.h"
#include "csrc/ops/profile_range.h"
#include "csrc/ops/qconv/qconv_params.h"
#include "csrc/runtime/array_model.h"
#include "csrc/runtime/conv_backend.h"
#include "csrc/runtime/memory_view.h"

namespace torch_aie::qconv {

namespace q = aie_kernels::qs8;
using runtime::ConvAlgorithm;
using runtime::host_view;

namespace {

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

runtime::RequantRounding to_job_rounding(q::QRound r) {
  return static_cast<runtime::RequantRounding>(static_cast<int>(r));
}

std::vector<int32_t> values(const at::Tensor& t) {
  const at::Tensor h = host_view(t).contiguous();
  const int32_t* p = h.const_data_ptr<int32_t>();
  return std::vector<int32_t>(p, p + h.numel());
}

runtime::ConvJob make_job(const QConvArgs& a, const QConvParams& p, ConvAlgorithm alg) {
  runtime::ConvJob job;
  job.shape = p.shape;
  job.algorithm = alg;
  job.numerics = runtime::Numerics::Int8;
  job.input_dtype = a.x.scalar_type();
  job.weight_dtype = a.weight.scalar_type();
  job.output_dtype = a.out_dtype;
  job.channels_last = p.channels_last;
  job.epilogue.bias = a.bias && a.bias->defined();
  runtime::RequantDesc rq;
  rq.multiplier = values(a.multiplier);
  rq.shift = values(a.shift);
  rq.out_min = static_cast<int32_t>(a.out_min);
  rq.out_max = static_cast<int32_t>(a.out_max);
  rq.out_zero_point = static_cast<int32_t>(a.out_zero_point);
  rq.rounding = to_job_rounding(p.rounding);
  rq.skip_multiplier = static_cast<int32_t>(a.skip_multiplier);
  rq.skip_shift = static_cast<int32_t>(a.skip_shift);
  job.epilogue.requant = std::move(rq);
  return job;
}

// A CPU tensor holding `t`'s values with exactly `like`'s strides (or `t`'s host view if it has them).
at::Tensor with_strides_of(const at::Tensor& t, const at::Tensor& like) {
  const at::Tensor h = host_view(t);
  if (h.strides() == like.strides()) return h;
  auto c = at::empty_strided(like.sizes(), like.strides(), h.options());
  c.copy_(h);
  return c;
}

// SRS of int64 `v` by per-element shifts `s` (tests/qconv_reference.py's definition).
at::Tensor srs_host(const at::Tensor& v, const at::Tensor& s, q::QRound r) {
  const at::Tensor one = at::ones_like(s);
  const at::Tensor pos = s.gt(0);
  const at::Tensor half = at::where(pos, one.bitwise_left_shift(s.sub(1).clamp_min(0)), at::zeros_like(s));
  switch (r) {
    case q::QRound::Floor: return v.bitwise_right_shift(s);
    case q::QRound::PositiveInf: return v.add(half).bitwise_right_shift(s);
    case q::QRound::SymmetricInf: {
      const at::Tensor qa = v.abs().add(half).bitwise_right_shift(s);
      return at::where(v.lt(0), qa.neg(), qa);
    }
    case q::QRound::ConvEven: {
      const at::Tensor odd = v.bitwise_right_shift(s).bitwise_and(1).mul(pos);
      return v.add(half).sub(pos.to(at::kLong)).add(odd).bitwise_right_shift(s);
    }
  }
  return v;
}

// The exact integer contract in ATen on the host, for jobs the backend or the array
// cannot take: the sums as a float64 convolution of integer values (exact: every
// partial sum is an integer below 2^53), everything after in int64.
void run_on_host(const QConvArgs& a, const QConvParams& p, const at::Tensor& out) {
  const auto& s = p.shape;
  at::Tensor acc = at::convolution(host_view(a.x).to(at::kDouble), host_view(a.weight).to(at::kDouble), {},
                                   {s.stride_h, s.stride_w}, {s.pad_h, s.pad_w}, {s.dil_h, s.dil_w}, false, {0, 0},
                                   s.groups)
                       .round()
                       .to(at::kLong);
  if (a.bias && a.bias->defined()) acc = acc.add(host_view(*a.bias).to(at::kLong).view({1, -1, 1, 1}));
  const at::Tensor m = host_view(a.multiplier).to(at::kLong).view({1, -1, 1, 1});
  const at::Tensor sh = host_view(a.shift).to(at::kLong).view({1, -1, 1, 1}).expand(acc.sizes());
  at::Tensor y = srs_host(acc.mul(m), sh, p.rounding);
  if (a.skip && a.skip->defined()) {
    const at::Tensor k = host_view(*a.skip).to(at::kLong).mul(a.skip_multiplier);
    y = y.add(srs_host(k, at::full_like(k, a.skip_shift), p.rounding));
  }
  host_view(out).copy_(y.add(a.out_zero_point).clamp(a.out_min, a.out_max));
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
  const runtime::ConvJob job = make_job(args, p, d.algorithm);
  const auto& backend = runtime::conv_backend();
  std::string why = d.plan.fits ? backend.why_not(job) : "int8 " + std::string(runtime::algorithm_name(d.algorithm)) +
                                                            " plan does not fit " + conv::array_name() + ": " +
                                                            d.plan.why_not;
  if (d.plan.fits && !why.empty()) why = std::string(backend.name()) + ": " + why;
  if (!why.empty()) {  // the same exact integers, computed by ATen on the host
    conv::note_host_op("aie::qconv2d", why);
    conv::count_fallback(why + " (aie.qconv2d runs on the host, exact)");
    ops::CpuFallbackRange range("aie::qconv2d", why);
    run_on_host(args, p, out);
    return out;
  }
  conv::count_stat(std::string("npu:int8:") + runtime::algorithm_name(d.algorithm));
  const std::string array = conv::array_name();
  ops::NpuOpRange range({"qconv2d", runtime::algorithm_name(d.algorithm), "int8", array, d.plan, s.macs(), s.M(),
                         s.OCg(), s.K(), s.groups},
                        x, weight);
  const auto w = conv::WeightCache::global().get_or_pack(weight, backend.name(), backend.pack_key(job),
                                                          [&] { return backend.pack(job, host_view(weight)); });
  runtime::ConvIO io;
  io.input = host_view(x);
  if (job.epilogue.bias) io.bias = host_view(*bias);
  io.output = host_view(out);
  if (skip && skip->defined()) io.skip = with_strides_of(*skip, io.output);
  backend.run(job, *w, io);
  return out;
}

std::string explain_qconv(const at::Tensor& x, const at::Tensor& weight, c10::IntArrayRef stride,
                          c10::IntArrayRef padding, c10::IntArrayRef dilation, int64_t groups) {
  const auto s = qconv_shape(x, weight, stride, padding, dilation, groups);
  const QDecision d = plan(s);
  const auto& arr = runtime::array_by_name(conv::array_name());
  runtime::ConvJob job;  // a job of this geometry with default requantisation: what describe() reads
  job.shape = s;
  job.algorithm = d.algorithm;
  job.numerics = runtime::Numerics::Int8;
  job.input_dtype = x.scalar_type();
  job.weight_dtype = weight.scalar_type();
  job.output_dtype = at::kChar;
  job.epilogue.requant = runtime::RequantDesc{std::vector<int32_t>(s.OC, 1), std::vector<int32_t>(s.OC, 0)};
  std::ostringstream os;
  if (!d.plan.fits) os << "host (plan does not fit " << arr.name << ": " << d.plan.why_not << "), ";
  os << "int8 " << runtime::algorithm_name(d.algorithm) << ": " << d.reason << "; GEMM M=" << s.M()
     << " N=" << s.OCg() << " K=" << s.K() << " x" << s.groups << " groups; " << arr.name
     << " plan with int8 buffers (1-byte elements) at the int8 MAC rate (" << arr.int8_macs
     << " MACs/cycle/core, MAC tile " << arr.int8_mmul[0] << "x" << arr.int8_mmul[1] << "x" << arr.int8_mmul[2]
     << "): " << d.plan.cores_used << " cores, tile " << d.plan.tile_m << "x" << d.plan.tile_n << "x"
     << d.plan.tile_k << ", core " << d.plan.core_bytes << " B, memtile " << d.plan.memtile_bytes
     << " B, modelled " << d.plan.modelled_us << " us; ";
  const std::string why = d.plan.fits ? runtime::conv_backend().why_not(job) : "";
  if (!d.plan.fits || !why.empty())
    os << "runs on the host: the exact integer path in ATen";
  else
    os << runtime::conv_backend().name() << ": " << runtime::conv_backend().describe(job);
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
}

}  // namespace torch_aie::qconv
