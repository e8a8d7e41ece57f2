// GEMM-family convs (im2col, 1x1, direct) as pixel-row tiles: C[pixel][channel]
// over NHWC staging, weights in kNR-wide channel panels. Host blocking (kMC, kNC,
// kKC) is chosen for host caches and never changes a result.
#include <algorithm>

#include "csrc/runtime/emulator/conv_geometry.h"
#include "csrc/runtime/emulator/host_buffers.h"
#include "csrc/runtime/emulator/host_tasks.h"
#include "csrc/runtime/emulator/passes.h"
#include "csrc/runtime/emulator/tile_output.h"

namespace torch_aie::runtime {

using aie_kernels::kMR;
using aie_kernels::kNR;

namespace {

constexpr int64_t kMC = 16 * kMR;  // output pixels per task
constexpr int64_t kNC = 4 * kNR;   // output channels per task
constexpr size_t kMaxPasses = 3;

// One task: output pixels [m0, m0 + rows) x group-g channels [n0, n0 + cols).
struct GemmTask {
  int64_t g, m0, rows, n0, cols;
};

void run_task(const GemmTask& t, const ConvShape& s, const PackedWeights& w, const StagedInput& in,
              const std::vector<Pass>& passes, const std::vector<int64_t>& taps, const Epilogue& epi,
              const OutputView& out) {
  const auto& kt = host_kernels();
  const int64_t cg = s.Cg(), K = w.k, ntile = aie_kernels::ceil_div(t.rows, kMR);
  const int64_t npanel = aie_kernels::ceil_div(t.cols, kNR);
  float* c = thread_buffer<float>(kTileC, kMC * kNC);
  if (K == 0) std::fill(c, c + kMC * kNC, 0.f);
  // Row i of the tile reads its taps from rows[pass][i] (rows past the tile repeat the last).
  const float* rows[kMaxPasses][kMC];
  for (size_t p = 0; p < passes.size(); ++p) {
    const float* abase = in.variant<float>(passes[p].a) + t.g * cg;
    for (int64_t i = 0; i < ntile * kMR; ++i) rows[p][i] = abase + nhwc_pixel_offset(s, in, t.m0 + std::min(i, t.rows - 1));
  }
  auto b_of = [&](size_t p) { return w.for_group(passes[p].b, t.g) + (t.n0 / kNR) * K * kNR; };

  if (w.algorithm != ConvAlgorithm::Im2colGemm) {
    // Direct addressing: the kernel walks (tap, channel) itself, no A panel.
    for (size_t p = 0; p < passes.size(); ++p)
      for (int64_t np = 0; np < npanel; ++np)
        for (int64_t mt = 0; mt < ntile; ++mt)
          kt.gemm_direct(rows[p] + mt * kMR, taps.data(), static_cast<int>(taps.size()), cg,
                         b_of(p) + np * K * kNR, c + mt * kMR * kNC + np * kNR, kNC, p > 0);
  } else {
    float* apanel = thread_buffer<float>(kPanelA, kMC * kKC);
    for_each_k_block(passes.size(), K, [&](size_t p, int64_t k0, int64_t kc, bool accumulate) {
      for (int64_t mt = 0; mt < ntile; ++mt)
        aie_kernels::pack_a_panel(rows[p] + mt * kMR, static_cast<int>(std::min<int64_t>(kMR, t.rows - mt * kMR)),
                                  taps.data(), cg, k0, kc, apanel + mt * kMR * kc);
      for (int64_t np = 0; np < npanel; ++np)
        for (int64_t mt = 0; mt < ntile; ++mt)
          kt.gemm_packed(kc, apanel + mt * kMR * kc, b_of(p) + (np * K + k0) * kNR, c + mt * kMR * kNC + np * kNR,
                         kNC, accumulate);
    });
  }
  write_pixel_rows(c, kNC, s, t.m0, t.rows, t.g * s.OCg() + t.n0, t.cols, epi, out);
}

}  // namespace

void emulate_gemm_pixel_rows(const ConvShape& s, const PackedWeights& w, const StagedInput& in,
                             const Epilogue& epi, const OutputView& out) {
  const auto passes = passes_for(w.numerics);
  TORCH_CHECK(passes.size() <= kMaxPasses, "emulate_gemm_pixel_rows: ", passes.size(), " passes");
  const auto taps = nhwc_tap_offsets(s, in);
  const int64_t M = s.M(), ocg = s.OCg();
  const int64_t mb = aie_kernels::ceil_div(M, kMC), nb = aie_kernels::ceil_div(ocg, kNC);
  run_tasks(s.groups * mb * nb, [&](int64_t i) {
    // Channel blocks innermost: neighbouring tasks share the same input rows.
    GemmTask t;
    t.g = i / (mb * nb);
    const int64_t r = i % (mb * nb);
    t.m0 = (r / nb) * kMC;
    t.n0 = (r % nb) * kNC;
    t.rows = std::min(kMC, M - t.m0);
    t.cols = std::min(kNC, ocg - t.n0);
    run_task(t, s, w, in, passes, taps, epi, out);
  });
}

}  // namespace torch_aie::runtime
