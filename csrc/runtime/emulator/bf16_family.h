// The native-bf16 kernel family of the host emulator: on hosts with bf16
// dot-product units (AVX512-BF16, AMX-BF16) the GEMM-family convs keep bf16-stored
// operands and run the aie_kernels bf16 GEMM (aie_kernels/bf16_gemm.h) with fp32
// accumulation, in two orientations giving identical bits (the kernels are
// symmetric in A and B, and the reduction order and its zero padding are the same):
// - pixel rows: NHWC bf16 staging, weights as VNNI-2 bf16 panels (bf16_pixel_rows.cpp);
// - channel rows: planar staging, weights as bf16 rows (the GEMM's A), VNNI-2 pixel
//   panels packed per task (bf16_channel_rows.cpp).
// Internal to the family's files (bf16_*.cpp); docs/ARCHITECTURE.md, "Kernel family".
#pragma once
#include <ATen/core/Tensor.h>

#include <algorithm>
#include <array>

#include "aie_kernels/bf16_gemm.h"
#include "csrc/runtime/emulator/emulator.h"
#include "csrc/runtime/typed_buffer.h"

namespace torch_aie::runtime {

// The host's native bf16 GEMM, or nullptr on hosts without bf16 dot products
// (the float family serves them).
const aie_kernels::Bf16Gemm* native_bf16_gemm();

// The native GEMM, or its exact form where operands with these smallest exponent
// fields could have products the native kernels flush (bf16_products_normal). The
// choice is per conv and pass, from all of its operands, so it is the same for any
// memory format, blocking and thread count.
const aie_kernels::Bf16Gemm& bf16_gemm_for(int min_exp_a, int min_exp_b);

// The reduction depth the packed operands are padded to on this host: the native
// GEMM's k_depth (32 for AMX tiles, 2 for vdpbf16ps; aie_kernels/bf16_gemm.h).
int64_t bf16_k_depth();

// Whether pixel rows read A tiles straight from the staged image (stride-1 convs
// whose groups have a multiple of bf16_k_depth() channels) instead of packing them.
bool bf16_direct_applies(const ConvShape& s);

// Channels-last convs, and planar ones with several taps whose A tiles can be read
// in place, run as pixel rows (transposing a planar input and output costs less
// than packing the taps' panels); the other planar ones as channel rows.
HostLayout choose_bf16_layout(const ConvShape& s, bool channels_last);

// A strided unpadded 1x1 conv as the stride-1 conv on the pixels it reads.
inline ConvShape unit_stride(const ConvShape& s) {
  ConvShape u = s;
  u.H = s.OH;
  u.W = s.OW;
  u.stride_h = u.stride_w = 1;
  return u;
}

// The family's packed weights: per weight rounding, per group (group_stride bf16
// values each), the reduction padded to kp: PixelRows as VNNI-2 panels
// (aie_kernels::pack_b_vnni), ChannelRows as rows [round_up(ocg, 16)][kp]; and each
// rounding's smallest exponent field (aie_kernels::bf16_products_normal).
struct Bf16PackedWeights final : PackedOperand {
  Numerics numerics = Numerics::Bf16;
  HostLayout layout = HostLayout::PixelRows;
  int64_t groups = 0, ocg = 0, k = 0, kp = 0;
  int64_t group_stride = 0;
  std::array<TypedBuffer, 4> variants;  // BFloat16, indexed by aie_kernels::Rounding
  std::array<int, 4> min_exp{255, 255, 255, 255};
  const uint16_t* for_group(aie_kernels::Rounding r, int64_t g) const {
    return reinterpret_cast<const uint16_t*>(variants[static_cast<int>(r)].data<c10::BFloat16>()) + g * group_stride;
  }
  size_t bytes() const override {
    size_t b = 0;
    for (const auto& v : variants) b += v.bytes();
    return b;
  }
};

// Packs `w` (fp32, contiguous [OC][Cg][KH][KW]) for a GEMM-family conv in `layout`.
Bf16PackedWeights pack_weights_bf16(const float* w, const ConvShape& s, Numerics numerics, HostLayout layout,
                                    const aie_kernels::KernelTable& kt);

// The family's staged input.
// - PixelRows: NHWC as the float family's, in bf16 (`bf16`), followed by zeroed
//   slack the direct kernels may read past the end; or, for stride-1 unpadded 1x1
//   convs on dense channels-last bf16 inputs, the input itself (`raw`, nhwc_in_place
//   in bf16_staging.cpp; no slack: a partial last row group is read from a copy).
// - ChannelRows: the float family's planar fp32 staging (`f32`); or, for 1x1
//   stride-1 unpadded convs on dense planar fp32 inputs, the input itself (`raw`:
//   every variant points at the unrounded values, which the B packer rounds); or, for
//   strided unpadded 1x1 convs, only the pixels the conv reads, staged as the input
//   of the same conv with stride 1 (`subsampled`, unit_stride).
// Both: the smallest exponent field of the inputs' bf16 (RNE) roundings, from which
// each variant's bound follows (staged_min_exp).
struct Bf16StagedInput : StagedInput {
  std::array<const uint16_t*, 4> bf16{};
  int min_exp_hi = 255;
  bool raw = false;
  bool subsampled = false;
  const float* f32(aie_kernels::Rounding r) const { return static_cast<const float*>(variants[static_cast<int>(r)]); }
};

// A lower bound of the smallest exponent field among the non-zero values of staged
// variant `r`, from in.min_exp_hi. The low part of the bf16x3 split of x, if not 0,
// is at least ulp_fp32(x) = 2^(e(x) - 23) >= 2^(e(bf16(x)) - 24); the other variants
// are the roundings themselves (or 0).
inline int staged_min_exp(const Bf16StagedInput& in, aie_kernels::Rounding r) {
  if (r != aie_kernels::Rounding::Bf16Lo || in.min_exp_hi == 255) return in.min_exp_hi;
  return std::max(0, in.min_exp_hi - 24);
}

// Stages `x` (CPU [N][C][H][W], any strides, float or bfloat16) for `layout`. The
// buffers belong to the calling thread until its next staging call. `scale` ([N][C]
// fp32, PixelRows only; nullptr: none) stages x * scale instead, each element as ATen's
// mul of x's dtype gives it (ConvIO::input_scale).
Bf16StagedInput stage_input_bf16(const at::Tensor& x, const ConvShape& s, Numerics numerics, HostLayout layout,
                                 const float* scale = nullptr);

// A GEMM-family conv on pixel-row operands into any output strides.
void emulate_bf16_pixel_rows(const ConvShape& s, const Bf16PackedWeights& w, const Bf16StagedInput& in,
                             const Epilogue& epi, const OutputView& out);

// A GEMM-family conv on channel-row operands; `out` planar with contiguous pixels.
void emulate_bf16_channel_rows(const ConvShape& s, const Bf16PackedWeights& w, const Bf16StagedInput& in,
                               const Epilogue& epi, const OutputView& out);

}  // namespace torch_aie::runtime
