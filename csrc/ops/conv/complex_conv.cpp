// Complex convolutions run on the host in fp32, exactly (as the README says of dtypes the
// NPU does not take). ATen's conv1d/conv2d/conv3d/conv_transpose* (CompositeImplicitAutograd)
// split a complex conv into three real convs (complex_convolution, Gauss' trick) before
// aten::convolution, so the aie convolution kernel would only ever see float32 halves and
// run them at bf16 precision. This kernel sits on AutogradPrivateUse1 of those ops, above
// the split: complex calls go to the CPU (differentiably: the copies are autograd ops),
// counted with the reason; real calls run the composite unchanged.
#include <ATen/ops/conv1d.h>
#include <ATen/ops/conv1d_native.h>
#include <ATen/ops/conv2d.h>
#include <ATen/ops/conv2d_native.h>
#include <ATen/ops/conv3d.h>
#include <ATen/ops/conv3d_native.h>
#include <ATen/ops/conv_transpose1d.h>
#include <ATen/ops/conv_transpose1d_native.h>
#include <ATen/ops/conv_transpose2d.h>
#include <ATen/ops/conv_transpose2d_native.h>
#include <ATen/ops/conv_transpose3d.h>
#include <ATen/ops/conv_transpose3d_native.h>
#include <torch/library.h>

#include <sstream>

#include "csrc/ops/conv/conv_config.h"
#include "csrc/ops/host_op.h"

namespace torch_aie::conv {
namespace {

using ops::note_host_op;

// The complex call on the CPU: the copies are autograd (and forward-AD) ops.
template <class Run>
at::Tensor complex_on_host(const char* op, const at::Tensor& input, const at::Tensor& weight,
                           const std::optional<at::Tensor>& bias, Run&& run) {
  std::ostringstream reason;
  reason << "dtype " << (input.is_complex() ? input.scalar_type() : weight.scalar_type())
         << " has no AIE kernel (complex convs run in fp32 on the host, not as bf16 real convs)";
  note_host_op(op, reason.str());  // the fallback mode applies: "raise" stops it here
  count_fallback(reason.str());
  std::optional<at::Tensor> b;
  if (bias && bias->defined()) b = bias->to(c10::kCPU);
  return run(input.to(c10::kCPU), weight.to(c10::kCPU), b).to(input.device());
}

// Real calls run ATen's composite itself, here at the autograd level where it would have
// run (not redispatched below it, which would skip functorch's layers: torch.func.jvp).
#define AIE_CONV_KERNEL(FN, ATEN_FN, NATIVE_FN, OP, DECL, CALL)                                         \
  at::Tensor FN(const at::Tensor& input, const at::Tensor& weight, const std::optional<at::Tensor>& bias \
                    DECL) {                                                                            \
    if (input.is_complex() || weight.is_complex()) {                                                   \
      return complex_on_host(OP, input, weight, bias,                                                  \
                             [&](const at::Tensor& i, const at::Tensor& w, const std::optional<at::Tensor>& b) { \
                               return ATEN_FN(i, w, b CALL);                                           \
                             });                                                                       \
    }                                                                                                  \
    return NATIVE_FN(input, weight, bias CALL);                                                        \
  }

#define AIE_CONV_DECL , c10::SymIntArrayRef stride, c10::SymIntArrayRef padding, c10::SymIntArrayRef dilation, c10::SymInt groups
#define AIE_CONV_CALL , stride, padding, dilation, groups
#define AIE_CONV_PAD_DECL , c10::SymIntArrayRef stride, c10::string_view padding, c10::SymIntArrayRef dilation, c10::SymInt groups
#define AIE_CONVT_DECL                                                                                  \
  , c10::SymIntArrayRef stride, c10::SymIntArrayRef padding, c10::SymIntArrayRef output_padding, c10::SymInt groups, \
      c10::SymIntArrayRef dilation
#define AIE_CONVT_CALL , stride, padding, output_padding, groups, dilation

AIE_CONV_KERNEL(conv1d_k, at::conv1d_symint, at::native::conv1d_symint, "aten::conv1d", AIE_CONV_DECL, AIE_CONV_CALL)
AIE_CONV_KERNEL(conv2d_k, at::conv2d_symint, at::native::conv2d_symint, "aten::conv2d", AIE_CONV_DECL, AIE_CONV_CALL)
AIE_CONV_KERNEL(conv3d_k, at::conv3d_symint, at::native::conv3d_symint, "aten::conv3d", AIE_CONV_DECL, AIE_CONV_CALL)
AIE_CONV_KERNEL(conv1d_pad_k, at::conv1d_symint, at::native::conv1d_padding_symint, "aten::conv1d.padding",
                AIE_CONV_PAD_DECL, AIE_CONV_CALL)
AIE_CONV_KERNEL(conv2d_pad_k, at::conv2d_symint, at::native::conv2d_padding_symint, "aten::conv2d.padding",
                AIE_CONV_PAD_DECL, AIE_CONV_CALL)
AIE_CONV_KERNEL(conv3d_pad_k, at::conv3d_symint, at::native::conv3d_padding_symint, "aten::conv3d.padding",
                AIE_CONV_PAD_DECL, AIE_CONV_CALL)
AIE_CONV_KERNEL(convt1d_k, at::conv_transpose1d_symint, at::native::conv_transpose1d_symint,
                "aten::conv_transpose1d", AIE_CONVT_DECL, AIE_CONVT_CALL)
AIE_CONV_KERNEL(convt2d_k, at::conv_transpose2d_symint, at::native::conv_transpose2d_symint,
                "aten::conv_transpose2d.input", AIE_CONVT_DECL, AIE_CONVT_CALL)
AIE_CONV_KERNEL(convt3d_k, at::conv_transpose3d_symint, at::native::conv_transpose3d_symint,
                "aten::conv_transpose3d.input", AIE_CONVT_DECL, AIE_CONVT_CALL)

TORCH_LIBRARY_IMPL(aten, AutogradPrivateUse1, m) {
  m.impl("conv1d", TORCH_FN(conv1d_k));
  m.impl("conv2d", TORCH_FN(conv2d_k));
  m.impl("conv3d", TORCH_FN(conv3d_k));
  m.impl("conv1d.padding", TORCH_FN(conv1d_pad_k));
  m.impl("conv2d.padding", TORCH_FN(conv2d_pad_k));
  m.impl("conv3d.padding", TORCH_FN(conv3d_pad_k));
  m.impl("conv_transpose1d", TORCH_FN(convt1d_k));
  m.impl("conv_transpose2d.input", TORCH_FN(convt2d_k));
  m.impl("conv_transpose3d.input", TORCH_FN(convt3d_k));
}

}  // namespace
}  // namespace torch_aie::conv
