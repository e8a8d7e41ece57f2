// Pixel-row depthwise over planar fp32 input without a staging pass: each task
// stages only the input rows its output rows read, into a small per-thread ring of
// NHWC rows, the way a core's DMA streams rows of a row-tiled depthwise plan into
// core memory. Staging the whole image first cost as much as the conv itself on
// MobileNetV2's large maps (benchmarks/RESULTS.md, AVX2 section): the image was
// written out and read back once more. Same rounding, same kernel, same tap order
// per element as emulate_depthwise_pixel_rows, so the same bits.
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "csrc/runtime/emulator/emulator.h"
#include "csrc/runtime/emulator/host_buffers.h"
#include "csrc/runtime/emulator/passes.h"
#include "csrc/runtime/emulator/tile_output.h"

namespace torch_aie::runtime {

namespace {

constexpr int kChunk = 8;                         // output pixels per kernel call
constexpr size_t kMaxRingBytes = size_t(4) << 20;  // beyond this, stage the whole image
constexpr int64_t kMaxRingRows = 64;
constexpr int64_t kTilePixels = 112;  // output pixels finished together

// Input rows one output row spans, plus one stride: consecutive output rows of a
// task reuse the rows they share.
int64_t ring_rows(const ConvShape& s) { return (s.KH - 1) * s.dil_h + 1 + s.stride_h; }

// One thread's ring of `slots` padded NHWC rows per staged rounding, each row kept
// twice (slot i and i + slots): the rows of any window of up to `slots` consecutive
// input rows then lie consecutively in memory, so one kernel call reads all taps at
// offsets (kh * dil_h * row + kw * dil_w * C), as it would from a staged image.
struct RowRing {
  const ConvShape& s;
  const float* x;  // image n's channel 0, row 0
  int64_t sC, sH;
  const std::vector<aie_kernels::Rounding>& modes;
  int64_t slots, row;  // row: Wp * C elements
  float* rows;         // [mode][2 * slots][row]
  int64_t tags[kMaxRingRows];

  float* slot_row(size_t mode, int64_t slot) const { return rows + (int64_t(mode) * 2 * slots + slot) * row; }

  // Input rows top + kh * dil_h (kh < KH) staged; returns where row `top` begins in
  // the mode at index `mode` (rows outside the image are zeros).
  const float* window(int64_t top, size_t mode) {
    for (int64_t kh = 0; kh < s.KH; ++kh) {
      const int64_t ih = top + kh * s.dil_h, slot = ((ih % slots) + slots) % slots;
      if (tags[slot] != ih) {
        stage(ih, slot);
        tags[slot] = ih;
      }
    }
    return slot_row(mode, ((top % slots) + slots) % slots);
  }

