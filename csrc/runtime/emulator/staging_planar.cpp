// Planar staging (channel-row tiles): per (image, channel) plane, padded rows
// rounded and split into stride phases, so the pixels one tap reads for
// consecutive outputs are consecutive in memory.
#include <ATen/Parallel.h>

#include <algorithm>

#include "csrc/runtime/emulator/staging_common.h"

namespace torch_aie::runtime {

namespace {

// Staged elements per parallel chunk at least: enough to amortise a task hand-out.
constexpr int64_t kStagingGrainElems = 8192;

// d[ph * wq + q] = padded[q * phases + ph]. Stride 2, the common case, as two
// unit-stride streams the compiler vectorises.
void deal_phases(const float* __restrict padded, float* __restrict d, int64_t phases, int64_t wq) {
  if (phases == 2) {
    float* __restrict d1 = d + wq;
#pragma omp simd
    for (int64_t q = 0; q < wq; ++q) {
      d[q] = padded[2 * q];
      d1[q] = padded[2 * q + 1];
    }
    return;
  }
  for (int64_t ph = 0; ph < phases; ++ph)
    for (int64_t q = 0; q < wq; ++q) d[ph * wq + q] = padded[q * phases + ph];
}

// Stages input row h of one (n, c) plane (`plane_src`) at offset `off` of each target.
void stage_row(const StagingSource& x, const char* plane_src, int64_t h, int64_t off, const ConvShape& s,
               const StagedInput& st, const StagingTargets& dst) {
  const auto& kt = host_kernels();
  const int64_t row = st.phases * st.Wq;
  if (h < 0 || h >= s.H) {
    zero_run(dst, off, row);
    return;
  }
  const RowValues vals = gather_row(x, plane_src + h * x.sH * x.esize, s.W, 1, x.sW, 1, thread_buffer<float>(kRowTmp, s.W));
  for (aie_kernels::Rounding m : dst.modes) {
    float* d = dst[m] + off;
    // Padded row first; with stride phases it is then dealt out phase by phase.
    float* padded = st.phases == 1 ? d : thread_buffer<float>(kRowTmp2, row);
    pad_round(kt, vals, padded, s.pad_w, s.W, row - s.pad_w - s.W, m);
    if (st.phases == 1) continue;
    deal_phases(padded, d, st.phases, st.Wq);
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
  // contiguous run on both sides (when the input's rows are): round runs of rows in one go.
  const bool whole_rows = !src.bf16 && st.phases == 1 && s.pad_w == 0 && src.sW == 1 && src.sH == s.W;
  const int64_t plane = st.plane();
  // Work is split by rows, not planes: a stem's three planes would leave threads idle.
  const int64_t grain = std::max<int64_t>(1, kStagingGrainElems / row);
  at::parallel_for(0, s.N * s.C * st.Hp, grain, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end;) {
      const int64_t nc = r / st.Hp, hp0 = r % st.Hp, hp1 = std::min(st.Hp, hp0 + (end - r));
      const char* plane_src = src.at(nc / s.C, nc % s.C, 0);
      if (whole_rows) {  // rows [hp0, hp1): zeros, then interior rows [lo, hi), then zeros
        const int64_t lo = std::clamp(s.pad_h, hp0, hp1), hi = std::clamp(s.pad_h + s.H, lo, hp1);
        for (aie_kernels::Rounding m : dst.modes)
          pad_round(kt, RowValues{reinterpret_cast<const float*>(plane_src) + (lo - s.pad_h) * s.W, nullptr},
                    dst[m] + nc * plane + hp0 * row, (lo - hp0) * row, (hi - lo) * row, (hp1 - hi) * row, m);
      } else {
        for (int64_t hp = hp0; hp < hp1; ++hp)
          stage_row(src, plane_src, hp - s.pad_h, nc * plane + hp * row, s, st, dst);
      }
      r += hp1 - hp0;
    }
  });
  return st;
}

}  // namespace torch_aie::runtime
