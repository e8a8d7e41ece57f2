// Host emulator: input staging (the shim DMA's job), the tiled conv drivers and
// the epilogue. Host blocking (MC/NC/KC) is chosen for host caches; it never
// changes a result, because each output element's reduction runs in order, in
// one place, whatever the blocking and the thread count.
#include "csrc/runtime/emulator/emulator.h"

#include "csrc/runtime/emulator/host_buffers.h"
#include "csrc/runtime/emulator/host_tasks.h"
#include "csrc/runtime/emulator/passes.h"
#include "csrc/runtime/emulator/planar_emulator.h"

#include <ATen/Parallel.h>
#include <c10/util/BFloat16.h>

#include <algorithm>
#include <cstring>
#include <vector>

namespace torch_aie::runtime {

using aie_kernels::kMR;
using aie_kernels::kNR;
using aie_kernels::Rounding;

void* thread_bytes(int slot, size_t bytes) {
  thread_local TypedBuffer buffers[kNumSlots];
  auto& b = buffers[slot];
  if (b.bytes() < bytes) b.reset(c10::ScalarType::Byte, static_cast<int64_t>(bytes));
  return b.data<uint8_t>();
}

std::vector<Pass> passes_for(Numerics n) {
  switch (n) {
    case Numerics::Bf16Tensor: return {{Rounding::None, Rounding::None}};
    case Numerics::Bf16: return {{Rounding::Bf16, Rounding::Bf16}};
    case Numerics::Bf16x3:
      // Largest term first; inf/NaN enter only through hi*hi (see Rounding::Bf16Finite).
      return {{Rounding::Bf16, Rounding::Bf16},
              {Rounding::Bf16Finite, Rounding::Bf16Lo},
              {Rounding::Bf16Lo, Rounding::Bf16Finite}};
    case Numerics::Int8: break;  // the int8 family (int8_conv.cpp) runs no float passes
  }
  return {};
}

const char* host_layout_name(HostLayout l) {
  return l == HostLayout::ChannelRows ? "channel-row" : "pixel-row";
}

std::vector<Rounding> staged_roundings(Numerics numerics) {
  std::vector<Rounding> modes;
  for (const Pass& p : passes_for(numerics))
    if (std::find(modes.begin(), modes.end(), p.a) == modes.end()) modes.push_back(p.a);
  return modes;
}

std::array<void*, 4> claim_staging(const std::vector<Rounding>& roundings, int64_t total, StagedInput& st) {
  std::array<void*, 4> dst{};
  const size_t esize = c10::elementSize(st.dtype);
  for (size_t i = 0; i < roundings.size(); ++i) {
    const int m = static_cast<int>(roundings[i]);
    dst[m] = thread_bytes(kStaged0 + static_cast<int>(i), std::max<int64_t>(total, 1) * esize);
    st.variants[m] = dst[m];
  }
  return dst;
}

const aie_kernels::KernelTable& host_kernels() {
  static const aie_kernels::KernelTable& kt = aie_kernels::kernel_table(aie_kernels::detect_host_isa());
  return kt;
}

namespace {

constexpr int64_t kMC = 16 * kMR;  // output pixels per task
constexpr int64_t kNC = 4 * kNR;   // output channels per task
constexpr int64_t kKC = 256;       // reduction block of the packed path (B panel in L1)
constexpr int kDepthwisePixels = 8;
constexpr int64_t kDepthwiseRowMin = 32;  // output pixels per row for planar depthwise

// Gathers input row (n, h) as [w][c] fp32.
template <typename T>
void gather_row(const T* src, int64_t W, int64_t C, int64_t sW, int64_t sC, float* dst) {
  if (sC == 1) {
    for (int64_t w = 0; w < W; ++w)
      for (int64_t c = 0; c < C; ++c) dst[w * C + c] = static_cast<float>(src[w * sW + c]);
    return;
  }
  for (int64_t c = 0; c < C; ++c)
    for (int64_t w = 0; w < W; ++w) dst[w * C + c] = static_cast<float>(src[w * sW + c * sC]);
}

}  // namespace

StagedInput stage_input(const at::Tensor& x, const ConvShape& s, Numerics numerics, HostLayout layout) {
  return layout == HostLayout::ChannelRows ? stage_input_planar(x, s, numerics) : stage_input_nhwc(x, s, numerics);
}

StagedInput stage_input_nhwc(const at::Tensor& x, const ConvShape& s, Numerics numerics) {
  StagedInput st;
  st.Hp = s.Hp();
  st.Wp = s.Wp();
  st.C = s.C;
  const int64_t plane = st.Hp * st.Wp * s.C, total = s.N * plane;
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
  const bool direct_rows = !bf16 && sC == 1 && sW == s.C;  // fp32 channels-last row: no gather
  const int64_t row = s.Wp() * s.C;
  at::parallel_for(0, s.N * st.Hp, 1, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const int64_t n = r / st.Hp, hp = r % st.Hp, h = hp - s.pad_h;
      const int64_t off = n * plane + hp * row;
      if (h < 0 || h >= s.H) {
        for (Rounding m : modes) std::memset(dst[static_cast<int>(m)] + off, 0, row * sizeof(float));
        continue;
      }
      const char* src = base + (n * sN + h * sH) * esize;
      const float* vals;
      if (direct_rows) {
        vals = reinterpret_cast<const float*>(src);
      } else {
        float* tmp = thread_buffer<float>(kRowTmp, s.W * s.C);
        if (bf16)
          gather_row(reinterpret_cast<const c10::BFloat16*>(src), s.W, s.C, sW, sC, tmp);
        else
          gather_row(reinterpret_cast<const float*>(src), s.W, s.C, sW, sC, tmp);
        vals = tmp;
      }
      for (Rounding m : modes) {
        float* d = dst[static_cast<int>(m)] + off;
        std::memset(d, 0, s.pad_w * s.C * sizeof(float));
        kt.round_f32(vals, d + s.pad_w * s.C, s.W * s.C, m);
        std::memset(d + (s.pad_w + s.W) * s.C, 0, s.pad_w * s.C * sizeof(float));
      }
    }
  });
  return st;
}

