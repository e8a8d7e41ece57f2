// The Autograd kernel of aie::conv2d. Without a gradient to record (grad mode off, or
// no input requiring grad: every inference call) it goes straight to the device kernel;
// a Python autograd kernel cost 20 us per call there (benchmarks/RESULTS.md, AVX2
// section), a quarter of a small conv. With one, a custom autograd Function: ReLU's
// derivative from the saved output; ReLU6 / hardswish / SiLU from the pre-activation,
// recomputed in backward from the saved operands (the forward never materialises it);
// then ATen's convolution_backward. Every backward op is differentiable (SiLU's when
// recorded, see silu_grad), so double backward works.
#include "csrc/ops/conv/conv2d_autograd.h"

#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/csrc/autograd/custom_function.h>

#include <string>
#include <vector>

namespace torch_aie::conv {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

using Conv2dSig = at::Tensor(const at::Tensor&, const at::Tensor&, const std::optional<at::Tensor>&,
                             c10::IntArrayRef, c10::IntArrayRef, c10::IntArrayRef, int64_t, c10::string_view,
                             bool, c10::string_view, const std::optional<at::Tensor>&);

const c10::TypedOperatorHandle<Conv2dSig>& conv2d_op() {
  static const auto op = c10::Dispatcher::singleton().findSchemaOrThrow("aie::conv2d", "").typed<Conv2dSig>();
  return op;
}

bool defined(const std::optional<at::Tensor>& t) { return t.has_value() && t->defined(); }

// The device kernel, below autograd.
at::Tensor conv2d_below_autograd(const at::Tensor& input, const at::Tensor& weight,
                                 const std::optional<at::Tensor>& bias, c10::IntArrayRef stride,
                                 c10::IntArrayRef padding, c10::IntArrayRef dilation, int64_t groups,
                                 c10::string_view algorithm, bool relu, c10::string_view activation,
                                 const std::optional<at::Tensor>& residual) {
  at::AutoDispatchBelowADInplaceOrView guard;
  return conv2d_op().call(input, weight, bias, stride, padding, dilation, groups, algorithm, relu, activation,
                          residual);
}

// SiLU's derivative. ATen's silu_backward has no derivative of its own, so when the
// backward is itself recorded (create_graph) it is written in differentiable ops, as
// ATen's autograd formula for silu does.
at::Tensor silu_grad(const at::Tensor& g, const at::Tensor& pre) {
  if (!at::GradMode::is_enabled()) return at::silu_backward(g, pre);
  const at::Tensor s = pre.sigmoid();
  return g * s * (1.0 + pre * (1.0 - s));
}

struct Conv2dFunction : torch::autograd::Function<Conv2dFunction> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& input, const at::Tensor& weight,
                            const std::optional<at::Tensor>& bias, c10::IntArrayRef stride,
                            c10::IntArrayRef padding, c10::IntArrayRef dilation, int64_t groups,
                            c10::string_view algorithm, bool relu, c10::string_view activation,
                            const std::optional<at::Tensor>& residual) {
    at::Tensor out = conv2d_below_autograd(input, weight, bias, stride, padding, dilation, groups, algorithm, relu,
                                           activation, residual);
    const std::string act = relu ? "relu" : std::string(activation);
    const bool recompute = act != "none" && act != "relu";
    ctx->save_for_backward({input, weight, recompute && defined(bias) ? *bias : at::Tensor(),
                            act == "relu" ? out : at::Tensor(), recompute && defined(residual) ? *residual : at::Tensor()});
    // needs_input_grad counts the tensors given, in order: input, weight, [bias], [residual].
    ctx->saved_data["bias_edge"] = defined(bias) ? int64_t(2) : int64_t(-1);
    ctx->saved_data["residual_edge"] = defined(residual) ? int64_t(defined(bias) ? 3 : 2) : int64_t(-1);
    ctx->saved_data["bias_sizes"] = defined(bias) ? bias->sizes().vec() : std::vector<int64_t>{};
    ctx->saved_data["residual_sizes"] = defined(residual) ? residual->sizes().vec() : std::vector<int64_t>{};
    ctx->saved_data["stride"] = stride.vec();
    ctx->saved_data["padding"] = padding.vec();
    ctx->saved_data["dilation"] = dilation.vec();
    ctx->saved_data["groups"] = groups;
    ctx->saved_data["act"] = act;
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor &input = saved[0], &weight = saved[1], &bias = saved[2], &output = saved[3],
                     &residual = saved[4];
    const auto stride = ctx->saved_data["stride"].toIntVector();
    const auto padding = ctx->saved_data["padding"].toIntVector();
    const auto dilation = ctx->saved_data["dilation"].toIntVector();
    const int64_t groups = ctx->saved_data["groups"].toInt();
    const std::string act = ctx->saved_data["act"].toStringRef();
    const std::vector<int64_t> no_output_padding(input.dim() - 2, 0);

    at::Tensor g = grads[0];
    if (act == "relu") {
      g = g * (output > 0);
    } else if (act != "none") {
      at::Tensor pre = at::convolution(input, weight, bias.defined() ? std::optional<at::Tensor>(bias) : std::nullopt,
                                       stride, padding, dilation, false, no_output_padding, groups);
      if (residual.defined()) pre = pre + residual;
      if (act == "relu6") g = at::hardtanh_backward(g, pre, 0, 6);
      else if (act == "hardswish") g = at::hardswish_backward(g, pre);
      else if (act == "silu") g = silu_grad(g, pre);
      else if (act == "gelu") g = at::gelu_backward(g, pre);  // differentiable: ATen has its double backward
      else TORCH_CHECK(false, "aie.conv2d backward: unknown activation '", act, "'");
    }
    const int64_t bias_edge = ctx->saved_data["bias_edge"].toInt();
    const int64_t residual_edge = ctx->saved_data["residual_edge"].toInt();
    at::Tensor grad_residual;
    if (residual_edge >= 0 && ctx->needs_input_grad(residual_edge))
      grad_residual = g.sum_to_size(ctx->saved_data["residual_sizes"].toIntVector());
    const std::array<bool, 3> mask = {ctx->needs_input_grad(0), ctx->needs_input_grad(1),
                                      bias_edge >= 0 && ctx->needs_input_grad(bias_edge)};
    const auto bias_sizes = ctx->saved_data["bias_sizes"].toIntVector();
    auto [gi, gw, gb] = at::convolution_backward(
        g, input, weight, bias_edge >= 0 ? at::OptionalIntArrayRef(bias_sizes) : std::nullopt, stride, padding,
        dilation, false, no_output_padding, groups, mask);
    // One gradient per forward argument: the non-tensor ones get none.
    return {gi, gw, gb, {}, {}, {}, {}, {}, {}, {}, grad_residual};
  }
};

