// Staging for the native-bf16 family (bf16_family.h): NHWC bf16 pixel rows with
// slack for the direct kernels (or the input itself, where it already is them);
// planar channel rows (the float family's staging, the input itself, or the pixels a
// strided 1x1 conv reads); and the exponent scan that picks the exact GEMM form for
// operands with tiny exponents.
#include <ATen/Parallel.h>
#include <c10/util/BFloat16.h>

#include <algorithm>
#include <atomic>
#include <cstring>

#include "csrc/runtime/emulator/bf16_family.h"
#include "csrc/runtime/emulator/staging_common.h"

namespace torch_aie::runtime {

using aie_kernels::ceil_div;
using aie_kernels::kB16RowBlock;
using aie_kernels::Rounding;

namespace {

inline uint16_t bits_of(c10::BFloat16 v) { return v.x; }

void atomic_min(std::atomic<int>& a, int v) {
  int cur = a.load(std::memory_order_relaxed);
  while (v < cur && !a.compare_exchange_weak(cur, v, std::memory_order_relaxed)) {
  }
}

// Zeroed elements after the staged image: what direct blocks read past its end (at
// most kB16RowBlock - 1 rows past the last virtual pixel, plus the last tap's reach).
int64_t staging_slack(const ConvShape& s) { return (kB16RowBlock + (s.KW - 1) * s.dil_w + 1) * s.C; }

// The smallest of min_exp(p + i, chunk) over p[0..n) cut in chunks, in parallel.
template <class T, class F>
int scan_chunks(const T* p, int64_t n, F min_exp) {
  constexpr int64_t chunk = int64_t(1) << 16;
  std::atomic<int> result{255};
  at::parallel_for(0, ceil_div(n, chunk), 1, [&](int64_t begin, int64_t end) {
    int local = 255;
    for (int64_t i = begin; i < end; ++i) local = std::min(local, min_exp(p + i * chunk, std::min(chunk, n - i * chunk)));
    atomic_min(result, local);
  });
  return result;
}

// Smallest exponent field of the bf16 roundings of p[0..n) (planar fp32).
int scan_min_exp(const float* p, int64_t n) { return scan_chunks(p, n, host_kernels().min_exponent_rounded); }

// Smallest exponent field of the bf16 values p[0..n).
int scan_min_exp_bits(const uint16_t* p, int64_t n) { return scan_chunks(p, n, host_kernels().min_exponent); }

bool one_by_one_unpadded(const ConvShape& s) { return s.KH == 1 && s.KW == 1 && s.pad_h == 0 && s.pad_w == 0; }

// Stages, per (image, channel), the pixels an unpadded 1x1 conv reads: an OH x OW plane.
Bf16StagedInput stage_subsampled(const at::Tensor& x, const ConvShape& s, Numerics numerics) {
  Bf16StagedInput st;
  st.subsampled = true;
  st.Hp = s.OH;
  st.Wp = st.Wq = s.OW;
  st.C = s.C;
  const int64_t plane = s.OH * s.OW;
  const StagingTargets dst = claim_staging(numerics, s.N * s.C * plane, st);
  const auto& kt = host_kernels();
  const StagingSource src(x);
  at::parallel_for(0, s.N * s.C, 4, [&](int64_t begin, int64_t end) {
    float* row = thread_buffer<float>(kRowTmp, s.OW);
    for (int64_t nc = begin; nc < end; ++nc) {
      const int64_t n = nc / s.C, c = nc % s.C;
      for (int64_t oh = 0; oh < s.OH; ++oh) {
        const char* line = src.at(n, c, oh * s.stride_h);
        for (int64_t ow = 0; ow < s.OW; ++ow) {
          const int64_t e = ow * s.stride_w * src.sW;
          row[ow] = src.bf16 ? static_cast<float>(reinterpret_cast<const c10::BFloat16*>(line)[e])
                             : reinterpret_cast<const float*>(line)[e];
        }
        for (Rounding m : dst.modes) kt.round_f32(row, dst[m] + nc * plane + oh * s.OW, s.OW, m);
      }
    }
  });
  return st;
}

// The planar form: for 1x1 stride-1 unpadded convs on dense NCHW fp32 inputs the
// input itself (the B packer rounds); otherwise the planar fp32 staging.
Bf16StagedInput stage_planar_bf16(const at::Tensor& x, const ConvShape& s, Numerics numerics) {
  const bool dense = x.scalar_type() == at::kFloat && x.stride(3) == 1 && x.stride(2) == s.W &&
                     x.stride(1) == s.H * s.W && x.stride(0) == s.C * s.H * s.W;
  const bool one_by_one = one_by_one_unpadded(s) && s.stride_h == 1 && s.stride_w == 1;
  Bf16StagedInput st;
  if (dense && one_by_one) {
    st.raw = true;
    st.Hp = s.H;
    st.Wp = st.Wq = s.W;
    st.C = s.C;
    const float* p = x.const_data_ptr<float>();
    for (Rounding m : staged_roundings(numerics)) st.variants[static_cast<int>(m)] = p;
    st.min_exp_hi = scan_min_exp(p, x.numel());
  } else {
    if (one_by_one_unpadded(s))
      st = stage_subsampled(x, s, numerics);
    else
      static_cast<StagedInput&>(st) = stage_input_planar(x, s, numerics);
    // The hi variant holds the bf16 roundings (a bf16 tensor's values: None).
    const Rounding hi = numerics == Numerics::Bf16Tensor ? Rounding::None : Rounding::Bf16;
    st.min_exp_hi = scan_min_exp(st.f32(hi), s.N * s.C * st.plane());
  }
  st.layout = HostLayout::ChannelRows;
  return st;
}

// One piece of a staged row (px pixels from `line`) multiplied by the input scale
// (`scale`: its image's C values) before rounding: x * s as ATen's mul of x's dtype
// computes it, one fp32 multiply, then (bf16 tensors) one rounding to bf16, which
// the conv then takes as it is. The interior starts at element `at` of each variant.
void stage_scaled(const aie_kernels::KernelTable& kt, const StagingSource& src, const char* line, int64_t px,
                  const ConvShape& s, const float* scale, const std::vector<Rounding>& modes,
                  const std::array<uint16_t*, 4>& dst, int64_t at, bool first, bool last, int& min_exp) {
  const RowValues v = gather_row(src, line, px, s.C, src.sW, src.sC, thread_buffer<float>(kRowTmp, px * s.C));
  const int64_t pad = s.pad_w * s.C;
  for (Rounding m : modes) {
    uint16_t* interior = dst[static_cast<int>(m)] + at;
    if (first) std::memset(interior - pad, 0, pad * sizeof(uint16_t));
    if (v.bf16)  // a bf16 row read in place
      kt.scale_round_bits_bf16(v.bf16, scale, s.C, px, interior);
    else
      kt.scale_round_bits(v.f32, scale, s.C, px, interior, src.bf16 ? Rounding::Bf16 : m);
    if (last) std::memset(interior + px * s.C, 0, pad * sizeof(uint16_t));
    if (m == modes.front()) min_exp = std::min(min_exp, kt.min_exponent(interior, px * s.C));
  }
}

}  // namespace

// Whether a bf16 channels-last tensor is already its own pixel-row staging: a dense
// NHWC input of a stride-1 unpadded 1x1 conv whose values the passes take unrounded.
// It has no zeroed slack after its end for the kernels' row padding to read: a block
// ending in a partial row group reads those rows from a copy (split_block in
// bf16_pixel_rows.cpp).
bool nhwc_in_place(const at::Tensor& x, const ConvShape& s, Numerics numerics) {
  const StagingSource src(x);
  const auto modes = staged_roundings(numerics);
  return src.bf16 && modes.size() == 1 && modes[0] == Rounding::None && one_by_one_unpadded(s) &&
         s.stride_h == 1 && s.stride_w == 1 && src.sC == 1 && src.sW == s.C && src.sH == s.W * s.C &&
         src.sN == s.H * s.W * s.C;
}

Bf16StagedInput stage_input_bf16(const at::Tensor& x, const ConvShape& s, Numerics numerics, HostLayout layout,
                                 const float* scale) {
  TORCH_CHECK(!scale || layout == HostLayout::PixelRows, "stage_input_bf16: an input scale needs pixel rows");
  if (layout == HostLayout::ChannelRows) return stage_planar_bf16(x, s, numerics);
  Bf16StagedInput st;
  st.layout = HostLayout::PixelRows;
  st.dtype = c10::ScalarType::BFloat16;
  st.Hp = s.Hp();
  st.Wp = s.Wp();
  st.C = s.C;
  if (!scale && nhwc_in_place(x, s, numerics)) {
    const auto* p = reinterpret_cast<const uint16_t*>(x.const_data_ptr());
    st.raw = true;
    st.bf16[static_cast<int>(Rounding::None)] = p;
    st.variants[static_cast<int>(Rounding::None)] = p;
    st.min_exp_hi = scan_min_exp_bits(p, x.numel());
    return st;
  }
  const int64_t row = st.Wp * s.C, plane = st.Hp * row, total = s.N * plane;
  const auto modes = staged_roundings(numerics);
  std::array<uint16_t*, 4> dst{};
  for (size_t i = 0; i < modes.size(); ++i) {
    const int m = static_cast<int>(modes[i]);
    dst[m] = thread_buffer<uint16_t>(kStaged0 + static_cast<int>(i), total + staging_slack(s));
    std::memset(dst[m] + total, 0, staging_slack(s) * sizeof(uint16_t));
    st.bf16[m] = dst[m];
    st.variants[m] = dst[m];
  }
  if (total == 0) return st;

  const auto& kt = host_kernels();
  const StagingSource src(x);
  const bool dense_row = src.sC == 1 && src.sW == s.C;  // a channels-last row: no gather
  const bool planar_rows = !dense_row && src.sW == 1;   // NCHW rows: round per channel, transpose
  // Work items are pieces of rows (row_pieces, staging_common.h).
  const int64_t pieces = row_pieces(s.W * s.C);
  const int64_t piece_px = ceil_div(s.W, pieces);
  std::atomic<int> min_exp{255};
  at::parallel_for(0, s.N * st.Hp * pieces, 1, [&](int64_t begin, int64_t end) {
    int local = 255;
    for (int64_t u = begin; u < end; ++u) {
      const int64_t r = u / pieces, piece = u % pieces;
      const int64_t n = r / st.Hp, hp = r % st.Hp, h = hp - s.pad_h;
      const int64_t off = n * plane + hp * row;
      const int64_t w0 = piece * piece_px, w1 = std::min(s.W, w0 + piece_px);
      if (h < 0 || h >= s.H) {
        if (piece == 0)
          for (Rounding m : modes) std::memset(dst[static_cast<int>(m)] + off, 0, row * sizeof(uint16_t));
        continue;
      }
      if (w0 >= w1) continue;
      const int64_t px = w1 - w0;
      const char* line = src.at(n, 0, h) + w0 * src.sW * src.esize;
      if (scale) {
        stage_scaled(kt, src, line, px, s, scale + n * s.C, modes, dst, off + (s.pad_w + w0) * s.C, w0 == 0,
                     w1 == s.W, local);
        continue;
      }
      const float* vals = nullptr;
      if (!src.bf16) {
        vals = reinterpret_cast<const float*>(line);
        if (!dense_row && !planar_rows) {
          float* tmp = thread_buffer<float>(kRowTmp, px * s.C);
          gather_pixels(vals, px, s.C, src.sW, src.sC, tmp, [](float v) { return v; });
          vals = tmp;
        }
      }
      for (Rounding m : modes) {
        uint16_t* d = dst[static_cast<int>(m)] + off;
        uint16_t* interior = d + (s.pad_w + w0) * s.C;
        if (w0 == 0) std::memset(d, 0, s.pad_w * s.C * sizeof(uint16_t));
        if (!src.bf16 && planar_rows) {
          kt.round_transpose_bits(vals, src.sC, s.C, px, interior, m);  // NCHW rows
        } else if (!src.bf16) {
          kt.round_bits(vals, interior, px * s.C, m);
        } else if (dense_row) {
          std::memcpy(interior, line, px * s.C * sizeof(uint16_t));
        } else {
          gather_pixels(reinterpret_cast<const c10::BFloat16*>(line), px, s.C, src.sW, src.sC, interior, bits_of);
        }
        if (w1 == s.W) std::memset(interior + px * s.C, 0, s.pad_w * s.C * sizeof(uint16_t));
        // The first staged variant is the hi one (Bf16, or None for bf16 tensors).
        if (m == modes.front()) local = std::min(local, kt.min_exponent(interior, px * s.C));
      }
    }
    atomic_min(min_exp, local);
  });
  st.min_exp_hi = min_exp;
  return st;
}

}  // namespace torch_aie::runtime
