// Every dispatcher registration of the conv op family, in one place:
//   aten::convolution / aten::convolution_backward on the aie (PrivateUse1) key,
//   the custom op aie::conv2d (fake impl in torch_aie/conv_op.py, autograd in
//   conv2d_autograd.cpp), and the
//   _aie:: control functions behind torch_aie's conv settings and stats.
#include <ATen/ops/mul.h>
#include <torch/library.h>

#include "csrc/ops/conv/conv2d_autograd.h"
#include "csrc/ops/conv/conv_config.h"
#include "csrc/ops/conv/conv_forward.h"
#include "csrc/ops/conv/weight_cache.h"
#include "csrc/runtime/conv_backend.h"

namespace torch_aie::conv {
namespace {

at::Tensor aten_convolution(const at::Tensor& input, const at::Tensor& weight,
                            const std::optional<at::Tensor>& bias, c10::IntArrayRef stride,
                            c10::IntArrayRef padding, c10::IntArrayRef dilation, bool transposed,
                            c10::IntArrayRef output_padding, int64_t groups) {
  return conv_forward({input, weight, bias, stride, padding, dilation, transposed, output_padding, groups},
                      std::nullopt);
}

at::Tensor aie_conv2d(const at::Tensor& input, const at::Tensor& weight,
                      const std::optional<at::Tensor>& bias, c10::IntArrayRef stride,
                      c10::IntArrayRef padding, c10::IntArrayRef dilation, int64_t groups,
                      c10::string_view algorithm, bool relu, c10::string_view activation,
                      const std::optional<at::Tensor>& residual) {
  const int64_t zero[] = {0};
  Activation act = parse_activation(std::string(activation));
  TORCH_CHECK_VALUE(!relu || act == Activation::None || act == Activation::ReLU,
                    "aie.conv2d: relu=True and activation='", activation, "' contradict each other");
  if (relu) act = Activation::ReLU;
  return conv_forward({input, weight, bias, stride, padding, dilation, false, zero, groups},
                      parse_algorithm(std::string(algorithm)), act, residual);
}

// input * scale, then the conv: the gate fused into the conv's input staging where
// the backend does that (ConvIO::input_scale), else ATen's mul first. x * s == s * x
// (one IEEE multiply each), so whichever operand is the per-channel gate scales the other.
at::Tensor aie_conv2d_scaled(const at::Tensor& input, const at::Tensor& scale, const at::Tensor& weight,
                             const std::optional<at::Tensor>& bias, c10::IntArrayRef stride,
                             c10::IntArrayRef padding, c10::IntArrayRef dilation, int64_t groups,
                             c10::string_view activation, const std::optional<at::Tensor>& residual) {
  const int64_t zero[] = {0};
  const Activation act = parse_activation(std::string(activation));
  const bool scale_is_gate = is_channel_gate(scale, input);
  if (scale_is_gate || is_channel_gate(input, scale)) {
    const at::Tensor& x = scale_is_gate ? input : scale;
    return conv_forward({x, weight, bias, stride, padding, dilation, false, zero, groups}, std::nullopt, act, residual,
                        scale_is_gate ? scale : input);
  }
  const at::Tensor x = at::mul(input, scale);  // any other broadcast: ATen's product, then the conv
  return conv_forward({x, weight, bias, stride, padding, dilation, false, zero, groups}, std::nullopt, act, residual);
}

std::string explain_conv(const at::Tensor& input, const at::Tensor& weight,
                         const std::optional<at::Tensor>& bias, c10::IntArrayRef stride,
                         c10::IntArrayRef padding, c10::IntArrayRef dilation, bool transposed,
                         int64_t groups, c10::string_view algorithm) {
  const int64_t zero[] = {0};
  return explain({input, weight, bias, stride, padding, dilation, transposed, zero, groups},
                 parse_algorithm(std::string(algorithm)));
}

std::tuple<std::vector<std::string>, std::vector<int64_t>> conv_stats() {
  std::vector<std::string> keys;
  std::vector<int64_t> values;
  for (const auto& [k, v] : stats_snapshot()) {
    keys.push_back(k);
    values.push_back(v);
  }
  return {keys, values};
}

std::vector<int64_t> weight_cache_stats() {
  auto s = WeightCache::global().stats();
  return {s.hits, s.misses, s.evictions, s.uncacheable, s.bytes, s.entries, s.budget};
}

}  // namespace

TORCH_LIBRARY(aie, m) {
  m.set_python_module("torch_aie.conv_op");
  m.def(
      "conv2d(Tensor input, Tensor weight, Tensor? bias=None, int[2] stride=1, int[2] padding=0, "
      "int[2] dilation=1, int groups=1, str algorithm='auto', bool relu=False, "
      "str activation='none', Tensor? residual=None) -> Tensor");
  // conv2d(input * scale, ...): a squeeze-excite gate (scale [N or 1, C, 1, 1]) fused
  // into the conv (torch_aie.optimize emits it).
  m.def(
      "conv2d_scaled(Tensor input, Tensor scale, Tensor weight, Tensor? bias=None, int[2] stride=1, "
      "int[2] padding=0, int[2] dilation=1, int groups=1, str activation='none', Tensor? residual=None) -> Tensor");
}

// The CPU kernels run the same emulator: the aie conv ops have NPU numerics on any device.
namespace {
void impl_device_kernels(torch::Library& m) {
  m.impl("conv2d", &aie_conv2d);
  m.impl("conv2d_scaled", &aie_conv2d_scaled);
}
}  // namespace
TORCH_LIBRARY_IMPL(aie, PrivateUse1, m) { impl_device_kernels(m); }
TORCH_LIBRARY_IMPL(aie, CPU, m) { impl_device_kernels(m); }
TORCH_LIBRARY_IMPL(aie, Autograd, m) {
  m.impl("conv2d", &conv2d_autograd);
  m.impl("conv2d_scaled", &conv2d_scaled_autograd);
}

TORCH_LIBRARY_IMPL(aten, PrivateUse1, m) {
  m.impl("convolution", &aten_convolution);
  m.impl("convolution_backward", &conv_backward);
}

TORCH_LIBRARY_FRAGMENT(_aie, m) {
  m.def("set_conv_precision(str precision) -> ()", [](c10::string_view p) { set_precision(std::string(p)); });
  m.def("get_conv_precision() -> str", [] { return std::string(precision_name(precision())); });
  m.def("set_conv_algorithm(str algorithm) -> ()",
        [](c10::string_view a) { set_global_algorithm(std::string(a)); });
  m.def("get_conv_algorithm() -> str", [] {
    auto a = global_algorithm();
    return std::string(a ? runtime::algorithm_name(*a) : "auto");
  });
  m.def("explain_conv(Tensor input, Tensor weight, Tensor? bias, int[] stride, int[] padding, "
        "int[] dilation, bool transposed, int groups, str algorithm) -> str",
        &explain_conv);
  m.def("prepack_conv(Tensor weight, int[] stride, int[] padding, int[] dilation, int groups, "
        "str algorithm, bool channels_last=False) -> str",
        [](const at::Tensor& w, c10::IntArrayRef s, c10::IntArrayRef p, c10::IntArrayRef d,
           int64_t g, c10::string_view a, bool channels_last) {
          return prepack(w, s, p, d, g, parse_algorithm(std::string(a)), channels_last);
        });
  m.def("conv_array_plan(Tensor input, Tensor weight, int[] stride, int[] padding, int[] dilation, "
        "int groups, str algorithm, str dtype='bf16') -> (str, str[], float[])",
        [](const at::Tensor& x, const at::Tensor& w, c10::IntArrayRef s, c10::IntArrayRef p,
           c10::IntArrayRef d, int64_t g, c10::string_view alg, c10::string_view dtype) {
          TORCH_CHECK_VALUE(dtype == "bf16" || dtype == "int8",
                            "conv_array_plan dtype must be 'bf16' or 'int8', got '", std::string(dtype), "'");
          const int64_t zero[] = {0};
          const std::optional<at::Tensor> no_bias;
          auto r = array_plan({x, w, no_bias, s, p, d, false, zero, g}, parse_algorithm(std::string(alg)),
                              dtype == "int8" ? 1 : 2);
          return std::make_tuple(r.summary, r.keys, r.values);
        });
  m.def("set_conv_autotune(bool enabled) -> ()", [](bool on) { set_autotune(on); });
  m.def("get_conv_autotune() -> bool", [] { return autotune_enabled(); });
  m.def("conv_autotuned_shapes() -> int", [] { return autotuned_shapes(); });
  m.def("clear_conv_autotune() -> ()", [] { clear_autotune(); });
  m.def("set_conv_backend(str name) -> ()",
        [](c10::string_view n) { runtime::set_conv_backend(std::string(n)); });
  m.def("get_conv_backend() -> str", [] { return std::string(runtime::conv_backend().name()); });
  m.def("conv_backends() -> str[]", [] { return runtime::conv_backend_names(); });
  m.def("set_array(str name) -> ()", [](c10::string_view n) { set_array(std::string(n)); });
  m.def("get_array() -> str", [] { return array_name(); });
  m.def("gemm_array_model(int M, int N, int K, str array, int elem_bytes) -> float[]",
        [](int64_t M, int64_t N, int64_t K, c10::string_view arr, int64_t eb) {
          auto p = runtime::plan_gemm_on_array(M, N, K, runtime::array_by_name(std::string(arr)),
                                               static_cast<int>(eb));
          return std::vector<double>{p.modelled_us, p.utilisation, double(p.cores_used),
                                     p.compute_cycles, p.dma_cycles};
        });
  m.def("conv_stats() -> (str[], int[])", &conv_stats);
  m.def("reset_conv_stats() -> ()", &reset_stats);
  m.def("weight_cache_stats() -> int[]", &weight_cache_stats);
  m.def("weight_cache_clear() -> ()", [] { WeightCache::global().clear(); });
  m.def("weight_cache_reset_counters() -> ()", [] { WeightCache::global().reset_counters(); });
  m.def("set_weight_cache_budget(int bytes) -> ()",
        [](int64_t b) { WeightCache::global().set_budget(b); });
  m.def("set_weight_cache_enabled(bool enabled) -> ()",
        [](bool e) { WeightCache::global().set_enabled(e); });
  m.def("get_weight_cache_enabled() -> bool", [] { return WeightCache::global().enabled(); });
  m.def("set_weight_cache_verify(bool verify) -> ()", [](bool v) { WeightCache::global().set_verify(v); });
  m.def("get_weight_cache_verify() -> bool", [] { return WeightCache::global().verify(); });
}

}  // namespace torch_aie::conv
