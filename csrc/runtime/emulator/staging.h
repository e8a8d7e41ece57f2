// Activations staged as the NPU's shim DMA would deliver them: zero-padded, one
// buffer per A rounding the numerics' passes read.
#pragma once
#include <ATen/core/Tensor.h>

#include <array>
#include <cstdint>

#include "aie_kernels/kernel_table.h"
#include "csrc/runtime/emulator/host_layout.h"

namespace torch_aie::runtime {

// PixelRows: NHWC [N][Hp][Wp][C].
// ChannelRows: planar [N][C][Hp][phases][Wq], each padded row split into
// `phases` = stride_w interleaved phases of Wq = ceil(Wp / stride_w) pixels, so the
// pixels one tap reads for consecutive outputs are consecutive in memory.
struct StagedInput {
  c10::ScalarType dtype = c10::ScalarType::Float;  // element type of every variant
  std::array<const void*, 4> variants{};           // indexed by aie_kernels::Rounding
  HostLayout layout = HostLayout::PixelRows;
  int64_t Hp = 0, Wp = 0, C = 0;
  int64_t phases = 1, Wq = 0;
  int64_t plane() const { return Hp * phases * Wq; }  // elements per planar channel

  template <class T>
  const T* variant(aie_kernels::Rounding r) const {
    TORCH_INTERNAL_ASSERT(c10::CppTypeToScalarType<T>::value == dtype, "staged input holds ", dtype);
    return static_cast<const T*>(variants[static_cast<int>(r)]);
  }
};

// Stages `x` (a CPU tensor [N][C][H][W] in any strides, float or bfloat16) into
// `layout`'s form, one buffer per A rounding of `numerics`. The buffers belong to
// the calling thread and stay valid until its next stage_input call.
StagedInput stage_input(const at::Tensor& x, const ConvShape& s, Numerics numerics, HostLayout layout);
StagedInput stage_input_nhwc(const at::Tensor& x, const ConvShape& s, Numerics numerics);
StagedInput stage_input_planar(const at::Tensor& x, const ConvShape& s, Numerics numerics);

}  // namespace torch_aie::runtime
