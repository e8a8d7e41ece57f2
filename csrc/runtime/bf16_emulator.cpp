// Native-bf16 GEMM-family convs (HostLayout::PixelRowsBf16): NHWC bf16 staging,
// VNNI-2 weight panels, the host's bf16 GEMM kernel, fp32 accumulation, the shared
// epilogue. Tasks split the output pixels and channels, never the reduction, and the
// kernels' results do not depend on where in a block an output lands, so neither the
// thread count nor the blocking changes a result.
//
// Two ways to feed A, giving identical bits (the reduction order and its zero padding
// are the same: aie_kernels/bf16_gemm.h):
// - direct: stride-1 convs whose group has a multiple of 32 channels read A tiles
//   straight from the staged image. An output row's pixels are evenly spaced there,
//   and so are consecutive rows if each is extended by the Wp - OW pixels of the
//   padding ("virtual" pixels, computed and dropped), so one stride covers a block;
// - packed: every other conv packs its block's A rows (im2col) first.
#include "csrc/runtime/bf16_emulator.h"

#include <ATen/Parallel.h>
#include <c10/util/BFloat16.h>

#include <algorithm>
#include <atomic>
#include <cstring>

#include "csrc/runtime/emulator.h"
#include "csrc/runtime/host_buffers.h"
#include "csrc/runtime/host_tasks.h"
#include "csrc/runtime/planar_emulator.h"