using Conv2dScaledSig = at::Tensor(const at::Tensor&, const at::Tensor&, const at::Tensor&,
                                   const std::optional<at::Tensor>&, c10::IntArrayRef, c10::IntArrayRef,
                                   c10::IntArrayRef, int64_t, c10::string_view, const std::optional<at::Tensor>&);

const c10::TypedOperatorHandle<Conv2dScaledSig>& conv2d_scaled_op() {
  static const auto op =
      c10::Dispatcher::singleton().findSchemaOrThrow("aie::conv2d_scaled", "").typed<Conv2dScaledSig>();
  return op;
}

}  // namespace

at::Tensor conv2d_scaled_autograd(const at::Tensor& input, const at::Tensor& scale, const at::Tensor& weight,
                                  const std::optional<at::Tensor>& bias, c10::IntArrayRef stride,
                                  c10::IntArrayRef padding, c10::IntArrayRef dilation, int64_t groups,
                                  c10::string_view activation, const std::optional<at::Tensor>& residual) {
  const bool records = at::GradMode::is_enabled() &&
                       (input.requires_grad() || scale.requires_grad() || weight.requires_grad() ||
                        (defined(bias) && bias->requires_grad()) || (defined(residual) && residual->requires_grad()));
  if (records)
    return conv2d_op().call(at::mul(input, scale), weight, bias, stride, padding, dilation, groups, "auto", false,
                            activation, residual);
  at::AutoDispatchBelowADInplaceOrView guard;
  return conv2d_scaled_op().call(input, scale, weight, bias, stride, padding, dilation, groups, activation, residual);
}

at::Tensor conv2d_autograd(const at::Tensor& input, const at::Tensor& weight, const std::optional<at::Tensor>& bias,
                           c10::IntArrayRef stride, c10::IntArrayRef padding, c10::IntArrayRef dilation,
                           int64_t groups, c10::string_view algorithm, bool relu, c10::string_view activation,
                           const std::optional<at::Tensor>& residual) {
  const bool records = at::GradMode::is_enabled() &&
                       (input.requires_grad() || weight.requires_grad() || (defined(bias) && bias->requires_grad()) ||
                        (defined(residual) && residual->requires_grad()));
  if (!records)
    return conv2d_below_autograd(input, weight, bias, stride, padding, dilation, groups, algorithm, relu, activation,
                                 residual);
  return Conv2dFunction::apply(input, weight, bias, stride, padding, dilation, groups, algorithm, relu, activation,
                               residual);
}

}  // namespace torch_aie::conv
