#include "csrc/ops/conv/conv_forward.h"

#include <ATen/ops/convolution.h>
#include <ATen/ops/convolution_backward.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_strided.h>
#include <ATen/core/dispatch/Dispatcher.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <sstream>

#include "csrc/ops/conv/weight_cache.h"
#include "csrc/ops/profile_range.h"
#include "csrc/runtime/emulator.h"
#include "csrc/runtime/host_alias.h"

namespace torch_aie::conv {

using runtime::host_alias;

namespace {

// Returns `r` (computed on the host) on the device of `like`.
at::Tensor to_device_of(const at::Tensor& r, const at::Tensor& like) {
  if (!r.defined() || like.device().is_cpu()) return r;
  auto out = at::empty_strided(r.sizes(), r.strides(), r.options().device(like.device()));
  host_alias(out).copy_(r);
  return out;
}

at::Tensor host_conv(const ConvArgs& a, bool relu) {
  std::optional<at::Tensor> bias;
  if (a.bias && a.bias->defined()) bias = host_alias(*a.bias);
  auto r = at::convolution(host_alias(a.input), host_alias(a.weight), bias, a.stride, a.padding,
                           a.dilation, a.transposed, a.output_padding, a.groups);
  if (relu) r.relu_();
  return to_device_of(r, a.input);
}

// Host work obeys the device's fallback mode ("raise" forbids it before anything runs) and
// is counted in fallback_stats(); reached through the dispatcher (_aie::note_host_op).
void note_host_op(const char* op, const std::string& reason) {
  static const auto note = c10::Dispatcher::singleton()
                               .findSchemaOrThrow("_aie::note_host_op", "")
                               .typed<void(c10::string_view, c10::string_view)>();
  note.call(op, reason);
}

// A 4-D [N][C][H][W] view of a 1-D or 2-D conv tensor.
at::Tensor as_4d(const at::Tensor& t) { return t.dim() == 3 ? t.unsqueeze(2) : t; }

PackedPtr packed_weights(const at::Tensor& weight, const runtime::ConvShape& s,
                         const ConvDecision& d, runtime::HostLayout layout) {
  return WeightCache::global().get_or_pack(weight, d.algorithm, d.numerics, layout, s.groups, [&] {
    // fp32 holds bf16 values exactly, so one packer serves both tensor dtypes.
    auto w = host_alias(weight).to(at::kFloat).contiguous();
    return runtime::pack_weights(w.const_data_ptr<float>(), s, d.algorithm, d.numerics, layout,
                                 runtime::host_kernels());
  });
}

}  // namespace


static at::Tensor run_on_npu(const ConvArgs& a, const ConvParams& p, const ConvDecision& d, bool relu) {
  const auto& s = p.shape;
  auto out = at::empty(p.output_sizes, a.input.options().memory_format(
                                           p.channels_last ? at::MemoryFormat::ChannelsLast
                                                           : at::MemoryFormat::Contiguous));
  if (out.numel() == 0) return out;

  const auto layout = runtime::choose_host_layout(s, d.algorithm, p.channels_last);
  PackedPtr w = packed_weights(a.weight, s, d, layout);
  const runtime::StagedInput staged =
      runtime::stage_input(as_4d(host_alias(a.input)), s, d.numerics, layout);
  at::Tensor bias;
  runtime::Epilogue epi;
  epi.relu = relu;
  if (a.bias && a.bias->defined()) {
    bias = host_alias(*a.bias).to(at::kFloat).contiguous();
    epi.bias = bias.const_data_ptr<float>();
  }
  const at::Tensor o4 = as_4d(out);
  runtime::OutputView ov;
  ov.data = host_alias(out).data_ptr();
  ov.bf16 = out.scalar_type() == at::kBFloat16;
  ov.sN = o4.stride(0);
  ov.sC = o4.stride(1);
  ov.sH = o4.stride(2);
  ov.sW = o4.stride(3);
  runtime::emulate_conv(s, *w, staged, epi, ov);
  return out;
}

namespace {

std::mutex g_tune_mutex;
std::map<std::string, ConvAlgorithm> g_tuned;
std::atomic<bool> g_autotune{false};

std::string tune_key(const ConvParams& p) {
  const auto& s = p.shape;
  std::ostringstream os;
  os << s.N << ',' << s.C << ',' << s.H << ',' << s.W << ',' << s.OC << ',' << s.KH << ',' << s.KW
     << ',' << s.stride_h << ',' << s.stride_w << ',' << s.pad_h << ',' << s.pad_w << ',' << s.dil_h
     << ',' << s.dil_w << ',' << s.groups << ',' << p.dtype << ',' << p.channels_last << ','
     << precision_name(precision()) << ',' << array_name();
  return os.str();
}

// cuDNN-benchmark-style: on first sight of a shape, time every algorithm that applies
// (and fits the array) and keep the fastest for that shape.
std::optional<ConvAlgorithm> autotuned(const ConvArgs& a, const ConvParams& p) {
  const std::string key = tune_key(p);
  {
    std::lock_guard<std::mutex> lock(g_tune_mutex);
    auto it = g_tuned.find(key);
    if (it != g_tuned.end()) return it->second;
  }
  std::optional<ConvAlgorithm> best;
  double best_s = 0;
  for (int i = 0; i < runtime::kNumAlgorithms; ++i) {
    const auto alg = static_cast<ConvAlgorithm>(i);
    const ConvDecision d = plan_conv(p, precision(), alg);
    if (!d.on_npu || d.algorithm != alg) continue;
    run_on_npu(a, p, d, false);  // packs the weights, warms caches
    double t = 1e30;
    for (int r = 0; r < 2; ++r) {
      const auto t0 = std::chrono::steady_clock::now();
      run_on_npu(a, p, d, false);
      t = std::min(t, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    if (!best || t < best_s) {
      best = alg;
      best_s = t;
    }
  }
  if (best) {
    std::lock_guard<std::mutex> lock(g_tune_mutex);
    g_tuned.emplace(key, *best);
  }
  return best;
}

}  // namespace

void set_autotune(bool on) { g_autotune = on; }
bool autotune_enabled() { return g_autotune; }
int64_t autotuned_shapes() {
  std::lock_guard<std::mutex> lock(g_tune_mutex);
  return static_cast<int64_t>(g_tuned.size());
}
void clear_autotune() {
  std::lock_guard<std::mutex> lock(g_tune_mutex);
  g_tuned.clear();
}

at::Tensor conv_forward(const ConvArgs& a, std::optional<ConvAlgorithm> forced, bool relu) {
  const ConvParams p = normalize(a);
  ConvDecision d = plan_conv(p, precision(), forced);
  if (d.on_npu && !forced && !global_algorithm() && g_autotune) {
    if (auto tuned = autotuned(a, p)) {
      d = plan_conv(p, precision(), tuned);
      d.reason = std::string("autotuned: ") + runtime::algorithm_name(d.algorithm);
    }
  }
  if (!d.on_npu) {
    note_host_op("aten::convolution", d.reason);
    count_fallback(d.reason);
    ops::CpuFallbackRange range("aten::convolution", d.reason);
    return host_conv(a, relu);
  }
  count_npu(d.algorithm);
  const auto& s = p.shape;
  ops::NpuOpRange range({p.spatial_dims == 1 ? "conv1d" : "conv2d", runtime::algorithm_name(d.algorithm),
                         d.numerics == runtime::Numerics::Bf16x3 ? "bf16x3" : "bf16", array_name(),
                         d.array_plan, s.macs(), s.M(), s.OCg(), s.K(), s.groups},
                        a.input, a.weight);
  return run_on_npu(a, p, d, relu);
}

std::string explain(const ConvArgs& a, std::optional<ConvAlgorithm> forced) {
  const ConvParams p = normalize(a);
  const ConvDecision d = plan_conv(p, precision(), forced);
  std::ostringstream os;
  if (!d.on_npu) {
    os << "cpu_fallback: " << d.reason;
    return os.str();
  }
  const auto& s = p.shape;
  os << runtime::algorithm_name(d.algorithm) << " [" << runtime::numerics_name(d.numerics)
     << "]: " << d.reason << "; GEMM M=" << s.M() << " N=" << s.OCg() << " K=" << s.K()
     << " x" << s.groups << " groups; " << array_name() << " plan: " << d.array_plan.cores_used
     << " cores, tile " << d.array_plan.tile_m << "x" << d.array_plan.tile_n << "x"
     << d.array_plan.tile_k << ", core " << d.array_plan.core_bytes << " B, memtile "
     << d.array_plan.memtile_bytes << " B, modelled " << d.array_plan.modelled_us << " us"
     << "; emulated as " << runtime::host_layout_name(runtime::choose_host_layout(s, d.algorithm, p.channels_last))
     << " tiles";
  return os.str();
}

ArrayPlanReport array_plan(const ConvArgs& a, std::optional<ConvAlgorithm> forced, int elem_bytes) {
  const ConvParams p = normalize(a);
  ConvDecision d = plan_conv(p, precision(), forced);
  // int8 operands (quantised convs): the same tiling at the int8 MAC tile and rate.
  if (d.on_npu && elem_bytes == 1)
    d.array_plan = runtime::plan_conv_on_array(p.shape, d.algorithm, runtime::array_by_name(array_name()), 1, 1);
  ArrayPlanReport r;
  r.summary = d.on_npu ? runtime::algorithm_name(d.algorithm) : "cpu_fallback: " + d.reason;
  const auto& ap = d.array_plan;
  r.keys = {"cores_used", "tile_m", "tile_n", "tile_k", "core_bytes", "core_capacity",
            "memtile_bytes", "memtile_capacity", "compute_cycles", "dma_cycles", "cycles",
            "modelled_us", "utilisation", "fits"};
  const auto& arr = runtime::array_by_name(array_name());
  r.values = {double(ap.cores_used), double(ap.tile_m), double(ap.tile_n), double(ap.tile_k),
              double(ap.core_bytes), double(arr.core_mem), double(ap.memtile_bytes),
              double(arr.memtile_mem), ap.compute_cycles, ap.dma_cycles, ap.cycles,
              ap.modelled_us, ap.utilisation, ap.fits ? 1.0 : 0.0};
  return r;
}

std::string prepack(const at::Tensor& weight, c10::IntArrayRef stride, c10::IntArrayRef padding,
                    c10::IntArrayRef dilation, int64_t groups, std::optional<ConvAlgorithm> forced,
                    bool channels_last) {
  // A stand-in input just large enough for the kernel: only its shape is read.
  std::vector<int64_t> in_sizes = {1, weight.size(1) * groups};
  int64_t dmax = 1;
  for (int64_t d : dilation) dmax = std::max(dmax, d);
  for (int64_t i = 2; i < weight.dim(); ++i) in_sizes.push_back(weight.size(i) * dmax + 1);
  auto x = at::empty(in_sizes, weight.options().device(at::kMeta));
  const int64_t zero[] = {0};
  const std::optional<at::Tensor> no_bias;
  const ConvParams p = normalize({x, weight.to(at::kMeta), no_bias, stride, padding, dilation,
                                  false, zero, groups});
  const ConvDecision d = plan_conv(p, precision(), forced);
  if (!d.on_npu) return "cpu_fallback: " + d.reason;
  // The stand-in's pixel count says nothing about real inputs: pack for a batch of
  // 56x56 images (layers whose real inputs choose the other layout pack it on first use).
  runtime::ConvShape typical = p.shape;
  typical.N = 1;
  typical.OH = typical.OW = 56;
  packed_weights(weight, p.shape, d, runtime::choose_host_layout(typical, d.algorithm, channels_last));
  return runtime::algorithm_name(d.algorithm);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> conv_backward(
    const at::Tensor& grad_output, const at::Tensor& input, const at::Tensor& weight,
    at::OptionalIntArrayRef bias_sizes, c10::IntArrayRef stride, c10::IntArrayRef padding,
    c10::IntArrayRef dilation, bool transposed, c10::IntArrayRef output_padding, int64_t groups,
    std::array<bool, 3> output_mask) {
  // Training runs on the host through ATen: exact fp32 gradients (DESIGN.md section 3).
  note_host_op("aten::convolution_backward", "conv backward runs through ATen on the host");
  count_fallback("convolution_backward runs on the host (ATen)");
  auto [gi, gw, gb] = at::convolution_backward(
      host_alias(grad_output), host_alias(input), host_alias(weight), bias_sizes, stride, padding,
      dilation, transposed, output_padding, groups, output_mask);
  return {to_device_of(gi, input), to_device_of(gw, input), to_device_of(gb, input)};
}

}  // namespace torch_aie::conv
