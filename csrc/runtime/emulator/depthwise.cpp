// Depthwise convs (one input and one output channel per group), in both
// orientations: pixel rows vectorise across channels over NHWC staging; channel
// rows run one vector FMA chain per planar output row. Weights are [tap][channel].
#include <ATen/Parallel.h>

#include <algorithm>

#include "csrc/runtime/emulator/conv_geometry.h"
#include "csrc/runtime/emulator/host_buffers.h"
#include "csrc/runtime/emulator/host_tasks.h"
#include "csrc/runtime/emulator/passes.h"
#include "csrc/runtime/emulator/tile_output.h"

namespace torch_aie::runtime {

namespace {
constexpr int kDepthwisePixels = 8;  // output pixels per pixel-row kernel call
// Kernel calls per task: a channel-planar output is written as 16-pixel blocks by the
// epilogue's vector transposes, fewer pixels by per-element stores (2026-12-07, Zen 4,
// (1,144,56,56) fp32 planar: the stores were a fifth of the conv's time).
constexpr int kCallsPerTask = 2;

// One kernel call's chunk: output pixels [m0, m0 + npix) of one output row, every pass
// (its pixels are stride_w staged pixels apart), into c (ld = channels).
void depthwise_chunk(const ConvShape& s, const PackedWeights& w, const StagedInput& in, const std::vector<Pass>& passes,
                     const std::vector<int64_t>& taps, int64_t m0, int npix, float* c) {
  const int64_t first = nhwc_pixel_offset(s, in, m0), step = s.stride_w * in.C;
  for (size_t p = 0; p < passes.size(); ++p) {
    const float* pix[kDepthwisePixels];
    const float* base = in.variant<float>(passes[p].a) + first;
    for (int j = 0; j < npix; ++j) pix[j] = base + j * step;
    host_kernels().depthwise(pix, npix, taps.data(), static_cast<int>(taps.size()), s.C,
                             w.for_group(passes[p].b, 0), c, s.C, p > 0);
  }
}

}  // namespace

void emulate_depthwise_pixel_rows(const ConvShape& s, const PackedWeights& w, const StagedInput& in,
                                  const Epilogue& epi, const OutputView& out) {
  const auto passes = passes_for(w.numerics);
  const auto taps = nhwc_tap_offsets(s, in);
  const int64_t per_task = kDepthwisePixels * (out.sC == 1 ? 1 : kCallsPerTask);
  const int64_t tasks_per_row = aie_kernels::ceil_div(s.OW, per_task);
  at::parallel_for(0, s.N * s.OH * tasks_per_row, 1, [&](int64_t begin, int64_t end) {
    float* c = thread_buffer<float>(kTileC, per_task * s.C);
    for (int64_t i = begin; i < end; ++i) {
      const int64_t m_first = (i / tasks_per_row) * s.OW + (i % tasks_per_row) * per_task;
      const int64_t m_end = std::min((i / tasks_per_row + 1) * s.OW, m_first + per_task);  // within the row
      for (int64_t m0 = m_first; m0 < m_end; m0 += kDepthwisePixels)
        depthwise_chunk(s, w, in, passes, taps, m0, static_cast<int>(std::min<int64_t>(kDepthwisePixels, m_end - m0)),
                        c + (m0 - m_first) * s.C);
      write_pixel_rows(c, s.C, s, m_first, m_end - m_first, 0, s.OC, epi, out);
    }
  });
}

void emulate_depthwise_channel_rows(const ConvShape& s, const PackedWeights& w, const StagedInput& in,
                                    const Epilogue& epi, const OutputView& out) {
  TORCH_CHECK(in.layout == HostLayout::ChannelRows && out.sW == 1,
              "emulate_depthwise_channel_rows: needs planar staging and contiguous output rows");
  const auto& kt = host_kernels();
  const auto passes = passes_for(w.numerics);
  const auto taps = planar_tap_offsets(s, in);
  const int64_t esize = out.esize(), row = in.phases * in.Wq;
  // One task per (image, channel) plane.
  run_tasks(s.N * s.C, [&](int64_t i) {
    const int64_t n = i / s.C, c = i % s.C;
    float* acc = thread_buffer<float>(kTileC, s.OW);
    for (int64_t oh = 0; oh < s.OH; ++oh) {
      for (size_t p = 0; p < passes.size(); ++p) {
        const float* src = in.variant<float>(passes[p].a) + i * in.plane() + oh * s.stride_h * row;
        kt.depthwise_row(src, taps.data(), static_cast<int>(taps.size()), w.for_group(passes[p].b, 0) + c, s.C, acc,
                         s.OW, p > 0);
      }
      char* dst = static_cast<char*>(out.data) + (n * out.sN + c * out.sC + oh * out.sH) * esize;
      kt.epilogue_rows(acc, s.OW, 1, s.OW, epi.bias ? epi.bias + c : nullptr, epi.act, epi.residual_for(out, dst), dst, out.bf16(), 0);
    }
  });
}

}  // namespace torch_aie::runtime