  void stage(int64_t ih, int64_t slot) const {
    const auto& kt = host_kernels();
    const int64_t pad = s.pad_w * s.C;
    for (size_t m = 0; m < modes.size(); ++m) {
      float* d = slot_row(m, slot);
      if (ih < 0 || ih >= s.H) {
        std::memset(d, 0, row * sizeof(float));
      } else {
        std::memset(d, 0, pad * sizeof(float));
        kt.round_transpose(x + ih * sH, sC, s.C, s.W, d + pad, modes[m]);
        std::memset(d + pad + s.W * s.C, 0, pad * sizeof(float));
      }
      std::memcpy(slot_row(m, slot + slots), d, row * sizeof(float));
    }
  }
};

}  // namespace

bool depthwise_streams(const ConvShape& s, const at::Tensor& x) {
  if (x.scalar_type() != at::kFloat || x.stride(3) != 1 || s.C < 2) return false;
  const size_t modes = staged_roundings(Numerics::Bf16x3).size();  // the most any numerics stages
  const size_t bytes = modes * 2 * ring_rows(s) * s.Wp() * s.C * sizeof(float);
  return ring_rows(s) <= kMaxRingRows && bytes <= kMaxRingBytes;
}

void emulate_depthwise_streamed(const ConvShape& s, const PackedWeights& w, const at::Tensor& x,
                                const Epilogue& epi, const OutputView& out) {
  TORCH_CHECK(depthwise_streams(s, x), "emulate_depthwise_streamed: needs fp32 input with contiguous rows");
  if (s.M() == 0 || s.OC == 0) return;
  const auto& kt = host_kernels();
  const auto passes = passes_for(w.numerics);
  const auto modes = staged_roundings(w.numerics);
  auto mode_index = [&](aie_kernels::Rounding r) {
    return static_cast<size_t>(std::find(modes.begin(), modes.end(), r) - modes.begin());
  };
  const int64_t row = s.Wp() * s.C, slots = ring_rows(s);
  std::vector<int64_t> taps(s.taps());  // from a window's first row, as nhwc_tap_offsets from a staged image
  for (int64_t kh = 0; kh < s.KH; ++kh)
    for (int64_t kw = 0; kw < s.KW; ++kw) taps[kh * s.KW + kw] = kh * s.dil_h * row + kw * s.dil_w * s.C;
  const float* base = x.const_data_ptr<float>();
  const int64_t chunks = (s.OW + kChunk - 1) / kChunk;

  // Output rows finish kTilePixels or more at a time (whole rows of one image; fewer
  // at an image's or a thread's end): short rows (MobileNetV2's 14x14 and 7x7 maps)
  // then reach the planar output in runs of several rows per channel, not a few pixels.
  // 112 = 7 x 16 pixels: on 112, 56, 28 and 14-wide rows a tile is whole 16 x 16 blocks,
  // which the epilogue transposes in registers; the rest goes column by column (with 32,
  // a 14-wide tile of 42 pixels left 10 to the columns: (384,14,14) 3x3, 1 thread,
  // Zen 4: 0.100 -> 0.071 ms).
  const int64_t group = std::clamp<int64_t>((kTilePixels + s.OW - 1) / std::max<int64_t>(1, s.OW), 1, s.OH);

  // One task per output row; a thread's consecutive rows share its ring.
  at::parallel_for(0, s.N * s.OH, 1, [&](int64_t begin, int64_t end) {
    float* ring = thread_buffer<float>(kRowTmp, modes.size() * 2 * slots * row);
    float* c = thread_buffer<float>(kTileC, group * s.OW * s.C);
    RowRing rr{s, nullptr, x.stride(1), x.stride(2), modes, slots, row, ring, {}};
    int64_t image = -1, tile_first = begin;  // tile_first: the first row whose output c holds
    for (int64_t r = begin; r < end; ++r) {
      const int64_t n = r / s.OH, top = (r % s.OH) * s.stride_h - s.pad_h;
      if (n != image) {  // a new image: nothing staged is valid
        image = n;
        rr.x = base + n * x.stride(0);
        std::fill(std::begin(rr.tags), std::end(rr.tags), INT64_MIN);
      }
      const float* win[4] = {};  // by staged-rounding index (at most 3)
      for (size_t m = 0; m < modes.size(); ++m) win[m] = rr.window(top, m);
      float* c_row = c + (r - tile_first) * s.OW * s.C;
      for (int64_t ch = 0; ch < chunks; ++ch) {
        const int64_t ow0 = ch * kChunk;
        const int npix = static_cast<int>(std::min<int64_t>(kChunk, s.OW - ow0));
        for (size_t p = 0; p < passes.size(); ++p) {
          const float* src = win[mode_index(passes[p].a)];
          const float* pix[kChunk];
          for (int j = 0; j < npix; ++j) pix[j] = src + (ow0 + j) * s.stride_w * s.C;
          kt.depthwise(pix, npix, taps.data(), static_cast<int>(taps.size()), s.C, w.for_group(passes[p].b, 0),
                       c_row + ow0 * s.C, s.C, p > 0);
        }
      }
      const bool tile_full = r + 1 - tile_first == group || r + 1 == end || (r + 1) % s.OH == 0;
      if (!tile_full) continue;
      write_pixel_rows(c, s.C, s, tile_first * s.OW, (r + 1 - tile_first) * s.OW, 0, s.OC, epi, out);
      tile_first = r + 1;
    }
  });
}

}  // namespace torch_aie::runtime
