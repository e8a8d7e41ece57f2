// Complex convolutions run on the host in fp32, exactly (as the README says of dtypes the
// NPU does not take). ATen's conv1d/conv2d/conv3d/conv_transpose* (CompositeImplicitAutograd)
// split a complex conv into three real convs (complex_convolution, Gauss' trick) before
// aten::convolution, so the aie convolution kernel would only ever see float32 halves and
// run them at bf16 precision. This kernel sits on AutogradPrivateUse1 of those ops, above
// the split: complex calls go to the CPU (differentiably: the copies are autograd ops),
// counted with the reason; real calls redispatch to the composite unchanged.
#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/core/stack.h>
#include <torch/library.h>

#include <sstream>

#include "csrc/ops/conv/conv_config.h"

namespace torch_aie::conv {
namespace {

void note_host_op(const std::string& op, const std::string& reason) {
  static const auto note = c10::Dispatcher::singleton()
                               .findSchemaOrThrow("_aie::note_host_op", "")
                               .typed<void(c10::string_view, c10::string_view)>();
  note.call(op, reason);
}

void complex_conv_on_host(const c10::OperatorHandle& op, c10::DispatchKeySet ks, torch::jit::Stack* stack) {
  const size_t num_args = op.schema().arguments().size();
  auto args = stack->end() - num_args;
  const at::Tensor& input = args[0].toTensor();
  const at::Tensor& weight = args[1].toTensor();
  if (!input.is_complex() && !weight.is_complex()) {
    op.redispatchBoxed(ks & c10::DispatchKeySet(c10::DispatchKeySet::FULL_AFTER, c10::DispatchKey::AutogradPrivateUse1),
                       stack);
    return;
  }
  std::ostringstream reason;
  reason << "dtype " << (input.is_complex() ? input.scalar_type() : weight.scalar_type())
         << " has no AIE kernel (complex convs run in fp32 on the host, not as bf16 real convs)";
  note_host_op(c10::toString(op.operator_name()), reason.str());  // the fallback mode applies
  count_fallback(reason.str());
  const c10::Device device = input.device();
  for (auto it = args; it != stack->end(); ++it) {
    if (it->isTensor() && it->toTensor().defined() && it->toTensor().is_privateuseone()) {
      *it = it->toTensor().to(c10::kCPU);
    }
  }
  op.callBoxed(stack);
  stack->back() = stack->back().toTensor().to(device);
}

TORCH_LIBRARY_IMPL(aten, AutogradPrivateUse1, m) {
  for (const char* name : {"conv1d", "conv2d", "conv3d", "conv1d.padding", "conv2d.padding", "conv3d.padding",
                           "conv_transpose1d", "conv_transpose2d.input", "conv_transpose3d.input"}) {
    m.impl(name, torch::CppFunction::makeFromBoxedFunction<&complex_conv_on_host>());
  }
}

}  // namespace
}  // namespace torch_aie::conv
