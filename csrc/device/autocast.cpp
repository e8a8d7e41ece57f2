// torch.autocast("aie"): CUDA's autocast policy, registered for AutocastPrivateUse1.
// torch 2.13 registers autocast kernels for CPU, CUDA, XPU, MPS, MTIA and MAIA but none
// for PrivateUse1, so without these every op would run in its input dtypes. ATen
// publishes CUDA's op lists (AT_FORALL_*) for other backends to reuse; these are them,
// with the cast target the autocast dtype of the aie device (torch.autocast's dtype=,
// bfloat16 by default: torch.aie.get_amp_supported_dtype()).
//  lower_precision_fp  convolutions (incl. transposed), linear, matmul, mm, bmm, addmm,
//                      baddbmm, ...: cast floating aie inputs to the autocast dtype;
//  fp32                ops that need the range (exp, log, layer_norm, group_norm, losses,
//                      upsampling, ...): cast to float32;
//  fp32_set_opt_dtype  softmax, log_softmax, sum, cumsum, prod, norms: run in float32
//                      unless the caller gave a dtype;
//  promote             mixed-dtype ops (addcmul, cat-like): widest input dtype;
// every other op falls through and runs in its input dtypes, as under CUDA autocast.

#include <ATen/autocast_mode.h>
#include <torch/library.h>

namespace torch_aie {
namespace {

using at::Scalar;
using at::ScalarType;
using at::Tensor;
using c10::IntArrayRef;
using at::autocast::CastPolicy;

Tensor binary_cross_entropy_banned(const Tensor&, const Tensor&, const std::optional<Tensor>&, int64_t) {
  TORCH_CHECK(
      false,
      "torch.nn.functional.binary_cross_entropy and torch.nn.BCELoss are unsafe to autocast.\n"
      "Many models use a sigmoid layer right before the binary cross entropy layer.\n"
      "In this case, combine the two layers using torch.nn.functional.binary_cross_entropy_with_logits\n"
      "or torch.nn.BCEWithLogitsLoss.  binary_cross_entropy_with_logits and BCEWithLogits are\n"
      "safe to autocast.");
}

TORCH_LIBRARY_IMPL(_, AutocastPrivateUse1, m) {
  m.fallback(torch::CppFunction::makeFallthrough());
}

TORCH_LIBRARY_IMPL(aten, AutocastPrivateUse1, m) {
#define AIE_LOWER_PRECISION_FP(...) KERNEL_PRIVATEUSEONE(__VA_ARGS__, lower_precision_fp)
  AT_FORALL_LOWER_PRECISION_FP(AIE_LOWER_PRECISION_FP)
#undef AIE_LOWER_PRECISION_FP
#define AIE_FP32(...) KERNEL_PRIVATEUSEONE(__VA_ARGS__, fp32)
  AT_FORALL_FP32(AIE_FP32)
#undef AIE_FP32
#define AIE_FP32_SET_OPT_DTYPE(...) KERNEL_PRIVATEUSEONE(__VA_ARGS__, fp32_set_opt_dtype)
  AT_FORALL_FP32_SET_OPT_DTYPE(AIE_FP32_SET_OPT_DTYPE)
#undef AIE_FP32_SET_OPT_DTYPE
  AT_FORALL_DIFFERENT_REDISPATCH_SIGNATURE(KERNEL_DIFFERENT_REDISPATCH_SIGNATURE_PRIVATEUSEONE)
#define AIE_PROMOTE(...) KERNEL_PRIVATEUSEONE(__VA_ARGS__, promote)
  AT_FORALL_PROMOTE(AIE_PROMOTE)
#undef AIE_PROMOTE
  // As CUDA: binary_cross_entropy is unsafe to autocast (use ..._with_logits).
  m.impl(TORCH_SELECTIVE_NAME("aten::binary_cross_entropy"),
         TORCH_FN((&binary_cross_entropy_banned)));
}

// The custom op torch.ops.aie.conv2d is a convolution: lower_precision_fp as well.
Tensor aie_conv2d_autocast(const Tensor& input, const Tensor& weight, const std::optional<Tensor>& bias,
                           IntArrayRef stride, IntArrayRef padding, IntArrayRef dilation, int64_t groups,
                           c10::string_view algorithm, bool relu) {
  c10::impl::ExcludeDispatchKeyGuard no_autocast(c10::DispatchKey::AutocastPrivateUse1);
  constexpr auto kAie = c10::DeviceType::PrivateUse1;
  const ScalarType dtype = at::autocast::get_lower_precision_fp_from_device_type(kAie);
  static const auto op = c10::Dispatcher::singleton()
                             .findSchemaOrThrow("aie::conv2d", "")
                             .typed<Tensor(const Tensor&, const Tensor&, const std::optional<Tensor>&,
                                           IntArrayRef, IntArrayRef, IntArrayRef, int64_t,
                                           c10::string_view, bool)>();
  using at::autocast::cached_cast;
  return op.call(cached_cast(dtype, input, kAie), cached_cast(dtype, weight, kAie),
                 cached_cast(dtype, bias, kAie), stride, padding, dilation, groups, algorithm, relu);
}

TORCH_LIBRARY_IMPL(aie, AutocastPrivateUse1, m) {
  m.impl("conv2d", &aie_conv2d_autocast);
}

}  // namespace
}  // namespace torch_aie
