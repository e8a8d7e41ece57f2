// The aie convolution: plan, then the NPU path (emulated) or ATen on the host.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "csrc/ops/conv/conv_params.h"
#include "csrc/ops/conv/planner.h"

namespace torch_aie::conv {

using runtime::Activation;

// `forced` overrides the planner for this call; `act` and `residual` (added before
// the activation, broadcast to the output's shape) are fused into the epilogue;
// `input_scale` (undefined: none) is a per-channel gate the conv's input is multiplied
// by first (runtime::ConvIO::input_scale: shape [N or 1][C][1...], the input's dtype
// and device).
at::Tensor conv_forward(const ConvArgs& args, std::optional<ConvAlgorithm> forced,
                        Activation act = Activation::None,
                        const std::optional<at::Tensor>& residual = std::nullopt,
                        const at::Tensor& input_scale = at::Tensor());

// Whether `gate` can be a conv's input_scale for `input`: same dtype and device, shape
// [N or 1][C] followed by ones.
bool is_channel_gate(const at::Tensor& gate, const at::Tensor& input);

// "none", "relu", "relu6", "hardswish", "silu", "gelu" (ValueError otherwise).
Activation parse_activation(const std::string& name);

// cuDNN-benchmark-style autotuning (off by default): the first call of each shape
// times every algorithm that applies and keeps the fastest.
void set_autotune(bool on);
bool autotune_enabled();
int64_t autotuned_shapes();
void clear_autotune();

// The planner's decision for these arguments, as one readable line.
std::string explain(const ConvArgs& args, std::optional<ConvAlgorithm> forced);

// The planner's decision and its AIE array plan (tiles, memories, modelled cycles).
struct ArrayPlanReport {
  std::string summary;
  std::vector<std::string> keys;
  std::vector<double> values;
};
// elem_bytes 2 plans bf16 operands (as the conv runs), 1 plans int8 operands.
ArrayPlanReport array_plan(const ConvArgs& args, std::optional<ConvAlgorithm> forced, int elem_bytes = 2);

// Plans and packs `weight` ahead of time for inputs of any spatial size (the
// planner's choice does not depend on it); returns the chosen algorithm or the
// CPU-fallback reason.
std::string prepack(const at::Tensor& weight, c10::IntArrayRef stride, c10::IntArrayRef padding,
                    c10::IntArrayRef dilation, int64_t groups, std::optional<ConvAlgorithm> forced,
                    bool channels_last);

std::tuple<at::Tensor, at::Tensor, at::Tensor> conv_backward(
    const at::Tensor& grad_output, const at::Tensor& input, const at::Tensor& weight,
    at::OptionalIntArrayRef bias_sizes, c10::IntArrayRef stride, c10::IntArrayRef padding,
    c10::IntArrayRef dilation, bool transposed, c10::IntArrayRef output_padding, int64_t groups,
    std::array<bool, 3> output_mask);

}  // namespace torch_aie::conv
