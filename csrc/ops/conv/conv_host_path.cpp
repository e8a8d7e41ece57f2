// The CPU path: ATen's own convolution on host views of the aie tensors (served
// for what the NPU path does not take; the reason is counted by the caller).
#include <ATen/ops/convolution.h>
#include <ATen/ops/empty_strided.h>
#include <ATen/ops/gelu.h>
#include <ATen/ops/hardswish.h>
#include <ATen/ops/mul.h>
#include <ATen/ops/silu.h>

#include "csrc/ops/conv/conv_paths.h"
#include "csrc/runtime/memory_view.h"

namespace torch_aie::conv {

using runtime::host_view;

at::Tensor to_device_of(const at::Tensor& r, const at::Tensor& like) {
  if (!r.defined() || like.device().is_cpu()) return r;
  auto out = at::empty_strided(r.sizes(), r.strides(), r.options().device(like.device()));
  host_view(out).copy_(r);
  return out;
}

namespace {

// The fused activation of a conv that runs on the host: ATen's own ops.
void activate_on_host(at::Tensor& r, runtime::Activation act) {
  switch (act) {
    case runtime::Activation::None: return;
    case runtime::Activation::ReLU: r.relu_(); return;
    case runtime::Activation::ReLU6: r.clamp_(0, 6); return;
    case runtime::Activation::Hardswish: r = at::hardswish(r); return;
    case runtime::Activation::SiLU: r = at::silu(r); return;
    case runtime::Activation::GELU: r = at::gelu(r); return;
  }
}

}  // namespace

// bf16/fp16 convs compute in fp32 from the given values and round once at the end
// (docs/ARCHITECTURE.md, numeric contract): ATen's CPU reduced-precision convs differ
// by host (some AVX2 paths exceed the bf16 bound, oneDNN's AMX bf16 conv crashes on
// some shapes), so the host path never uses them.
at::Tensor host_conv(const ConvArgs& a, runtime::Activation act, const at::Tensor& residual,
                     const at::Tensor& input_scale) {
  const auto dtype = a.input.scalar_type();
  const bool reduced = dtype == at::kBFloat16 || dtype == at::kHalf;
  auto widen = [&](const at::Tensor& t) { return reduced ? t.to(at::kFloat) : t; };
  auto host = [&](const at::Tensor& t) { return widen(host_view(t)); };
  std::optional<at::Tensor> bias;
  if (a.bias && a.bias->defined()) bias = host(*a.bias);
  // The gate's product in the input's dtype, as ATen's mul rounds it, before any widening.
  const at::Tensor x = input_scale.defined() ? widen(at::mul(host_view(a.input), host_view(input_scale)))
                                             : host(a.input);
  auto r = at::convolution(x, host(a.weight), bias, a.stride, a.padding, a.dilation,
                           a.transposed, a.output_padding, a.groups);
  if (residual.defined()) r.add_(host(residual));
  activate_on_host(r, act);
  if (reduced) r = r.to(dtype);
  return to_device_of(r, a.input);
}

}  // namespace torch_aie::conv
