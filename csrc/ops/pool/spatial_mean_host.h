// The mean over (H, W) of a 4-D tensor on the host (global average pooling: the
// heads of ResNets, squeeze-and-excitation blocks), with the aie_kernels sum_row /
// add_row kernels of the host's ISA. Host work, not a backend op (there is no NPU
// reduction design), so it sits here and not behind the conv-backend interface.
#pragma once
#include <ATen/core/Tensor.h>

namespace torch_aie::pool {

// Whether spatial_mean_host serves `x`: 4-D float32 / bfloat16 whose (H, W) planes are
// contiguous (NCHW-like) or whose pixels are contiguous channel vectors (NHWC).
bool spatial_mean_layout_ok(const at::Tensor& x);

// out[n * C + c] = mean over (h, w) of x[n][c][h][w]: fp32 sums (of planes up to
// kShortRow pixels, of kSumBlock pieces of longer ones, of up to kFoldPixels NHWC
// pixels) added in double, then divided by H * W and rounded to x's dtype. The same on any thread count. x: a host tensor
// with spatial_mean_layout_ok and H * W > 0; out: contiguous, N * C elements of x's dtype.
void spatial_mean_host(const at::Tensor& x, const at::Tensor& out);

}  // namespace torch_aie::pool
