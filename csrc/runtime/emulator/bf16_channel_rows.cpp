// Native-bf16 GEMM-family convs on planar (NCHW) tensors as channel rows (bf16_family.h):
// C tiles are [output channel][pixel], so rows go straight to the planar output and
// nothing is transposed. The weights are the GEMM's A (bf16 rows, packed once), the
// activations its B: each task packs VNNI-2 panels of 16 pixels from the planar
// staging (kernel_table.h pack_b_runs_vnni). The bf16 kernels are symmetric in A and
// B and the reduction order and padding are those of the pixel-row form, so a conv
// gives the same bits in either memory format (tests/test_host_layout.py).
#include <ATen/Parallel.h>
#include <c10/util/Exception.h>

#include <algorithm>
#include <vector>

#include "csrc/runtime/emulator/bf16_family.h"
#include "csrc/runtime/emulator/conv_geometry.h"
#include "csrc/runtime/emulator/host_buffers.h"
#include "csrc/runtime/emulator/host_tasks.h"
#include "csrc/runtime/emulator/passes.h"

namespace torch_aie::runtime {

using aie_kernels::ceil_div;
using aie_kernels::kB16NR;
using aie_kernels::kB16RowBlock;
using aie_kernels::PixelRun;

namespace {

constexpr int64_t kMaxPanels = 8;      // pixel panels per task (128 pixels)
constexpr int64_t kMaxOcBlock = 256;   // output channels per task at most
constexpr int64_t kPanelBytes = 1 << 18;  // the task's B block at most (in L2)
constexpr int64_t kSubRows = 64;          // output channels per kernel call: C (64 x 128 fp32) in L1

struct Geometry {
  std::vector<int64_t> k_off;  // reduction index -> offset within the group's staged channels
  int64_t ohw = 0, panels = 0, pblocks = 0, panels_per_block = 0, oc_block = 0, oblocks = 0;
};

Geometry geometry(const ConvShape& s, const Bf16PackedWeights& w, const Bf16StagedInput& in) {
  Geometry g;
  g.ohw = s.OH * s.OW;
  g.k_off.resize(w.k);
  const auto taps = planar_tap_offsets(s, in);
  for (int64_t t = 0; t < s.taps(); ++t)
    for (int64_t ch = 0; ch < s.Cg(); ++ch) g.k_off[t * s.Cg() + ch] = ch * in.plane() + taps[t];
  g.panels = ceil_div(s.M(), kB16NR);
  const int64_t fit = std::max<int64_t>(2, kPanelBytes / (w.kp * kB16NR * 2));
  const int64_t per = std::min(kMaxPanels, fit);
  g.pblocks = ceil_div(g.panels, per);
  g.panels_per_block = ceil_div(g.panels, g.pblocks);  // even blocks
  g.pblocks = ceil_div(g.panels, g.panels_per_block);
  // Channel blocks (whole 16-row tiles) only as far as needed for a few tasks per
  // thread: each task re-packs its pixel panels.
  const int64_t ocg = s.OCg(), tiles = ceil_div(ocg, kB16RowBlock);
  const int64_t want = 4 * at::get_num_threads();
  int64_t splits = std::clamp<int64_t>(ceil_div(want, g.pblocks * s.groups), 1, tiles);
  splits = std::max(splits, ceil_div(ocg, kMaxOcBlock));
  g.oc_block = ceil_div(tiles, splits) * kB16RowBlock;
  g.oblocks = ceil_div(ocg, g.oc_block);
  return g;
}

// Splits panel jp of the pixels [m0, m0 + npix) into runs of consecutive addresses.
int panel_runs(const ConvShape& s, const Bf16StagedInput& in, int64_t m0, int64_t npix, int64_t jp,
               PixelRun* runs) {
  int n = 0;
  const int64_t j_end = std::min<int64_t>(kB16NR, npix - jp * kB16NR);
  for (int64_t j = 0; j < j_end; ++j) {
    const int64_t base = planar_pixel_offset(s, in, m0 + jp * kB16NR + j);
    if (n > 0 && runs[n - 1].base + runs[n - 1].len == base)
      ++runs[n - 1].len;
    else
      runs[n++] = PixelRun{static_cast<int32_t>(j), 1, base};
  }
  return n;
}

// Where gemm_out writes channel rows from output channel oc: its output plane in image n
// from pixel `first`, `npix` pixels (contiguous within one image), with the bias of
// each row's channel and the residual at the same offsets. The same arithmetic as the
// epilogue_rows it replaces: C, its store and its reload are saved (2026-12-07, Zen 4:
// epilogue_rows was a fifth of ResNet-50's planar fp32 forward beside c_block).
aie_kernels::Bf16Out planar_rows(const Epilogue& epi, const OutputView& out, int64_t oc,
                                 int64_t n, int64_t first, int64_t npix) {
  const int64_t esize = out.esize(), res_esize = epi.residual_bf16 ? 2 : 4;
  const int64_t off = n * out.sN + oc * out.sC + first;
  aie_kernels::Bf16Out o{{nullptr, static_cast<char*>(out.data) + off * esize, out.sC * esize},
                         {},
                         epi.residual_bf16,
                         epi.bias ? epi.bias + oc : nullptr,
                         epi.act,
                         out.bf16(),
                         npix};
  o.bias_per_row = true;
  if (epi.residual) o.res_rows = {nullptr, static_cast<const char*>(epi.residual) + off * res_esize, out.sC * res_esize};
  return o;
}

}  // namespace

void emulate_bf16_channel_rows(const ConvShape& shape, const Bf16PackedWeights& w, const Bf16StagedInput& in,
                              const Epilogue& epi, const OutputView& out) {
  const ConvShape s = in.subsampled ? unit_stride(shape) : shape;
  TORCH_CHECK(w.layout == HostLayout::ChannelRows && in.layout == HostLayout::ChannelRows,
              "emulate_bf16_channel_rows: operands not staged for bf16 channel rows");
  TORCH_CHECK(out.sW == 1 && out.sH == s.OW, "emulate_bf16_channel_rows: output pixels must be contiguous");
  const auto& kt = host_kernels();
  const auto passes = passes_for(w.numerics);
  const Geometry geo = geometry(s, w, in);
  const int64_t kp = w.kp, cg = s.Cg(), M = s.M(), zero = 0;

  run_tasks(s.groups * geo.pblocks * geo.oblocks, [&](int64_t i) {
    const int64_t grp = i / (geo.pblocks * geo.oblocks), r = i % (geo.pblocks * geo.oblocks);
    const int64_t m0 = (r / geo.oblocks) * geo.panels_per_block * kB16NR;
    const int64_t oc0 = (r % geo.oblocks) * geo.oc_block;
    const int64_t npix = std::min(geo.panels_per_block * kB16NR, M - m0);
    const int64_t noc = std::min(geo.oc_block, s.OCg() - oc0);
    if (npix <= 0 || noc <= 0) return;
    const int64_t npanel = ceil_div(npix, kB16NR), ldc = npanel * kB16NR;
    PixelRun runs[kMaxPanels][kB16NR];
    int nruns[kMaxPanels];
    for (int64_t jp = 0; jp < npanel; ++jp) nruns[jp] = panel_runs(s, in, m0, npix, jp, runs[jp]);

    // B per staged variant, packed once for all channel sub-blocks.
    const auto a_modes = staged_roundings(w.numerics);
    const int64_t bsize = npanel * kp * kB16NR;
    uint16_t* bblock = thread_buffer<uint16_t>(kPanelA, a_modes.size() * bsize);
    const uint16_t* b_of[4] = {};
    for (size_t v = 0; v < a_modes.size(); ++v) {
      const int ra = static_cast<int>(a_modes[v]);
      kt.pack_b_runs_vnni(in.f32(a_modes[v]) + grp * cg * in.plane(), geo.k_off.data(), w.k, kp, &runs[0][0], nruns,
                          static_cast<int>(npanel), in.raw ? a_modes[v] : aie_kernels::Rounding::None,
                          bblock + v * bsize);
      b_of[ra] = bblock + v * bsize;
    }

    // Channel sub-blocks small enough that C stays in L1 from the kernel to the epilogue.
    const int64_t esize = out.esize();
    const bool one_image = m0 / geo.ohw == (m0 + npix - 1) / geo.ohw;
    float* c = thread_buffer<float>(kTileC, kSubRows * ldc);
    for (int64_t r0 = 0; r0 < noc; r0 += kSubRows) {
      const int64_t nr = std::min(kSubRows, noc - r0);
      const int64_t oc = grp * s.OCg() + oc0 + r0;
      bool written = false;  // by the last pass's kernel itself
      for (size_t p = 0; p < passes.size() && !written; ++p) {
        const int ra = static_cast<int>(passes[p].a), rb = static_cast<int>(passes[p].b);
        const uint16_t* a = w.for_group(passes[p].b, grp) + (oc0 + r0) * kp;
        const auto& k = bf16_gemm_for(staged_min_exp(in, passes[p].a), w.min_exp[rb]);
        written = p + 1 == passes.size() && k.gemm_out && one_image;
        if (written)
          k.gemm_out(a, kp, &zero, 1, kp, nr, b_of[ra], kp * kB16NR, npanel, c, ldc, p > 0,
                     planar_rows(epi, out, oc, m0 / geo.ohw, m0 % geo.ohw, npix));
        else
          k.gemm(a, kp, &zero, 1, kp, nr, b_of[ra], kp * kB16NR, npanel, c, ldc, p > 0);
      }
      if (written) continue;
      // Rows go out per image: within one image the output pixels are contiguous.
      for (int64_t j = 0; j < npix;) {
        const int64_t m = m0 + j, n = m / geo.ohw, rr = m % geo.ohw;
        const int64_t run = std::min(npix - j, geo.ohw - rr);
        char* dst = static_cast<char*>(out.data) + (n * out.sN + oc * out.sC + rr) * esize;
        kt.epilogue_rows(c + j, ldc, nr, run, epi.bias ? epi.bias + oc : nullptr, epi.act, epi.residual_for(out, dst), dst, out.bf16(), out.sC);
        j += run;
      }
    }
  });
}

}  // namespace torch_aie::runtime
