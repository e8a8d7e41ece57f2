// The aie convolution's entry: normalise, decide (planner + backend, autotune when
// on), then the NPU path or ATen on the host.
#include "csrc/ops/conv/conv_forward.h"

#include "csrc/ops/conv/conv_paths.h"
#include "csrc/ops/profile_range.h"

namespace torch_aie::conv {

ConvDecision decide(const ConvParams& p, std::optional<ConvAlgorithm> forced, runtime::Activation act,
                    bool bias) {
  ConvDecision d = plan_conv(p, plan_settings(forced));
  if (!d.on_npu) return d;
  const auto& backend = runtime::conv_backend();
  const std::string why = backend.why_not(make_job(p, d, act, bias));
  if (!why.empty()) {
    d.on_npu = false;
    d.reason = std::string(backend.name()) + ": " + why;
  }
  return d;
}

Activation parse_activation(const std::string& name) {
  for (Activation a : {Activation::None, Activation::ReLU, Activation::ReLU6, Activation::Hardswish,
                       Activation::SiLU, Activation::GELU})
    if (name == runtime::activation_name(a)) return a;
  TORCH_CHECK_VALUE(false, "aie conv: unknown activation '", name,
                    "'; expected 'none', 'relu', 'relu6', 'hardswish', 'silu' or 'gelu'");
}

bool is_channel_gate(const at::Tensor& gate, const at::Tensor& input) {
  if (gate.dim() != input.dim() || input.dim() < 3 || gate.scalar_type() != input.scalar_type() ||
      gate.device() != input.device())
    return false;
  if ((gate.size(0) != 1 && gate.size(0) != input.size(0)) || gate.size(1) != input.size(1)) return false;
  for (int64_t d = 2; d < gate.dim(); ++d)
    if (gate.size(d) != 1) return false;
  return true;
}

at::Tensor conv_forward(const ConvArgs& a, std::optional<ConvAlgorithm> forced, Activation act,
                        const std::optional<at::Tensor>& residual_arg, const at::Tensor& input_scale) {
  TORCH_CHECK(!input_scale.defined() || is_channel_gate(input_scale, a.input),
              "aie conv: input_scale of shape ", input_scale.defined() ? input_scale.sizes() : c10::IntArrayRef{},
              " is not a per-channel gate of the input (", a.input.sizes(), ", ", a.input.scalar_type(), ")");
  const at::Tensor residual = residual_arg && residual_arg->defined() ? *residual_arg : at::Tensor();
  const ConvParams p = normalize(a);
  const bool bias = a.bias && a.bias->defined();
  ConvDecision d = decide(p, forced, act, bias);
  if (d.on_npu && !forced && !global_algorithm() && autotune_enabled()) {
    if (auto tuned = autotuned(a, p)) {
      d = decide(p, tuned, act, bias);
      d.reason = std::string("autotuned: ") + runtime::algorithm_name(d.algorithm);
    }
  }
  if (!d.on_npu) {
    note_host_op("aten::convolution", d.reason);
    count_fallback(d.reason);
    ops::CpuFallbackRange range("aten::convolution", d.reason);
    return host_conv(a, act, residual, input_scale);
  }
  count_npu(d.algorithm);
  const auto& s = p.shape;
  ops::NpuOpRange range({p.spatial_dims == 1 ? "conv1d" : "conv2d", runtime::algorithm_name(d.algorithm),
                         d.numerics == runtime::Numerics::Bf16x3 ? "bf16x3" : "bf16", array_name(),
                         d.array_plan, s.macs(), s.M(), s.OCg(), s.K(), s.groups},
                        a.input, a.weight);
  return run_on_npu(a, p, d, act, residual, input_scale);
}

}  // namespace torch_aie::conv
