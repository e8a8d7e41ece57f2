#include "csrc/runtime/emulator/host_layout.h"

#include "aie_kernels/tile_shapes.h"

namespace torch_aie::runtime {

const char* host_layout_name(HostLayout l) {
  return l == HostLayout::ChannelRows ? "channel-row" : "pixel-row";
}

HostLayout choose_host_layout(const ConvShape& s, ConvAlgorithm a, bool channels_last) {
  if (channels_last) return HostLayout::PixelRows;
  // Planar outputs favour channel rows (no transposes), with exceptions measured
  // on ResNet-50 and MobileNetV2 (benchmarks/RESULTS.md):
  // - depthwise loses to vectors across channels unless rows are long and channels few
  //   (MobileNetV2 on AVX2: 144x56x56 pixel rows 0.39 ms, channel rows 0.56 ms;
  //   32x112x112 0.44 vs 0.41 ms);
  if (a == ConvAlgorithm::Depthwise)
    return s.OW >= kDepthwiseRowMin && s.OW >= kDepthwiseRowPerChannel * s.C ? HostLayout::ChannelRows
                                                                           : HostLayout::PixelRows;
  // - direct convs (taps > 1) and strided 1x1s: as channel rows they would gather a
  //   tap-expanded (or strided) copy of the input into pixel panels on every call, where
  //   pixel rows read the NHWC staging in place (AVX2, ResNet-50 3x3 layers at batch 1
  //   and 8: pixel rows 1.15-1.7x faster);
  if (a == ConvAlgorithm::Direct || (a == ConvAlgorithm::Gemm1x1 && (s.stride_h != 1 || s.stride_w != 1)))
    return HostLayout::PixelRows;
  // - 1x1s over small maps, and reducing 1x1s (K >= 3 OC) over mid-sized ones: the
  //   planar output's transposes cost less than packing the input into pixel panels;
  const bool reducing = s.Cg() >= 3 * s.OCg();
  if (a == ConvAlgorithm::Gemm1x1 && (s.M() <= kPixelRowsMaxM1x1 || (reducing && s.M() <= kPixelRowsMaxMReducing)))
    return HostLayout::PixelRows;
  // - pixel counts that fill kNR-wide pixel panels much worse than kMR-high ones
  //   (7x7 at batch 1: 49 of 64 columns against 49 of 54 rows).
  const int64_t m = s.M();
  const double fill_rows = double(m) / aie_kernels::round_up(m, aie_kernels::kNR);
  const double fill_cols = double(m) / aie_kernels::round_up(m, aie_kernels::kMR);
  return fill_rows >= 0.9 * fill_cols ? HostLayout::ChannelRows : HostLayout::PixelRows;
}

}  // namespace torch_aie::runtime