namespace {

// Writes an fp32 tile of rows [m0, m0 + rows) x channels [oc0, oc0 + cols) with
// bias, ReLU and the output rounding, one run of pixels of the same output row at
// a time (within a run, output addresses are evenly strided).
void epilogue(const float* c, int64_t ldc, const ConvShape& s, int64_t m0, int64_t rows,
              int64_t oc0, int64_t cols, const Epilogue& epi, const OutputView& out) {
  const auto& kt = host_kernels();
  const int64_t ohw = s.OH * s.OW, esize = out.esize();
  for (int64_t i = 0; i < rows;) {
    const int64_t m = m0 + i, n = m / ohw, r = m % ohw, oh = r / s.OW, ow = r % s.OW;
    const int64_t run = std::min(rows - i, s.OW - ow);
    char* dst = static_cast<char*>(out.data) + (n * out.sN + oh * out.sH + ow * out.sW + oc0 * out.sC) * esize;
    kt.epilogue(c + i * ldc, ldc, run, cols, epi.bias ? epi.bias + oc0 : nullptr, epi.relu, dst,
                out.bf16(), out.sW, out.sC);
    i += run;
  }
}

// Image-pixel offset (in floats) of output row m's first tap, within the staged input.
inline int64_t row_offset(const ConvShape& s, const StagedInput& in, int64_t m) {
  const int64_t ohw = s.OH * s.OW, n = m / ohw, r = m % ohw, oh = r / s.OW, ow = r % s.OW;
  return ((n * in.Hp + oh * s.stride_h) * in.Wp + ow * s.stride_w) * in.C;
}

std::vector<int64_t> tap_offsets(const ConvShape& s, const StagedInput& in) {
  std::vector<int64_t> taps(s.taps());
  for (int64_t kh = 0; kh < s.KH; ++kh)
    for (int64_t kw = 0; kw < s.KW; ++kw)
      taps[kh * s.KW + kw] = (kh * s.dil_h * in.Wp + kw * s.dil_w) * in.C;
  return taps;
}

// One task: output pixels [m0, m0 + rows) x group-g channels [n0, n0 + cols).
struct GemmTask {
  int64_t g, m0, rows, n0, cols;
};

void run_gemm_task(const GemmTask& t, const ConvShape& s, const PackedWeights& w,
                   const StagedInput& in, const std::vector<Pass>& passes,
                   const std::vector<int64_t>& taps, const Epilogue& epi, const OutputView& out) {
  const auto& kt = host_kernels();
  const int64_t cg = s.Cg(), K = w.k, ntile = aie_kernels::ceil_div(t.rows, kMR);
  const int64_t npanel = aie_kernels::ceil_div(t.cols, kNR);
  float* c = thread_buffer<float>(kTileC, kMC * kNC);
  if (K == 0) std::fill(c, c + kMC * kNC, 0.f);
  int64_t roff[kMC];
  for (int64_t i = 0; i < ntile * kMR; ++i) roff[i] = row_offset(s, in, t.m0 + std::min(i, t.rows - 1));

  const bool packed = w.algorithm == ConvAlgorithm::Im2colGemm;
  float* apanel = packed ? thread_buffer<float>(kPanelA, kMC * kKC) : nullptr;
  for (size_t p = 0; p < passes.size(); ++p) {
    const float* abase = in.variant<float>(passes[p].a) + t.g * cg;
    const float* b = w.for_group(passes[p].b, t.g) + (t.n0 / kNR) * K * kNR;
    const float* rows[kMC];
    for (int64_t i = 0; i < ntile * kMR; ++i) rows[i] = abase + roff[i];
    if (!packed) {
      for (int64_t np = 0; np < npanel; ++np)
        for (int64_t mt = 0; mt < ntile; ++mt)
          kt.gemm_direct(rows + mt * kMR, taps.data(), static_cast<int>(taps.size()), cg,
                         b + np * K * kNR, c + mt * kMR * kNC + np * kNR, kNC, p > 0);
      continue;
    }
    for (int64_t k0 = 0; k0 < K; k0 += kKC) {
      const int64_t kc = std::min(kKC, K - k0);
      for (int64_t mt = 0; mt < ntile; ++mt)
        aie_kernels::pack_a_panel(rows + mt * kMR, static_cast<int>(std::min<int64_t>(kMR, t.rows - mt * kMR)),
                                  taps.data(), cg, k0, kc, apanel + mt * kMR * kc);
      for (int64_t np = 0; np < npanel; ++np)
        for (int64_t mt = 0; mt < ntile; ++mt)
          kt.gemm_packed(kc, apanel + mt * kMR * kc, b + (np * K + k0) * kNR,
                         c + mt * kMR * kNC + np * kNR, kNC, p > 0 || k0 > 0);
    }
  }
  epilogue(c, kNC, s, t.m0, t.rows, t.g * s.OCg() + t.n0, t.cols, epi, out);
}

void emulate_gemm(const ConvShape& s, const PackedWeights& w, const StagedInput& in,
                  const Epilogue& epi, const OutputView& out) {
  const auto passes = passes_for(w.numerics);
  const auto taps = tap_offsets(s, in);
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
    run_gemm_task(t, s, w, in, passes, taps, epi, out);
  });
}

