// A convolution as the runtime sees it: geometry, numerics, packed operands.
// The ops layer builds these from ATen tensors; backends execute them.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "aie_kernels/kernel_table.h"

namespace torch_aie::runtime {

enum class ConvAlgorithm { Im2colGemm = 0, Gemm1x1 = 1, Direct = 2, Depthwise = 3 };
constexpr int kNumAlgorithms = 4;
const char* algorithm_name(ConvAlgorithm a);

// How operands become NPU inputs (DESIGN.md section 4).
enum class Numerics {
  Bf16Tensor,  // bf16 tensors: values used as they are
  Bf16,        // fp32 tensors, one bf16 pass
  Bf16x3,      // fp32 tensors, hi*hi + hi*lo + lo*hi
};
const char* numerics_name(Numerics n);

// One pass multiplies an A (activation) variant by a B (weight) variant and
// accumulates onto the previous passes.
struct Pass {
  aie_kernels::Rounding a, b;
};
std::vector<Pass> passes_for(Numerics n);

// 2-D geometry; a 1-D conv has H = KH = OH = 1. Padding is symmetric, as in aten::convolution.
struct ConvShape {
  int64_t N, C, H, W, OC, KH, KW, OH, OW;
  int64_t stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, groups;
  int64_t Cg() const { return C / groups; }
  int64_t OCg() const { return OC / groups; }
  int64_t taps() const { return KH * KW; }
  int64_t K() const { return taps() * Cg(); }  // reduction length per output
  int64_t M() const { return N * OH * OW; }    // output pixels
  int64_t Hp() const { return H + 2 * pad_h; }
  int64_t Wp() const { return W + 2 * pad_w; }
  double macs() const { return double(M()) * OC * K(); }
};

// How the host emulator orients a GEMM-family conv. PixelRows and ChannelRows
// compute every output element with the same in-order FMA chain, so the choice
// between them never changes a result; it only decides which side is staged and
// which is packed. The *Bf16 forms are the native-bf16 ones (bf16_emulator.h), the
// only ones a host with bf16 dot-product units uses for the GEMM family; they too
// give identical results to each other (the kernels are symmetric in A and B).
enum class HostLayout {
  PixelRows,        // C[pixel][channel]: NHWC staging, weights in kNR-wide channel panels
  ChannelRows,      // C[channel][pixel]: planar staging, weights in kMR-high channel panels
  PixelRowsBf16,    // C[pixel][channel]: NHWC bf16 staging, weights in VNNI-2 bf16 panels
  ChannelRowsBf16,  // C[channel][pixel]: planar staging, VNNI-2 pixel panels packed per
                    // task, weights as bf16 rows (the GEMM's A)
};
inline bool is_bf16_layout(HostLayout l) {
  return l == HostLayout::PixelRowsBf16 || l == HostLayout::ChannelRowsBf16;
}
inline bool is_channel_rows(HostLayout l) {
  return l == HostLayout::ChannelRows || l == HostLayout::ChannelRowsBf16;
}
const char* host_layout_name(HostLayout l);
// What computes the products in `l` on this host, e.g. "bf16 dot products (amx_bf16)".
std::string host_kernel_name(HostLayout l);

// Weights in the exact form an algorithm consumes: per B variant, per group,
// kNR-wide panels of the (tap, channel)-ordered reduction (GEMM algorithms) or a
// [tap][channel] table (depthwise). Immutable once built; shared by the cache.
struct PackedWeights {
  ConvAlgorithm algorithm;
  Numerics numerics;
  HostLayout layout = HostLayout::PixelRows;
  int64_t groups = 0, ocg = 0, k = 0;
  int64_t group_stride = 0;  // floats per group within one variant
  std::array<std::vector<float>, 4> variants;  // indexed by aie_kernels::Rounding
  // *Bf16 layouts: per weight variant, per group (group_stride bf16 values each), the
  // reduction padded to kp: PixelRowsBf16 as VNNI-2 panels (aie_kernels::pack_b_vnni),
  // ChannelRowsBf16 as rows [round_up(ocg, 16)][kp]; and the variant's smallest
  // exponent field (aie_kernels::bf16_products_normal).
  std::array<std::vector<uint16_t>, 4> bf16;
  std::array<int, 4> min_exp{255, 255, 255, 255};
  int64_t kp = 0;
  const float* for_group(aie_kernels::Rounding r, int64_t g) const {
    return variants[static_cast<int>(r)].data() + g * group_stride;
  }
  const uint16_t* bf16_for_group(aie_kernels::Rounding r, int64_t g) const {
    return bf16[static_cast<int>(r)].data() + g * group_stride;
  }
  size_t bytes() const {
    size_t b = 0;
    for (const auto& v : variants) b += v.size() * sizeof(float);
    for (const auto& v : bf16) b += v.size() * sizeof(uint16_t);
    return b;
  }
};

// Packs `w` (fp32, contiguous [OC][Cg][KH][KW], bf16 values if numerics is
// Bf16Tensor) for `algorithm` in `layout` (depthwise ignores the layout).
PackedWeights pack_weights(const float* w, const ConvShape& s, ConvAlgorithm algorithm,
                           Numerics numerics, HostLayout layout,
                           const aie_kernels::KernelTable& kt);

// Activations staged as the NPU's shim DMA would deliver them, zero-padded, one
// buffer per A variant the passes use. PixelRows: NHWC [N][Hp][Wp][C].
// ChannelRows: planar [N][C][Hp][phases][Wq], each padded row split into
// `phases` = stride_w interleaved phases of Wq = ceil(Wp / stride_w) pixels, so the
// pixels one tap reads for consecutive outputs are consecutive in memory.
// PixelRowsBf16: NHWC as PixelRows, in bf16 (`bf16`), followed by zeroed slack the
// direct kernels may read past the end. ChannelRowsBf16: as ChannelRows (fp32), or,
// for 1x1 convs on dense planar fp32 inputs, the input itself (`raw`: every variant
// points at the unrounded values, which the B packer rounds). Both: the smallest
// exponent field of the inputs' bf16 (RNE) roundings, from which each variant's
// bound follows (bf16_emulator.h staged_min_exp).
struct StagedInput {
  std::array<const float*, 4> variants{};  // indexed by aie_kernels::Rounding
  std::array<const uint16_t*, 4> bf16{};
  int min_exp_hi = 255;
  bool raw = false;
  // ChannelRowsBf16 for strided unpadded 1x1 convs: only the pixels the conv reads,
  // staged as the input of the same conv with stride 1 (bf16_emulator.h unit_stride).
  bool subsampled = false;
  HostLayout layout = HostLayout::PixelRows;
  int64_t Hp = 0, Wp = 0, C = 0;
  int64_t phases = 1, Wq = 0;
  int64_t plane() const { return Hp * phases * Wq; }  // floats per planar channel
};

// Where results go: element offsets (in elements of the output dtype).
struct OutputView {
  void* data = nullptr;
  bool bf16 = false;
  int64_t sN = 0, sC = 0, sH = 0, sW = 0;
};

struct Epilogue {
  const float* bias = nullptr;  // OC values, or null
  bool relu = false;
};

}  // namespace torch_aie::runtime
