// PyTorch's quantized tensors (torch.qint8 / quint8, per-tensor or per-channel affine)
// cannot live on the aie device: the NPU's int8 path is torch_aie's own flow, on plain
// int8 tensors with explicit requantisation. Every op reaching the QuantizedPrivateUse1
// key (e.g. empty_strided when `.to("aie")` copies a quantized tensor, or the result of
// quantize_per_tensor on an aie tensor) raises an error that says so and names the
// supported flow, instead of the dispatcher's bare "Could not run ... 'Quantizedaie'".
#include "csrc/device/quantized_refusal.h"

#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/library.h>

#include <sstream>

namespace torch_aie {

void refuse_quantized_tensor(const std::string& op) {
  TORCH_CHECK_NOT_IMPLEMENTED(
      false, "torch_aie: PyTorch quantized tensors (torch.qint8 / torch.quint8, quantize_per_tensor / ",
      "quantize_per_channel, eager-mode or FX quantization) cannot be moved to or created on the aie device (",
      op, "). torch_aie runs int8 convolutions through its own flow: ",
      "torch_aie.quantize(model, calibration_batches, scheme=\"a8w8\" | \"xint8\"), or ",
      "torch_aie.quantization.AieQuantizer with torchao's prepare_pt2e / convert_pt2e followed by ",
      "torch_aie.quantization.lower(gm) (ops: torch.ops.aie.qconv2d on plain int8 tensors). ",
      "Keep PyTorch-quantized models on the CPU.");
}

namespace {

void refuse_quantized(const c10::OperatorHandle& op, torch::jit::Stack*) {
  std::ostringstream name;
  name << op.schema().operator_name();
  refuse_quantized_tensor(name.str());
}

}  // namespace

TORCH_LIBRARY_IMPL(_, QuantizedPrivateUse1, m) {
  m.fallback(torch::CppFunction::makeFromBoxedFunction<&refuse_quantized>());
}

}  // namespace torch_aie
