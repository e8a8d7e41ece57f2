// Max pooling on the host with the aie_kernels max_row kernel of the host's ISA: exact,
// so the same values as ATen's CPU kernel on every ISA and thread count. Host work, not a
// backend op (there is no NPU pooling design), so it sits here and not behind the
// conv-backend interface.
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>

namespace torch_aie::pool {

struct PoolWindow {
  int64_t kH, kW, sH, sW, pH, pW, dH, dW;
};

// out[n][c][oh][ow] = max over the window of x[n][c] (ATen's CPU rule, padding never
// wins). x: 4-D float32 or bfloat16 host tensor in any strides; out: contiguous
// (N, C, OH, OW) host tensor of x's dtype, every window starting inside the padded input.
void max_pool2d_host(const at::Tensor& x, const PoolWindow& w, const at::Tensor& out);

}  // namespace torch_aie::pool
