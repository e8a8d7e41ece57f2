// The host emulator's int8 convolution: the packed weight form the qs8 kernels
// consume and the execution of one int8 conv on host memory. The int8 kernel family
// (int8_family.cpp) drives it; nothing above the backend seam sees these types
// (docs/ARCHITECTURE.md, "Kernel family").
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "aie_kernels/int8/qs8.h"
#include "csrc/runtime/conv_backend.h"

namespace torch_aie::runtime {

// Weights in the int8 kernels' form (immutable once built; shared by the weight cache):
// GEMM algorithms: per group, O32 I4 blocks (aie_kernels/int8/qs8.h) of `kp` reduction
// bytes; depthwise: the [tap pair][cpad][2] int16 table. Plus the per-channel column
// sums that undo the +128 of int8 activations.
struct QPackedWeights final : PackedOperand {
  ConvAlgorithm algorithm = ConvAlgorithm::Direct;
  int64_t groups = 0, ocg = 0, cg = 0, taps = 0;
  int64_t run = 1;   // taps per reduction row (see pack_gemm_weights)
  int64_t kc = 0;    // bytes per reduction row
  int64_t kp = 0;    // packed reduction length (multiple of 64)
  int64_t nblk = 0;  // 32-channel blocks per group
  int64_t cpad = 0;  // depthwise channel count, padded to 32
  std::vector<int8_t> gemm;
  std::vector<int16_t> dw;
  std::vector<int32_t> colsum;  // [OC]
  size_t bytes() const override {
    return gemm.size() + dw.size() * sizeof(int16_t) + colsum.size() * sizeof(int32_t);
  }
};

// Taps per reduction row for `algorithm` on `s`: 1 (direct, gemm_1x1, depthwise); im2col
// by kernel rows (KW) when a row of taps is one contiguous staged run (dilation_w 1, one
// group: no im2col copy at all), else the flat im2col (all taps). The packed form
// depends on it, so the weight cache keys on it.
int64_t reduction_run(const ConvShape& s, ConvAlgorithm algorithm);

// w: int8 [OC][Cg][KH][KW] contiguous.
QPackedWeights pack_qweights(const int8_t* w, const ConvShape& s, ConvAlgorithm algorithm);

// Requantisation arguments of one call (see aten-level aie::qconv2d).
struct QRequantArgs {
  const int32_t* bias = nullptr;  // [OC] or null
  const int32_t* multiplier = nullptr;  // [OC]
  const int32_t* shift = nullptr;       // [OC], each in [0, 62]
  aie_kernels::qs8::QRound rounding = aie_kernels::qs8::QRound::ConvEven;
  int64_t zero_point = 0, out_min = -128, out_max = 127;
  bool out_u8 = false;
  const uint8_t* skip = nullptr;  // same strides as the output, or null
  bool skip_u8 = false;
  int64_t skip_multiplier = 1, skip_shift = 0;
};

// Byte strides of the [N][OC][OH][OW] output (and of the skip input).
struct QOutputView {
  uint8_t* data = nullptr;
  int64_t sN = 0, sC = 0, sH = 0, sW = 0;
};

// Runs the conv: x is a CPU tensor [N][C][H][W] (int8 or uint8, any strides).
void emulate_qconv(const ConvShape& s, const QPackedWeights& w, const at::Tensor& x,
                   const QRequantArgs& rq, const QOutputView& out,
                   const aie_kernels::qs8::Qs8KernelTable& kt);

// The int8 kernel table in use (host best, capped by the env or by set_qs8_isa).
const aie_kernels::qs8::Qs8KernelTable& qs8_kernels();
// Selects another variant for this process (tests); must be runnable on this host.
void set_qs8_isa(aie_kernels::qs8::QIsa isa);

}  // namespace torch_aie::runtime
