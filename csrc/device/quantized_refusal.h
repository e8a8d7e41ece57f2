// PyTorch's quantized tensors never live on the aie device (quantized_refusal.cpp).
#pragma once
#include <string>

namespace torch_aie {

// Raises NotImplementedError naming `op`, torch_aie and its int8 flow.
[[noreturn]] void refuse_quantized_tensor(const std::string& op);

}  // namespace torch_aie
