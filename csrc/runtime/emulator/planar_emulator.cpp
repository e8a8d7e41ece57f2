// Planar (NCHW) convs without transposes. The input is staged per channel row
// (padded, rounded, split into stride phases); each task packs kNR-pixel B panels
// from it with a (reduction row, pixel run) pattern and multiplies them by the
// prepacked kMR-channel weight panels, so C tiles are [channel][pixel] and their
// rows go straight to the planar output. The reduction of every output element is
// the same in-order FMA chain as in the channels-last orientation.
#include "csrc/runtime/emulator/planar_emulator.h"

#include <ATen/Parallel.h>
#include <c10/util/BFloat16.h>
#include <c10/util/Exception.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "csrc/runtime/emulator/emulator.h"
#include "csrc/runtime/emulator/host_buffers.h"
#include "csrc/runtime/emulator/host_tasks.h"
#include "csrc/runtime/emulator/passes.h"

namespace torch_aie::runtime {

using aie_kernels::ceil_div;
using aie_kernels::kMR;
using aie_kernels::kNR;
using aie_kernels::PixelRun;
using aie_kernels::Rounding;

namespace {

constexpr int64_t kPixBlock = 8 * kNR;    // pixels per task: the B block's width
constexpr int64_t kMaxOcBlock = 64 * kMR; // channels per task at most
constexpr int64_t kKC = 256;              // reduction block (B block in L2)

template <typename T>
void gather(const T* src, int64_t n, int64_t stride, float* dst) {
  for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<float>(src[i * stride]);
}

// Stages input row h of one (n, c) plane (src) into dst[mode] + off: zero padding,
// rounding, and the split into stride phases.
void stage_row(const char* src, int64_t h, int64_t off, const ConvShape& s, const StagedInput& st,
               const std::vector<Rounding>& modes, bool bf16, int64_t sH, int64_t sW,
               int64_t esize, const std::array<float*, 4>& dst) {
  const auto& kt = host_kernels();
  const int64_t row = st.phases * st.Wq;
  if (h < 0 || h >= s.H) {
    for (Rounding m : modes) std::memset(dst[static_cast<int>(m)] + off, 0, row * sizeof(float));
    return;
  }
  src += h * sH * esize;
  const float* vals = reinterpret_cast<const float*>(src);
  if (bf16 || sW != 1) {
    float* tmp = thread_buffer<float>(kRowTmp, s.W);
    if (bf16)
      gather(reinterpret_cast<const c10::BFloat16*>(src), s.W, sW, tmp);
    else
      gather(reinterpret_cast<const float*>(src), s.W, sW, tmp);
    vals = tmp;
  }
  for (Rounding m : modes) {
    float* d = dst[static_cast<int>(m)] + off;
    // Padded row first; with stride phases it is then dealt out phase by phase.
    float* padded = st.phases == 1 ? d : thread_buffer<float>(kRowTmp2, row);
    std::memset(padded, 0, s.pad_w * sizeof(float));
    kt.round_f32(vals, padded + s.pad_w, s.W, m);
    std::memset(padded + s.pad_w + s.W, 0, (row - s.pad_w - s.W) * sizeof(float));
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
  st.Wq = ceil_div(st.Wp, st.phases);
  const int64_t row = st.phases * st.Wq, rows = s.N * s.C * st.Hp, total = rows * row;
  const auto modes = staged_roundings(numerics);
  const auto claimed = claim_staging(modes, total, st);
  std::array<float*, 4> dst;
  for (int i = 0; i < 4; ++i) dst[i] = static_cast<float*>(claimed[i]);
  if (total == 0) return st;

  const auto& kt = host_kernels();
  const bool bf16 = x.scalar_type() == at::kBFloat16;
  const int64_t sN = x.stride(0), sC = x.stride(1), sH = x.stride(2), sW = x.stride(3);
  const char* base = static_cast<const char*>(x.const_data_ptr());
  const int64_t esize = x.element_size();
  // Without width padding or stride phases, a plane's interior rows are one
  // contiguous run on both sides (when the input's rows are): round it in one go.
  const bool whole_plane = !bf16 && st.phases == 1 && s.pad_w == 0 && sW == 1 && sH == s.W;
  const int64_t plane = st.plane();
  at::parallel_for(0, s.N * s.C, 4, [&](int64_t begin, int64_t end) {
    for (int64_t nc = begin; nc < end; ++nc) {
      const int64_t n = nc / s.C, c = nc % s.C;
      const char* src = base + (n * sN + c * sC) * esize;
      if (whole_plane) {
        for (Rounding m : modes) {
          float* d = dst[static_cast<int>(m)] + nc * plane;
          std::memset(d, 0, s.pad_h * row * sizeof(float));
          kt.round_f32(reinterpret_cast<const float*>(src), d + s.pad_h * row, s.H * s.W, m);
          std::memset(d + (s.pad_h + s.H) * row, 0, s.pad_h * row * sizeof(float));
        }
        continue;
      }
      for (int64_t hp = 0; hp < st.Hp; ++hp)
        stage_row(src, hp - s.pad_h, nc * plane + hp * row, s, st, modes, bf16, sH, sW, esize, dst);
    }
  });
  return st;
}

namespace {

// One task: group-g channels [oc0, oc0 + noc) x output pixels [m0, m0 + npix).
struct PlanarTask {
  int64_t g, m0, npix, oc0, noc;
};

struct PlanarGeometry {
  std::vector<int64_t> k_off;  // reduction index -> offset within the group's staged channels
  int64_t ohw, pix_block, oc_block;
};

// Offset of each tap (kh, kw) from its output pixel's base within one staged channel:
// kh rows down, and in the phase and column where kw's dilated offset lands.
std::vector<int64_t> planar_tap_offsets(const ConvShape& s, const StagedInput& in) {
  std::vector<int64_t> taps(s.taps());
  for (int64_t t = 0; t < s.taps(); ++t) {
    const int64_t kh = t / s.KW, dw = (t % s.KW) * s.dil_w;
    taps[t] = (kh * s.dil_h * in.phases + dw % in.phases) * in.Wq + dw / in.phases;
  }
  return taps;
}

// Offset of output pixel m's first tap within the staged input (channel 0).
inline int64_t pixel_base(const ConvShape& s, const StagedInput& in, int64_t m, int64_t ohw) {
  const int64_t n = m / ohw, r = m % ohw, oh = r / s.OW, ow = r % s.OW;
  return n * s.C * in.plane() + oh * s.stride_h * in.phases * in.Wq + ow;
}

// Splits each kNR-pixel panel of the task into runs of consecutive addresses.
int pixel_runs(const ConvShape& s, const StagedInput& in, const PlanarTask& t, int64_t jp,
               int64_t ohw, PixelRun* runs) {
  int n = 0;
  const int64_t j_end = std::min<int64_t>(kNR, t.npix - jp * kNR);
  for (int64_t j = 0; j < j_end; ++j) {
    const int64_t base = pixel_base(s, in, t.m0 + jp * kNR + j, ohw);
    if (n > 0 && runs[n - 1].base + runs[n - 1].len == base) {
      ++runs[n - 1].len;
    } else {
      runs[n++] = PixelRun{static_cast<int32_t>(j), 1, base};
    }
  }
  return n;
}

void run_planar_task(const PlanarTask& t, const ConvShape& s, const PackedWeights& w,
                     const StagedInput& in, const std::vector<Pass>& passes,
                     const PlanarGeometry& geo, const Epilogue& epi, const OutputView& out) {
  const auto& kt = host_kernels();
  const int64_t K = w.k, cg = s.Cg(), npanel = ceil_div(t.npix, kNR), nip = ceil_div(t.noc, kMR);
  const int64_t ldc = npanel * kNR;
  float* c = thread_buffer<float>(kTileC, geo.oc_block * geo.pix_block);
  float* bblock = thread_buffer<float>(kPanelA, kKC * geo.pix_block);
  if (K == 0) std::fill(c, c + nip * kMR * ldc, 0.f);

  PixelRun runs[kPixBlock / kNR][kNR];
  int nruns[kPixBlock / kNR];
  for (int64_t jp = 0; jp < npanel; ++jp) nruns[jp] = pixel_runs(s, in, t, jp, geo.ohw, runs[jp]);

  for (size_t p = 0; p < passes.size(); ++p) {
    const float* src = in.variant<float>(passes[p].a) + t.g * cg * in.plane();
    const float* a_base = w.for_group(passes[p].b, t.g) + (t.oc0 / kMR) * K * kMR;
    for (int64_t k0 = 0; k0 < K; k0 += kKC) {
      const int64_t kc = std::min(kKC, K - k0);
      for (int64_t jp = 0; jp < npanel; ++jp)
        aie_kernels::pack_b_runs(src, geo.k_off.data() + k0, kc, runs[jp], nruns[jp],
                                 bblock + jp * kc * kNR);
      const bool accumulate = p > 0 || k0 > 0;
      // BLIS order: one B panel stays in L1 while the task's A panels stream from L2.
      for (int64_t jp = 0; jp < npanel; ++jp)
        for (int64_t ip = 0; ip < nip; ++ip)
          kt.gemm_packed(kc, a_base + (ip * K + k0) * kMR, bblock + jp * kc * kNR,
                         c + ip * kMR * ldc + jp * kNR, ldc, accumulate);
    }
  }

  // Rows go out per image: within one image the output pixels are contiguous.
  const int64_t esize = out.esize(), oc = t.g * s.OCg() + t.oc0;
  for (int64_t j = 0; j < t.npix;) {
    const int64_t m = t.m0 + j, n = m / geo.ohw, r = m % geo.ohw;
    const int64_t run = std::min(t.npix - j, geo.ohw - r);
    char* dst = static_cast<char*>(out.data) + (n * out.sN + oc * out.sC + r) * esize;
    kt.epilogue_rows(c + j, ldc, t.noc, run, epi.bias ? epi.bias + oc : nullptr, epi.relu, dst,
                     out.bf16(), out.sC);
    j += run;
  }
}

}  // namespace

void emulate_gemm_planar(const ConvShape& s, const PackedWeights& w, const StagedInput& in,
                         const Epilogue& epi, const OutputView& out) {
  TORCH_CHECK(w.layout == HostLayout::ChannelRows && in.layout == HostLayout::ChannelRows,
              "emulate_gemm_planar: operands not staged for channel rows");
  TORCH_CHECK(out.sW == 1 && out.sH == s.OW, "emulate_gemm_planar: output pixels must be contiguous");
  const auto passes = passes_for(w.numerics);
  const int64_t cg = s.Cg(), ocg = s.OCg(), M = s.M();

  PlanarGeometry geo;
  geo.ohw = s.OH * s.OW;
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
    if (t.npix > 0) run_planar_task(t, s, w, in, passes, geo, epi, out);
  });
}

void emulate_depthwise_planar(const ConvShape& s, const PackedWeights& w, const StagedInput& in,
                              const Epilogue& epi, const OutputView& out) {
  TORCH_CHECK(in.layout == HostLayout::ChannelRows && out.sW == 1,
              "emulate_depthwise_planar: needs planar staging and contiguous output rows");
  const auto& kt = host_kernels();
  const auto passes = passes_for(w.numerics);
  const auto taps = planar_tap_offsets(s, in);
  const int64_t esize = out.esize(), row = in.phases * in.Wq;
  // One task per (image, channel) plane; weights are [tap][channel].
  run_tasks(s.N * s.C, [&](int64_t i) {
    const int64_t n = i / s.C, c = i % s.C;
    float* acc = thread_buffer<float>(kTileC, s.OW);
    for (int64_t oh = 0; oh < s.OH; ++oh) {
      for (size_t p = 0; p < passes.size(); ++p) {
        const float* src = in.variant<float>(passes[p].a) + i * in.plane() + oh * s.stride_h * row;
        kt.depthwise_row(src, taps.data(), static_cast<int>(taps.size()), w.for_group(passes[p].b, 0) + c,
                         s.C, acc, s.OW, p > 0);
      }
      char* dst = static_cast<char*>(out.data) + (n * out.sN + c * out.sC + oh * out.sH) * esize;
      kt.epilogue_rows(acc, s.OW, 1, s.OW, epi.bias ? epi.bias + c : nullptr, epi.relu, dst, out.bf16(), 0);
    }
  });
}

}  // namespace torch_aie::runtime
