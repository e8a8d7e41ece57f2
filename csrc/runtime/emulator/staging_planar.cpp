// Planar staging (channel-row tiles): per (image, channel) plane, padded rows
// rounded and split into stride phases, so the pixels one tap reads for
// consecutive outputs are consecutive in memory.
#include <ATen/Parallel.h>

#include "csrc/runtime/emulator/staging_common.h"

namespace torch_aie::runtime {

namespace {

// Stages input row h of one (n, c) plane (`plane_src`) at offset `off` of each target.
void stage_row(const StagingSource& x, const char* plane_src, int64_t h, int64_t off, const ConvShape& s,
               const StagedInput& st, const StagingTargets& dst) {
  const auto& kt = host_kernels();
  const int64_t row = st.phases * st.Wq;
  if (h < 0 || h >= s.H) {
    zero_run(dst, off, row);
    return;
  }
  const float* vals = gather_row(x, plane_src + h * x.sH * x.esize, s.W, 1, x.sW, 1, thread_buffer<float>(kRowTmp, s.W));
  for (aie_kernels::Rounding m : dst.modes) {
    float* d = dst[m] + off;
    // Padded row first; with stride phases it is then dealt out phase by phase.
    float* padded = st.phases == 1 ? d : thread_buffer<float>(kRowTmp2, row);
    pad_round(kt, vals, padded, s.pad_w, s.W, row - s.pad_w - s.W, m);
    if (st.phases == 1) continue;
    for (int64_t ph = 0; ph < st.phases; ++ph)
      for (int64_t q = 0; q < st.Wq; ++q) d[ph * st.Wq + q] = padded[q * st.phases + ph];
  }
}

}  // namespace

StagedInput stage_input_planar(const at::Tensor& x, const ConvShape& s, Numerics numerics) {
  StagedInput st;
  st.layout = HostLayout::ChannelRows;
  st.Hp = s.Hp();
  st.Wp = s.Wp();
  st.C = s.C;
  st.phases = s.stride_w;
  st.Wq = aie_kernels::ceil_div(st.Wp, st.phases);
  const int64_t row = st.phases * st.Wq, total = s.N * s.C * st.Hp * row;
  const StagingTargets dst = claim_staging(numerics, total, st);
  if (total == 0) return st;

  const auto& kt = host_kernels();
  const StagingSource src(x);
  // Without width padding or stride phases, a plane's interior rows are one
  // contiguous run on both sides (when the input's rows are): round it in one go.
  const bool whole_plane = !src.bf16 && st.phases == 1 && s.pad_w == 0 && src.sW == 1 && src.sH == s.W;
  const int64_t plane = st.plane();
  at::parallel_for(0, s.N * s.C, 4, [&](int64_t begin, int64_t end) {
    for (int64_t nc = begin; nc < end; ++nc) {
      const char* plane_src = src.at(nc / s.C, nc % s.C, 0);
      if (whole_plane) {
        for (aie_kernels::Rounding m : dst.modes)
          pad_round(kt, reinterpret_cast<const float*>(plane_src), dst[m] + nc * plane, s.pad_h * row, s.H * s.W,
                    s.pad_h * row, m);
        continue;
      }
      for (int64_t hp = 0; hp < st.Hp; ++hp) stage_row(src, plane_src, hp - s.pad_h, nc * plane + hp * row, s, st, dst);
    }
  });
  return st;
}

}  // namespace torch_aie::runtime