void emulate_depthwise(const ConvShape& s, const PackedWeights& w, const StagedInput& in,
                       const Epilogue& epi, const OutputView& out) {
  const auto& kt = host_kernels();
  const auto passes = passes_for(w.numerics);
  const auto taps = tap_offsets(s, in);
  const int64_t chunks = aie_kernels::ceil_div(s.OW, kDepthwisePixels);
  at::parallel_for(0, s.N * s.OH * chunks, 1, [&](int64_t begin, int64_t end) {
    float* c = thread_buffer<float>(kTileC, kDepthwisePixels * s.C);
    for (int64_t i = begin; i < end; ++i) {
      const int64_t m0 = (i / chunks) * s.OW + (i % chunks) * kDepthwisePixels;
      const int npix = static_cast<int>(std::min<int64_t>(kDepthwisePixels, (i / chunks + 1) * s.OW - m0));
      for (size_t p = 0; p < passes.size(); ++p) {
        const float* pix[kDepthwisePixels];
        for (int j = 0; j < npix; ++j)
          pix[j] = in.variant<float>(passes[p].a) + row_offset(s, in, m0 + j);
        kt.depthwise(pix, npix, taps.data(), static_cast<int>(taps.size()), s.C,
                     w.for_group(passes[p].b, 0), c, s.C, p > 0);
      }
      epilogue(c, s.C, s, m0, npix, 0, s.OC, epi, out);
    }
  });
}

}  // namespace

void emulate_conv(const ConvShape& s, const PackedWeights& w, const StagedInput& in,
                  const Epilogue& epi, const OutputView& out) {
  if (s.M() == 0 || s.OC == 0) return;
  TORCH_CHECK(w.layout == in.layout || w.algorithm == ConvAlgorithm::Depthwise,
              "emulate_conv: weights and input staged for different host layouts");
  if (w.algorithm == ConvAlgorithm::Depthwise && in.layout == HostLayout::ChannelRows)
    emulate_depthwise_planar(s, w, in, epi, out);
  else if (w.algorithm == ConvAlgorithm::Depthwise)
    emulate_depthwise(s, w, in, epi, out);
  else if (in.layout == HostLayout::ChannelRows)
    emulate_gemm_planar(s, w, in, epi, out);
  else
    emulate_gemm(s, w, in, epi, out);
}

HostLayout choose_host_layout(const ConvShape& s, ConvAlgorithm a, bool channels_last) {
  if (channels_last) return HostLayout::PixelRows;
  // Planar outputs favour channel rows (no transposes), with two exceptions measured
  // on ResNet-50 and MobileNetV2 (benchmarks/RESULTS.md):
  // - depthwise rows shorter than a few vectors lose to vectors across channels;
  if (a == ConvAlgorithm::Depthwise)
    return s.OW >= kDepthwiseRowMin ? HostLayout::ChannelRows : HostLayout::PixelRows;
  // - pixel counts that fill kNR-wide pixel panels much worse than kMR-high ones
  //   (7x7 at batch 1: 49 of 64 columns against 49 of 54 rows).
  const int64_t m = s.M();
  const double fill_rows = double(m) / aie_kernels::round_up(m, aie_kernels::kNR);
  const double fill_cols = double(m) / aie_kernels::round_up(m, aie_kernels::kMR);
  return fill_rows >= 0.9 * fill_cols ? HostLayout::ChannelRows : HostLayout::PixelRows;
}

}  // namespace torch_aie::runtime
