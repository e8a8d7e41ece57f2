// The native-bf16 side of the host emulator (HostLayout::PixelRowsBf16): on hosts
// with bf16 dot-product units (AVX512-BF16, AMX-BF16) the GEMM-family convs stage
// the input as NHWC bf16, keep the weights as VNNI-2 bf16 panels and run the
// aie_kernels bf16 GEMM (aie_kernels/bf16_gemm.h), for planar and channels-last
// tensors alike, so the memory format never changes a result.
#pragma once
#include <ATen/core/Tensor.h>

#include <algorithm>
#include <vector>

#include "aie_kernels/bf16_gemm.h"
#include "csrc/runtime/conv_job.h"

namespace torch_aie::runtime {

// The host's native bf16 GEMM, or nullptr on hosts without bf16 dot products
// (they keep the fp32-panel kernels).
const aie_kernels::Bf16Gemm* native_bf16_gemm();

// The native GEMM, or its exact form where operands with these smallest exponent
// fields could have products the native kernels flush (bf16_products_normal). The
// choice is per conv and pass, from all of its operands, so it is the same for any
// memory format, blocking and thread count.
const aie_kernels::Bf16Gemm& bf16_gemm_for(int min_exp_a, int min_exp_b);

// A strided unpadded 1x1 conv as the stride-1 conv on the pixels it reads.
inline ConvShape unit_stride(const ConvShape& s) {
  ConvShape u = s;
  u.H = s.OH;
  u.W = s.OW;
  u.stride_h = u.stride_w = 1;
  return u;
}

// A lower bound of the smallest exponent field among the non-zero values of staged
// variant `r`, from in.min_exp_hi. The low part of the bf16x3 split of x, if not 0,
// is at least ulp_fp32(x) = 2^(e(x) - 23) >= 2^(e(bf16(x)) - 24); the other variants
// are the roundings themselves (or 0).
inline int staged_min_exp(const StagedInput& in, aie_kernels::Rounding r) {
  if (r != aie_kernels::Rounding::Bf16Lo || in.min_exp_hi == 255) return in.min_exp_hi;
  return std::max(0, in.min_exp_hi - 24);
}

// Whether PixelRowsBf16 reads A tiles straight from the staged image (stride-1
// convs whose groups have a multiple of 32 channels) instead of packing them.
bool bf16_direct_applies(const ConvShape& s);

// Fills pw.bf16 / min_exp / kp from `ordered` (per output channel, the reduction in
// tap-major, channel-minor order, fp32 holding the values to round).
void pack_weights_bf16(const std::vector<float>& ordered, const ConvShape& s, PackedWeights& pw,
                       const aie_kernels::KernelTable& kt);

// Stages `x` for PixelRowsBf16 (NHWC bf16) or ChannelRowsBf16 (planar, as
// stage_input_planar, plus the exponent scan).
StagedInput stage_input_bf16(const at::Tensor& x, const ConvShape& s, Numerics numerics, HostLayout layout);

// A GEMM-family conv on PixelRowsBf16 operands into any output strides.
void emulate_gemm_bf16(const ConvShape& s, const PackedWeights& w, const StagedInput& in,
                       const Epilogue& epi, const OutputView& out);

// A GEMM-family conv on ChannelRowsBf16 operands; `out` planar with contiguous pixels.
void emulate_gemm_bf16_planar(const ConvShape& s, const PackedWeights& w, const StagedInput& in,
                              const Epilogue& epi, const OutputView& out);

}  // namespace torch_aie::runtime