namespace torch_aie::runtime {

using aie_kernels::Bf16Gemm;
using aie_kernels::ceil_div;
using aie_kernels::kB16NR;
using aie_kernels::kB16RowBlock;
using aie_kernels::Rounding;

uint16_t* bf16_buffer(int slot, size_t n) {
  thread_local std::vector<uint16_t> buffers[kNumBf16Slots];
  auto& b = buffers[slot];
  if (b.size() < n) b.resize(n);
  return b.data();
}

const Bf16Gemm* native_bf16_gemm() {
  static const Bf16Gemm* g = [] {
    const auto isa = aie_kernels::detect_host_isa();
    return static_cast<int>(isa) >= static_cast<int>(aie_kernels::Isa::Avx512Bf16) ? aie_kernels::bf16_gemm(isa)
                                                                                    : nullptr;
  }();
  return g;
}

bool bf16_direct_applies(const ConvShape& s) {
  return s.Cg() % aie_kernels::kB16KChunk == 0 && s.stride_h == 1 && s.stride_w == 1;
}

const Bf16Gemm& bf16_gemm_for(int min_exp_a, int min_exp_b) {
  const Bf16Gemm* native = native_bf16_gemm();
  TORCH_CHECK(native, "bf16 GEMM: this host has no native bf16 dot products");
  return aie_kernels::bf16_products_normal(min_exp_a, min_exp_b) ? *native
                                                                  : *aie_kernels::bf16_gemm(aie_kernels::Isa::Avx512);
}

namespace {

constexpr int64_t kMB = 64;        // output pixels per task
constexpr int64_t kMaxPanels = 16; // channel panels per task at most
constexpr int64_t kSubPanels = 4;  // channel panels per kernel call: C (64 x 64 fp32) in L1



inline uint16_t bits_of(c10::BFloat16 v) { return v.x; }

// Gathers input row (n, h) of a bf16 tensor as [w][c] bits.
void gather_bf16_row(const c10::BFloat16* src, int64_t W, int64_t C, int64_t sW, int64_t sC, uint16_t* dst) {
  if (sC == 1) {
    for (int64_t w = 0; w < W; ++w)
      for (int64_t c = 0; c < C; ++c) dst[w * C + c] = bits_of(src[w * sW + c]);
    return;
  }
  for (int64_t c = 0; c < C; ++c)
    for (int64_t w = 0; w < W; ++w) dst[w * C + c] = bits_of(src[w * sW + c * sC]);
}

void gather_f32_row(const float* src, int64_t W, int64_t C, int64_t sW, int64_t sC, float* dst) {
  for (int64_t c = 0; c < C; ++c)
    for (int64_t w = 0; w < W; ++w) dst[w * C + c] = src[w * sW + c * sC];
}

void atomic_min(std::atomic<int>& a, int v) {
  int cur = a.load(std::memory_order_relaxed);
  while (v < cur && !a.compare_exchange_weak(cur, v, std::memory_order_relaxed)) {
  }
}

// Zeroed elements after the staged image: what direct blocks read past its end (at
// most kB16RowBlock - 1 rows past the last virtual pixel, plus the last tap's reach).
int64_t staging_slack(const ConvShape& s) { return (kB16RowBlock + (s.KW - 1) * s.dil_w + 1) * s.C; }

}  // namespace

void pack_weights_bf16(const std::vector<float>& ordered, const ConvShape& s, PackedWeights& pw,
                       const aie_kernels::KernelTable& kt) {
  pw.kp = aie_kernels::bf16_k_padded(pw.k);
  const bool rows = pw.layout == HostLayout::ChannelRowsBf16;
  const int64_t padded_oc = aie_kernels::round_up(pw.ocg, rows ? kB16RowBlock : kB16NR);
  pw.group_stride = padded_oc * pw.kp;
  std::vector<const uint16_t*> row_ptr(pw.ocg);
  const int64_t zero = 0;
  std::vector<uint16_t> rounded(ordered.size());
  for (const Pass& p : passes_for(pw.numerics)) {
    const int r = static_cast<int>(p.b);
    auto& dst = pw.bf16[r];
    if (!dst.empty() || ordered.empty()) continue;
    kt.round_bits(ordered.data(), rounded.data(), static_cast<int64_t>(ordered.size()), p.b);
    pw.min_exp[r] = kt.min_exponent(rounded.data(), static_cast<int64_t>(rounded.size()));
    dst.resize(pw.group_stride * s.groups);
    for (int64_t g = 0; g < s.groups; ++g) {
      const uint16_t* src = rounded.data() + g * pw.ocg * pw.k;
      uint16_t* out = dst.data() + g * pw.group_stride;
      if (!rows) {
        aie_kernels::pack_b_vnni(src, pw.ocg, pw.k, out);
        continue;
      }
      for (int64_t i = 0; i < pw.ocg; ++i) row_ptr[i] = src + i * pw.k;
      aie_kernels::pack_a_rows_bf16(row_ptr.data(), static_cast<int>(pw.ocg), static_cast<int>(padded_oc), &zero, 1,
                                    pw.k, pw.kp, out);
    }
  }
}

namespace {

// Smallest exponent field of the bf16 roundings of p[0..n) (planar fp32), in parallel.
int scan_min_exp(const float* p, int64_t n) {
  const auto& kt = host_kernels();
  constexpr int64_t chunk = int64_t(1) << 16;
  std::atomic<int> min_exp{255};
  at::parallel_for(0, ceil_div(n, chunk), 1, [&](int64_t begin, int64_t end) {
    int local = 255;
    for (int64_t i = begin; i < end; ++i)
      local = std::min(local, kt.min_exponent_rounded(p + i * chunk, std::min(chunk, n - i * chunk)));
    atomic_min(min_exp, local);
  });
  return min_exp;
}

bool one_by_one_strided(const ConvShape& s) { return s.KH == 1 && s.KW == 1 && s.pad_h == 0 && s.pad_w == 0; }

// Stages, per (image, channel), the pixels an unpadded 1x1 conv reads: an OH x OW plane.
StagedInput stage_subsampled(const at::Tensor& x, const ConvShape& s, Numerics numerics) {
  StagedInput st;
  st.subsampled = true;
  st.Hp = s.OH;
  st.Wp = st.Wq = s.OW;
  st.C = s.C;
  const int64_t plane = s.OH * s.OW;
  const auto modes = staged_roundings(numerics);
  const auto dst = claim_staging(modes, s.N * s.C * plane, st);
  const auto& kt = host_kernels();
  const bool bf16 = x.scalar_type() == at::kBFloat16;
  const int64_t sN = x.stride(0), sC = x.stride(1), sH = x.stride(2), sW = x.stride(3);
  const char* base = static_cast<const char*>(x.const_data_ptr());
  const int64_t esize = x.element_size();
  at::parallel_for(0, s.N * s.C, 4, [&](int64_t begin, int64_t end) {
    float* row = thread_buffer(kRowTmp, s.OW);
    for (int64_t nc = begin; nc < end; ++nc) {
      const int64_t n = nc / s.C, c = nc % s.C;
      for (int64_t oh = 0; oh < s.OH; ++oh) {
        const int64_t off = (n * sN + c * sC + oh * s.stride_h * sH) * esize;
        for (int64_t ow = 0; ow < s.OW; ++ow) {
          const int64_t e = ow * s.stride_w * sW;
          row[ow] = bf16 ? static_cast<float>(reinterpret_cast<const c10::BFloat16*>(base + off)[e])
                         : reinterpret_cast<const float*>(base + off)[e];
        }
        for (Rounding m : modes) kt.round_f32(row, dst[static_cast<int>(m)] + nc * plane + oh * s.OW, s.OW, m);
      }
    }
  });
  return st;
}

// The planar form: for 1x1 stride-1 unpadded convs on dense NCHW fp32 inputs the
// input itself (the B packer rounds); otherwise stage_input_planar's fp32 buffers.
StagedInput stage_planar_bf16(const at::Tensor& x, const ConvShape& s, Numerics numerics) {
  const bool dense = x.scalar_type() == at::kFloat && x.stride(3) == 1 && x.stride(2) == s.W &&
                     x.stride(1) == s.H * s.W && x.stride(0) == s.C * s.H * s.W;
  const bool one_by_one = one_by_one_strided(s) && s.stride_h == 1 && s.stride_w == 1;
  if (dense && one_by_one) {
    StagedInput st;
    st.layout = HostLayout::ChannelRowsBf16;
    st.raw = true;
    st.Hp = s.H;
    st.Wp = st.Wq = s.W;
    st.C = s.C;
    const float* p = x.const_data_ptr<float>();
    for (Rounding m : staged_roundings(numerics)) st.variants[static_cast<int>(m)] = p;
    st.min_exp_hi = scan_min_exp(p, x.numel());
    return st;
  }
  StagedInput st = one_by_one_strided(s) ? stage_subsampled(x, s, numerics) : stage_input_planar(x, s, numerics);
  st.layout = HostLayout::ChannelRowsBf16;
  // The hi variant holds the bf16 roundings (a bf16 tensor's values: None).
  const Rounding hi = numerics == Numerics::Bf16Tensor ? Rounding::None : Rounding::Bf16;
  st.min_exp_hi = scan_min_exp(st.variants[static_cast<int>(hi)], s.N * s.C * st.plane());
  return st;
}

}  // namespace

StagedInput stage_input_bf16(const at::Tensor& x, const ConvShape& s, Numerics numerics, HostLayout layout) {
  if (layout == HostLayout::ChannelRowsBf16) return stage_planar_bf16(x, s, numerics);
  StagedInput st;
  st.layout = HostLayout::PixelRowsBf16;
  st.Hp = s.Hp();
  st.Wp = s.Wp();
  st.C = s.C;
  const int64_t row = st.Wp * s.C, plane = st.Hp * row, total = s.N * plane;
  const auto modes = staged_roundings(numerics);
  std::array<uint16_t*, 4> dst{};
  for (size_t i = 0; i < modes.size(); ++i) {
    const int m = static_cast<int>(modes[i]);
    dst[m] = bf16_buffer(kStagedB0 + static_cast<int>(i), total + staging_slack(s));
    std::memset(dst[m] + total, 0, staging_slack(s) * sizeof(uint16_t));
    st.bf16[m] = dst[m];
  }
  if (total == 0) return st;

  const auto& kt = host_kernels();
  const bool bf16 = x.scalar_type() == at::kBFloat16;
  const int64_t sN = x.stride(0), sC = x.stride(1), sH = x.stride(2), sW = x.stride(3);
  const char* base = static_cast<const char*>(x.const_data_ptr());
  const int64_t esize = x.element_size();
  const bool dense_row = sC == 1 && sW == s.C;  // a channels-last row: no gather
  const bool planar_rows = !dense_row && sW == 1;  // NCHW rows: round per channel, transpose
  std::atomic<int> min_exp{255};
  at::parallel_for(0, s.N * st.Hp, 1, [&](int64_t begin, int64_t end) {
    int local = 255;
    for (int64_t r = begin; r < end; ++r) {
      const int64_t n = r / st.Hp, hp = r % st.Hp, h = hp - s.pad_h;
      const int64_t off = n * plane + hp * row;
      if (h < 0 || h >= s.H) {
        for (Rounding m : modes) std::memset(dst[static_cast<int>(m)] + off, 0, row * sizeof(uint16_t));
        continue;
      }
      const char* src = base + (n * sN + h * sH) * esize;
      const float* vals = nullptr;
      if (!bf16) {
        vals = reinterpret_cast<const float*>(src);
        if (!dense_row && !planar_rows) {
          float* tmp = thread_buffer(kRowTmp, s.W * s.C);
          gather_f32_row(vals, s.W, s.C, sW, sC, tmp);
          vals = tmp;
        }
      }
      for (Rounding m : modes) {
        uint16_t* d = dst[static_cast<int>(m)] + off;
        uint16_t* interior = d + s.pad_w * s.C;
        std::memset(d, 0, s.pad_w * s.C * sizeof(uint16_t));
        if (!bf16 && planar_rows) {
          kt.round_transpose_bits(vals, sC, s.C, s.W, interior, m);  // NCHW rows
        } else if (!bf16) {
          kt.round_bits(vals, interior, s.W * s.C, m);
        } else if (dense_row) {
          std::memcpy(interior, src, s.W * s.C * sizeof(uint16_t));
        } else {
          gather_bf16_row(reinterpret_cast<const c10::BFloat16*>(src), s.W, s.C, sW, sC, interior);
        }
        std::memset(interior + s.W * s.C, 0, s.pad_w * s.C * sizeof(uint16_t));
        // The first staged variant is the hi one (Bf16, or None for bf16 tensors).
        if (m == modes.front()) local = std::min(local, kt.min_exponent(interior, s.W * s.C));
      }
    }
    atomic_min(min_exp, local);
  });
  st.min_exp_hi = min_exp;
  return st;
}

namespace {

struct Bf16Geometry {
  bool direct = false;
  // direct: `segments` runs of `vrows` virtual pixels, segment q's first at element
  // q * seg_stride of the staged image; virtual pixel v of a run is output (row
  // first_row + v / Wp, column v % Wp), dropped when the column is >= OW.
  int64_t segments = 0, vrows = 0, seg_stride = 0, rows_per_seg = 0;
  std::vector<int64_t> taps;  // element offset of each tap from its pixel's first tap
  int64_t mblocks = 0, panels = 0, panels_per_task = 0, nblocks = 0;
};

Bf16Geometry geometry(const ConvShape& s, const StagedInput& in) {
  Bf16Geometry g;
  for (int64_t kh = 0; kh < s.KH; ++kh)
    for (int64_t kw = 0; kw < s.KW; ++kw) g.taps.push_back((kh * s.dil_h * in.Wp + kw * s.dil_w) * in.C);
  g.direct = bf16_direct_applies(s);
  if (g.direct) {
    // With no rows between images (Hp == OH: 1-row kernels, no vertical padding) the
    // images are one run; otherwise one run per image.
    const bool merged = in.Hp == s.OH;
    g.segments = merged ? 1 : s.N;
    g.rows_per_seg = merged ? s.N * s.OH : s.OH;
    g.vrows = g.rows_per_seg * in.Wp;
    g.seg_stride = in.Hp * in.Wp * in.C;
    g.mblocks = g.segments * ceil_div(g.vrows, kMB);
  } else {
    g.mblocks = ceil_div(s.M(), kMB);
  }
  g.panels = ceil_div(s.OCg(), kB16NR);
  // Enough tasks for every thread, in whole panel pairs (the kernels' N block).
  const int64_t want = 4 * at::get_num_threads();
  int64_t per = std::min<int64_t>(kMaxPanels, g.panels);
  while (per > 2 && s.groups * g.mblocks * ceil_div(g.panels, per) < want) per = std::max<int64_t>(2, per / 2);
  g.panels_per_task = per;
  g.nblocks = ceil_div(g.panels, per);
  return g;
}

// Output pixel m's first tap within the staged image (channel 0).
inline int64_t pixel_offset(const ConvShape& s, const StagedInput& in, int64_t m) {
  const int64_t ohw = s.OH * s.OW, n = m / ohw, r = m % ohw, oh = r / s.OW, ow = r % s.OW;
  return ((n * in.Hp + oh * s.stride_h) * in.Wp + ow * s.stride_w) * in.C;
}

// Writes C rows [0, rows) of a block to the output: rows are consecutive pixels
// (packed) or virtual pixels from `v0` of segment `seg` (direct).
void write_block(const float* c, int64_t ldc, int64_t rows, const ConvShape& s, const StagedInput& in,
                 const Bf16Geometry& g, int64_t seg, int64_t first, int64_t oc0, int64_t cols,
                 const Epilogue& epi, const OutputView& out) {
  const auto& kt = host_kernels();
  const int64_t esize = out.bf16 ? 2 : 4;
  const float* bias = epi.bias ? epi.bias + oc0 : nullptr;
  auto emit = [&](const float* cr, int64_t n, int64_t oh, int64_t ow, int64_t run) {
    char* dst = static_cast<char*>(out.data) + (n * out.sN + oh * out.sH + ow * out.sW + oc0 * out.sC) * esize;
    kt.epilogue(cr, ldc, run, cols, bias, epi.relu, dst, out.bf16, out.sW, out.sC);
  };
  const int64_t ohw = s.OH * s.OW;
  for (int64_t i = 0; i < rows;) {
    int64_t n, oh, ow, run;
    if (g.direct) {
      const int64_t v = first + i, orow = seg * g.rows_per_seg + v / in.Wp, col = v % in.Wp;
      run = std::min(rows - i, in.Wp - col);
      if (col >= s.OW) {
        i += run;
        continue;
      }
      run = std::min(run, s.OW - col);
      n = orow / s.OH;
      oh = orow % s.OH;
      ow = col;
    } else {
      const int64_t m = first + i, r = m % ohw;
      n = m / ohw;
      oh = r / s.OW;
      ow = r % s.OW;
      run = std::min(rows - i, s.OW - ow);
    }
    emit(c + i * ldc, n, oh, ow, run);
    i += run;
  }
}

}  // namespace

void emulate_gemm_bf16(const ConvShape& s, const PackedWeights& w, const StagedInput& in,
                       const Epilogue& epi, const OutputView& out) {
  TORCH_CHECK(w.layout == HostLayout::PixelRowsBf16 && in.layout == HostLayout::PixelRowsBf16,
              "emulate_gemm_bf16: operands not staged as bf16 pixel rows");
  const auto passes = passes_for(w.numerics);
  const auto a_modes = staged_roundings(w.numerics);
  const Bf16Geometry g = geometry(s, in);
  const int64_t cg = s.Cg(), kp = w.kp, per_seg = g.direct ? ceil_div(g.vrows, kMB) : 0;
  const int64_t zero = 0;

  run_tasks(s.groups * g.mblocks * g.nblocks, [&](int64_t i) {
    // Channel blocks innermost: neighbouring tasks share the same A rows.
    const int64_t grp = i / (g.mblocks * g.nblocks), r = i % (g.mblocks * g.nblocks);
    const int64_t mb = r / g.nblocks, p0 = (r % g.nblocks) * g.panels_per_task;
    const int64_t npan = std::min(g.panels_per_task, g.panels - p0);
    const int64_t seg = g.direct ? mb / per_seg : 0;
    const int64_t first = (g.direct ? mb % per_seg : mb) * kMB;
    const int64_t rows = std::min(kMB, (g.direct ? g.vrows : s.M()) - first);
    const int64_t padded = aie_kernels::round_up(rows, kB16RowBlock);
    // A per staged variant: in place (direct) or packed once for all channel sub-blocks.
    const uint16_t* a_of[4] = {};
    int64_t lda = in.C;
    uint16_t* apack = g.direct ? nullptr : bf16_buffer(kBf16Task, a_modes.size() * padded * kp);
    for (size_t v = 0; v < a_modes.size(); ++v) {
      const int ra = static_cast<int>(a_modes[v]);
      const uint16_t* a = in.bf16[ra] + grp * cg;
      if (g.direct) {
        a_of[ra] = a + seg * g.seg_stride + first * in.C;
        continue;
      }
      const uint16_t* rp[kMB];
      for (int64_t j = 0; j < rows; ++j) rp[j] = a + pixel_offset(s, in, first + j);
      uint16_t* dst = apack + v * padded * kp;
      aie_kernels::pack_a_rows_bf16(rp, static_cast<int>(rows), static_cast<int>(padded), g.taps.data(),
                                    static_cast<int>(g.taps.size()), cg, kp, dst);
      a_of[ra] = dst;
      lda = kp;
    }
    const int ntaps = g.direct ? static_cast<int>(g.taps.size()) : 1;
    const int64_t* taps = g.direct ? g.taps.data() : &zero;
    const int64_t kc = g.direct ? cg : kp;
    // Channel sub-blocks small enough that C stays in L1 from the kernel to the epilogue.
    const int64_t ldc = kSubPanels * kB16NR;
    float* c = thread_buffer(kTileC, padded * ldc);
    for (int64_t q0 = 0; q0 < npan; q0 += kSubPanels) {
      const int64_t nq = std::min(kSubPanels, npan - q0);
      for (size_t p = 0; p < passes.size(); ++p) {
        const int ra = static_cast<int>(passes[p].a), rb = static_cast<int>(passes[p].b);
        const uint16_t* b = w.bf16_for_group(passes[p].b, grp) + (p0 + q0) * kp * kB16NR;
        bf16_gemm_for(staged_min_exp(in, passes[p].a), w.min_exp[rb])
            .gemm(a_of[ra], lda, taps, ntaps, kc, rows, b, kp * kB16NR, nq, c, ldc, p > 0);
      }
      const int64_t oc0 = grp * s.OCg() + (p0 + q0) * kB16NR;
      const int64_t cols = std::min(nq * kB16NR, s.OCg() - (p0 + q0) * kB16NR);
      write_block(c, ldc, rows, s, in, g, seg, first, oc0, cols, epi, out);
    }
  });
}

}  // namespace torch_aie::runtime
