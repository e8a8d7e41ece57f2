// The host emulator's packed weights: the exact form its float kernels consume.
#pragma once
#include <array>
#include <cstdint>

#include "aie_kernels/kernel_table.h"
#include "csrc/runtime/conv_backend.h"
#include "csrc/runtime/emulator/host_layout.h"
#include "csrc/runtime/typed_buffer.h"

namespace torch_aie::runtime {

// Per B rounding, per group, kNR-wide (PixelRows) or kMR-high (ChannelRows) panels
// of the (tap, channel)-ordered reduction (GEMM algorithms), or a [tap][channel]
// table (depthwise). fp32 storage of bf16 values.
struct PackedWeights final : PackedOperand {
  ConvAlgorithm algorithm = ConvAlgorithm::Im2colGemm;
  Numerics numerics = Numerics::Bf16;
  HostLayout layout = HostLayout::PixelRows;
  int64_t groups = 0, ocg = 0, k = 0;
  int64_t group_stride = 0;  // elements per group within one variant
  std::array<TypedBuffer, 4> variants;  // indexed by aie_kernels::Rounding
  const float* for_group(aie_kernels::Rounding r, int64_t g) const {
    return variants[static_cast<int>(r)].data<float>() + g * group_stride;
  }
  size_t bytes() const override {
    size_t b = 0;
    for (const auto& v : variants) b += v.bytes();
    return b;
  }
};

// Packs `w` (fp32, contiguous [OC][Cg][KH][KW], bf16 values if numerics is
// Bf16Tensor) for `algorithm` in `layout` (depthwise ignores the layout).
PackedWeights pack_weights(const float* w, const ConvShape& s, ConvAlgorithm algorithm,
                           Numerics numerics, HostLayout layout,
                           const aie_kernels::KernelTable& kt);

}  // namespace torch_aie::runtime
