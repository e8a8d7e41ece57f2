// GEMM-family convs as channel-row tiles, for planar (NCHW) outputs without
// transposes: each task packs kNR-pixel B panels from planar staging with a
// (reduction row, pixel run) pattern and multiplies the prepacked kMR-channel
// weight panels by them, so C tiles are [channel][pixel] and their rows go
// straight to the output. Every output's reduction is the same in-order FMA chain
// as in the pixel-row orientation.
#include <ATen/Parallel.h>

#include <algorithm>

#include "csrc/runtime/emulator/conv_geometry.h"
#include "csrc/runtime/emulator/host_buffers.h"
#include "csrc/runtime/emulator/host_tasks.h"
#include "csrc/runtime/emulator/passes.h"
#include "csrc/runtime/emulator/tile_output.h"

namespace torch_aie::runtime {

using aie_kernels::ceil_div;
using aie_kernels::kMR;
using aie_kernels::kNR;
using aie_kernels::PixelRun;

namespace {

constexpr int64_t kPixBlock = 8 * kNR;     // pixels per task: the B block's width
constexpr int64_t kMaxOcBlock = 64 * kMR;  // channels per task at most

// One task: group-g channels [oc0, oc0 + noc) x output pixels [m0, m0 + npix).
struct PlanarTask {
  int64_t g, m0, npix, oc0, noc;
};

struct PlanarGeometry {
  std::vector<int64_t> k_off;  // reduction index -> offset within the group's staged channels
  int64_t pix_block, oc_block;
};

// Splits kNR-pixel panel jp of the task into runs of consecutive addresses. A run is
// at least the rest of an output row (a pixel's staged offset is linear in its column),
// so the pixel split (two integer divisions) runs once per row, not once per pixel:
// with few channels (a 3-channel stem) per-pixel divisions cost as much as the MACs.
int pixel_runs(const ConvShape& s, const StagedInput& in, const PlanarTask& t, int64_t jp, PixelRun* runs) {
  int n = 0;
  const int64_t m0 = t.m0 + jp * kNR, j_end = std::min<int64_t>(kNR, t.npix - jp * kNR);
  for (int64_t j = 0; j < j_end;) {
    const Pixel px = split_pixel(s, m0 + j);
    const int64_t len = std::min(j_end - j, s.OW - px.ow), base = planar_pixel_offset(s, in, px);
    if (n > 0 && runs[n - 1].base + runs[n - 1].len == base) {
      runs[n - 1].len += static_cast<int32_t>(len);
    } else {
      runs[n++] = PixelRun{static_cast<int32_t>(j), static_cast<int32_t>(len), base};
    }
    j += len;
  }
  return n;
}

void run_task(const PlanarTask& t, const ConvShape& s, const PackedWeights& w, const StagedInput& in,
              const std::vector<Pass>& passes, const PlanarGeometry& geo, const Epilogue& epi,
              const OutputView& out) {
  const auto& kt = host_kernels();
  const int64_t K = w.k, cg = s.Cg(), npanel = ceil_div(t.npix, kNR), nip = ceil_div(t.noc, kMR);
  const int64_t ldc = npanel * kNR;
  float* c = thread_buffer<float>(kTileC, geo.oc_block * geo.pix_block);
  float* bblock = thread_buffer<float>(kPanelA, kKC * geo.pix_block);
  if (K == 0) std::fill(c, c + nip * kMR * ldc, 0.f);

  PixelRun runs[kPixBlock / kNR][kNR];
  int nruns[kPixBlock / kNR];
  for (int64_t jp = 0; jp < npanel; ++jp) nruns[jp] = pixel_runs(s, in, t, jp, runs[jp]);

  const int64_t oc_first = t.g * s.OCg() + t.oc0;
  // Full tiles of fp32 outputs finish in the micro-kernel (gemm_packed_rows_out) for
  // their first direct_ip channel panels; the rest (a partial last channel panel,
  // pixel panels that are partial or cross an image) go through C.
  const int64_t direct_ip = K > 0 && !out.bf16() ? t.noc / kMR : 0;
  bool direct[kPixBlock / kNR];
  for (int64_t jp = 0; jp < npanel; ++jp)
    direct[jp] = direct_ip > 0 && (jp + 1) * kNR <= t.npix &&
                 split_pixel(s, t.m0 + jp * kNR).n == split_pixel(s, t.m0 + jp * kNR + kNR - 1).n;

  for_each_k_block(passes.size(), K, [&](size_t p, int64_t k0, int64_t kc, bool accumulate) {
    const bool last_block = p + 1 == passes.size() && k0 + kc == K;
    const float* src = in.variant<float>(passes[p].a) + t.g * cg * in.plane();
    const float* a_base = w.for_group(passes[p].b, t.g) + (t.oc0 / kMR) * K * kMR;
    for (int64_t jp = 0; jp < npanel; ++jp)
      aie_kernels::pack_b_runs(src, geo.k_off.data() + k0, kc, runs[jp], nruns[jp], bblock + jp * kc * kNR);
    // BLIS order: one B panel stays in L1 while the task's A panels stream from L2.
    for (int64_t jp = 0; jp < npanel; ++jp) {
      for (int64_t ip = 0; ip < nip; ++ip) {
        const float* a = a_base + (ip * K + k0) * kMR;
        const float* b = bblock + jp * kc * kNR;
        float* ct = c + ip * kMR * ldc + jp * kNR;
        if (!last_block || !direct[jp] || ip >= direct_ip) {
          kt.gemm_packed(kc, a, b, ct, ldc, accumulate);
          continue;
        }
        const int64_t oc = oc_first + ip * kMR;
        char* dst = channel_row_dst(s, t.m0 + jp * kNR, oc, out);
        kt.gemm_packed_rows_out(kc, a, b, ct, ldc, accumulate, epi.bias ? epi.bias + oc : nullptr, epi.act,
                                epi.residual_for(out, dst), reinterpret_cast<float*>(dst), out.sC);
      }
    }
  });
  // The output stage of what did not finish in the micro-kernel, by runs of pixel panels.
  for (int64_t jp = 0; jp < npanel;) {
    int64_t je = jp + 1;
    while (je < npanel && direct[je] == direct[jp]) ++je;
    const int64_t j0 = jp * kNR, nj = std::min(t.npix, je * kNR) - j0, r0 = direct[jp] ? direct_ip * kMR : 0;
    if (r0 < t.noc) write_channel_rows(c + r0 * ldc + j0, ldc, s, t.m0 + j0, nj, oc_first + r0, t.noc - r0, epi, out);
    jp = je;
  }
}

}  // namespace

void emulate_gemm_channel_rows(const ConvShape& s, const PackedWeights& w, const StagedInput& in,
                               const Epilogue& epi, const OutputView& out) {
  TORCH_CHECK(w.layout == HostLayout::ChannelRows && in.layout == HostLayout::ChannelRows,
              "emulate_gemm_channel_rows: operands not staged for channel rows");
  TORCH_CHECK(out.sW == 1 && out.sH == s.OW, "emulate_gemm_channel_rows: output pixels must be contiguous");
  const auto passes = passes_for(w.numerics);
  const int64_t cg = s.Cg(), ocg = s.OCg(), M = s.M();

  PlanarGeometry geo;
  geo.k_off.resize(w.k);
  const auto taps = planar_tap_offsets(s, in);
  for (int64_t t = 0; t < s.taps(); ++t)
    for (int64_t ch = 0; ch < cg; ++ch) geo.k_off[t * cg + ch] = ch * in.plane() + taps[t];
  // Pixel blocks of at most kPixBlock pixels, sized evenly in whole panels; channel
  // blocks (whole kMR panels) only as far as needed for a few tasks per thread,
  // since each task re-packs its B block.
  const int64_t panels = ceil_div(M, kNR);
  const int64_t pb = ceil_div(panels, kPixBlock / kNR);
  geo.pix_block = kPixBlock;
  const int64_t want = 6 * at::get_num_threads();
  const int64_t splits = std::clamp<int64_t>(ceil_div(want, pb * s.groups), 1, ceil_div(ocg, kMR));
  geo.oc_block = std::min(kMaxOcBlock, aie_kernels::round_up(ceil_div(ocg, splits), kMR));
  const int64_t ob = ceil_div(ocg, geo.oc_block);

  run_tasks(s.groups * pb * ob, [&](int64_t i) {
    PlanarTask t;
    t.g = i / (pb * ob);
    const int64_t r = i % (pb * ob);
    const int64_t b = r / ob;  // block b holds panels [panels * b / pb, panels * (b + 1) / pb)
    t.m0 = panels * b / pb * kNR;
    t.oc0 = (r % ob) * geo.oc_block;
    t.npix = std::min(M, panels * (b + 1) / pb * kNR) - t.m0;
    t.noc = std::min(geo.oc_block, ocg - t.oc0);
    if (t.npix > 0) run_task(t, s, w, in, passes, geo, epi, out);
  });
}

}  // namespace torch_aie::runtime
