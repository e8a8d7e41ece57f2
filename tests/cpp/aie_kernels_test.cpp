// Kernel-level checks that pytest cannot reach: every ISA variant this host runs
// must give bit-identical results to a plain sequential-FMA reference.
#include <c10/util/BFloat16.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "aie_kernels/bf16.h"
#include "aie_kernels/bf16_gemm.h"
#include "aie_kernels/kernel_table.h"

using namespace aie_kernels;

namespace {

std::vector<Isa> host_isas() {
  std::vector<Isa> out;
  for (int i = 0; i <= static_cast<int>(detect_host_isa()); ++i) out.push_back(static_cast<Isa>(i));
  return out;
}

std::vector<float> random_bf16(size_t n, uint32_t seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> dist(0.f, 1.f);
  std::vector<float> v(n);
  for (auto& x : v) x = round_to_bf16(dist(gen));
  return v;
}

uint32_t bits(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  return u;
}

float float_of(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

}  // namespace

TEST(Bf16Rounding, MatchesC10OnEdgeAndRandomValues) {
  std::vector<float> v = {0.f, -0.f, 1.f, 1.00390625f, 1.01171875f, 3.3895314e38f, 3.4028235e38f,
                          1e-40f, -1e-45f, std::numeric_limits<float>::infinity(),
                          -std::numeric_limits<float>::infinity()};
  std::mt19937 gen(7);
  for (int i = 0; i < 200000; ++i) {
    uint32_t u = gen();
    float f;
    std::memcpy(&f, &u, 4);
    if (!std::isnan(f)) v.push_back(f);
  }
  for (Isa isa : host_isas()) {
    std::vector<float> out(v.size());
    kernel_table(isa).round_f32(v.data(), out.data(), v.size(), Rounding::Bf16);
    for (size_t i = 0; i < v.size(); ++i)
      ASSERT_EQ(bits(out[i]), bits(static_cast<float>(c10::BFloat16(v[i]))))
          << isa_name(isa) << " value " << v[i];
  }
}

TEST(Bf16Rounding, SplitReconstructsAndKeepsNonFiniteInHi) {
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> v = {1.2345678f, -7.654321e-3f, inf, -inf, std::nanf(""), 3.4e38f, 0.f};
  for (Isa isa : host_isas()) {
    const auto& k = kernel_table(isa);
    std::vector<float> hi(v.size()), lo(v.size()), fin(v.size());
    k.round_f32(v.data(), hi.data(), v.size(), Rounding::Bf16);
    k.round_f32(v.data(), lo.data(), v.size(), Rounding::Bf16Lo);
    k.round_f32(v.data(), fin.data(), v.size(), Rounding::Bf16Finite);
    for (size_t i = 0; i < v.size(); ++i) {
      ASSERT_TRUE(std::isfinite(lo[i])) << isa_name(isa) << " " << v[i];
      ASSERT_TRUE(std::isfinite(fin[i])) << isa_name(isa) << " " << v[i];
      if (std::isfinite(hi[i]))
        EXPECT_LE(std::fabs(hi[i] + lo[i] - v[i]), std::ldexp(std::fabs(v[i]), -16));
      else
        EXPECT_EQ(fin[i], 0.f);
    }
  }
}

TEST(GemmMicroKernel, PackedAndDirectMatchSequentialFmaBitExactly) {
  const int64_t channels = 37, ntaps = 3, k = channels * ntaps;
  auto image = random_bf16(kMR * 200, 1);
  auto b = random_bf16(k * kNR, 2);
  const int64_t tap_off[ntaps] = {0, 40, 81};
  const float* rows[kMR];
  for (int i = 0; i < kMR; ++i) rows[i] = image.data() + i * 150;

  // Reference: each element's reduction in (tap, channel) order, one fma per term.
  std::vector<float> ref(kMR * kNR, 0.f);
  for (int i = 0; i < kMR; ++i)
    for (int j = 0; j < kNR; ++j) {
      float acc = 0.f;
      for (int t = 0; t < ntaps; ++t)
        for (int p = 0; p < channels; ++p)
          acc = std::fma(rows[i][tap_off[t] + p], b[(t * channels + p) * kNR + j], acc);
      ref[i * kNR + j] = acc;
    }

  std::vector<float> panel(k * kMR);
  pack_a_panel(rows, kMR, tap_off, channels, 0, k, panel.data());
  for (Isa isa : host_isas()) {
    const auto& kt = kernel_table(isa);
    std::vector<float> c1(kMR * kNR), c2(kMR * kNR);
    kt.gemm_direct(rows, tap_off, ntaps, channels, b.data(), c1.data(), kNR, false);
    // Packed, in two K blocks: the second accumulates onto the first.
    kt.gemm_packed(50, panel.data(), b.data(), c2.data(), kNR, false);
    kt.gemm_packed(k - 50, panel.data() + 50 * kMR, b.data() + 50 * kNR, c2.data(), kNR, true);
    for (int i = 0; i < kMR * kNR; ++i) {
      ASSERT_EQ(bits(c1[i]), bits(ref[i])) << isa_name(isa) << " direct @" << i;
      ASSERT_EQ(bits(c2[i]), bits(ref[i])) << isa_name(isa) << " packed @" << i;
    }
  }
}

TEST(GemmMicroKernel, RowsOutputStageEqualsGemmThenEpilogueRows) {
  const int64_t k = 45, ldc = 24, ld_out = 40;
  const auto a = random_bf16(k * kMR, 11), b = random_bf16(k * kNR, 12), c0 = random_bf16(kMR * ldc, 13);
  const auto res32 = random_bf16(kMR * ld_out, 14);
  std::vector<c10::BFloat16> res16(res32.size());
  for (size_t i = 0; i < res32.size(); ++i) res16[i] = c10::BFloat16(res32[i]);
  const float bias[kMR] = {0.5f, -1.25f, 3.f, 0.f, -0.f, 7.5f};
  const Residual residuals[] = {{}, {res32.data(), false}, {res16.data(), true}};
  for (Isa isa : host_isas()) {
    const auto& kt = kernel_table(isa);
    for (int act = 0; act < kNumActivations; ++act)
      for (const float* bi : {static_cast<const float*>(nullptr), bias})
        for (const Residual& res : residuals)
          for (bool accumulate : {false, true}) {
            std::vector<float> c = c0, want(kMR * ld_out, -99.f), got(kMR * ld_out, -99.f);
            kt.gemm_packed(k, a.data(), b.data(), c.data(), ldc, accumulate);
            kt.epilogue_rows(c.data(), ldc, kMR, kNR, bi, static_cast<Activation>(act), res, want.data(), false,
                             ld_out);
            kt.gemm_packed_rows_out(k, a.data(), b.data(), c0.data(), ldc, accumulate, bi,
                                    static_cast<Activation>(act), res, got.data(), ld_out);
            for (size_t i = 0; i < got.size(); ++i)
              ASSERT_EQ(bits(got[i]), bits(want[i])) << isa_name(isa) << " act " << act << " bias " << (bi != nullptr)
                                                     << " residual " << (res.data != nullptr) << (res.bf16 ? " bf16" : "")
                                                     << " accumulate " << accumulate << " @" << i;
          }
  }
}

TEST(DepthwiseKernel, MatchesSequentialFmaBitExactlyForEveryChunkSizeAndAccumulates) {
  const int64_t channels = 37, ntaps = 9;  // two 16-lane vectors (four 8-lane) and a tail
  auto image = random_bf16(8000, 3);
  auto w = random_bf16(ntaps * channels, 4);
  int64_t tap_off[ntaps];
  for (int t = 0; t < ntaps; ++t) tap_off[t] = ((t / 3) * 20 + (t % 3)) * channels;
  for (int npix = 1; npix <= 9; ++npix) {  // the register-blocked sizes 1..8, and the generic loop
    std::vector<const float*> pix(npix), pix2(npix);
    for (int j = 0; j < npix; ++j) {
      pix[j] = image.data() + j * 2 * channels;
      pix2[j] = pix[j] + 1;
    }
    for (Isa isa : host_isas()) {
      std::vector<float> out(npix * channels);
      kernel_table(isa).depthwise(pix.data(), npix, tap_off, ntaps, channels, w.data(), out.data(), channels, false);
      kernel_table(isa).depthwise(pix2.data(), npix, tap_off, ntaps, channels, w.data(), out.data(), channels, true);
      for (int j = 0; j < npix; ++j)
        for (int c = 0; c < channels; ++c) {
          float acc = 0.f;
          for (const auto* p : {pix[j], pix2[j]})
            for (int t = 0; t < ntaps; ++t) acc = std::fma(p[tap_off[t] + c], w[t * channels + c], acc);
          ASSERT_EQ(bits(out[j * channels + c]), bits(acc)) << isa_name(isa) << " npix " << npix << " c " << c;
        }
    }
  }
}

namespace {

std::vector<uint16_t> bf16_bits(const std::vector<float>& v) {
  std::vector<uint16_t> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = static_cast<uint16_t>(bits(v[i]) >> 16);
  return out;
}

// depthwise_bf16_rows on `values` (bf16 values, input rows `row` pixels of `channels` +
// 3 elements) against depthwise on the widened values then the epilogue, bit for bit,
// for every window form, activation, output type and residual type (none, fp32, bf16).
void check_window_forms(const KernelTable& kt, const std::vector<float>& values, int64_t channels, int64_t row,
                        const float* bias, const std::string& what) {
  const auto bits16 = bf16_bits(values);
  const auto w = random_bf16(49 * channels, 6);
  const auto res = random_bf16(8 * 50 * channels, 8);
  const auto res16 = bf16_bits(res);
  const int forms[][2] = {{3, 1}, {3, 2}, {5, 1}, {5, 2}, {7, 1}};
  for (const auto& f : forms) {
    const int kw = f[0], stride = f[1], kh = kw;
    const int64_t pix_stride = channels + 3, out_stride = channels + 5;  // strided pixels and outputs
    std::vector<int64_t> row_off(kh), taps(kh * kw);
    for (int r = 0; r < kh; ++r) row_off[r] = r * row * pix_stride;
    for (int t = 0; t < kh * kw; ++t) taps[t] = row_off[t / kw] + (t % kw) * pix_stride;
    std::vector<const float*> pix32(kChunkPixels);
    std::vector<const uint16_t*> pix16(kChunkPixels);
    for (int j = 0; j < kChunkPixels; ++j) {
      pix32[j] = values.data() + 3 + j * stride * pix_stride;
      pix16[j] = bits16.data() + 3 + j * stride * pix_stride;
    }
    std::vector<float> c32(kChunkPixels * channels), c16(c32.size());
    kt.depthwise(pix32.data(), kChunkPixels, taps.data(), kh * kw, channels, w.data(), c32.data(), channels, false);
    kt.depthwise_bf16(pix16.data(), kChunkPixels, taps.data(), kh * kw, channels, w.data(), c16.data(), channels);
    ASSERT_EQ(0, std::memcmp(c32.data(), c16.data(), c32.size() * 4)) << what << " pointer form " << kw;
    for (int act = 0; act < kNumActivations; ++act)
      for (int variant = 0; variant < 6; ++variant)
        for (int npix : {kChunkPixels, 5, 1}) {  // a short chunk writes its first npix outputs only
          const bool bf16_out = variant & 1;
          const int res_kind = variant / 2;  // 0 none, 1 fp32, 2 bf16
          const Residual r{res_kind == 0 ? nullptr : res_kind == 1 ? static_cast<const void*>(res.data()) : res16.data(),
                           res_kind == 2};
          const int64_t esize = bf16_out ? 2 : 4;
          std::vector<char> want(kChunkPixels * out_stride * esize, 0), got(want);
          kt.epilogue(c32.data(), channels, npix, channels, bias, Activation(act), r, want.data(), bf16_out,
                      out_stride, 1);
          const DepthwiseOut o{got.data(), out_stride, channels, bias, Activation(act), r, bf16_out};
          ASSERT_TRUE(
              kt.depthwise_bf16_rows(bits16.data() + 3, row_off.data(), kh, kw, stride, pix_stride, w.data(), o, npix,
                                 nullptr));
          ASSERT_EQ(0, std::memcmp(got.data(), want.data(), got.size()))
              << what << " window " << kw << "x" << stride << " act " << act << " variant " << variant << " npix "
              << npix;
        }
  }
}

}  // namespace

TEST(DepthwiseKernel, Bf16FormsAreTheFloatKernelOnWidenedValuesThenTheEpilogue) {
  // depthwise_bf16 (pointer form) and depthwise_bf16_rows (window form, output stage
  // fused) on bf16 bits against depthwise on the widened values, then the epilogue:
  // bit for bit, every ISA the host runs, every window form. Channel counts: vector
  // tails of 5 and 21 lanes (the AVX512-BF16 window kernel steps 32 channels), one
  // short step only, whole steps.
  const int64_t row = 40;  // pixels per input row
  for (int64_t channels : {37, 53, 16, 64}) {
    const auto values = random_bf16(8 * row * (channels + 3), 5);  // 7 input rows of pixels channels + 3 apart
    const auto bias = random_bf16(channels, 7);
    for (Isa isa : host_isas()) {
      const KernelTable& kt = kernel_table(isa);
      check_window_forms(kt, values, channels, row, bias.data(),
                         std::string(isa_name(isa)) + " channels " + std::to_string(channels));
      const DepthwiseOut none{nullptr, 0, channels, nullptr, Activation::None, {}, false};
      EXPECT_FALSE(kt.depthwise_bf16_rows(nullptr, nullptr, 3, 3, 3, channels, nullptr, none, kChunkPixels, nullptr));  // no 3x3 stride-3 form
    }
  }
}

TEST(DepthwiseKernel, Bf16WindowFormRoundsSpecialValuesAsTheEpilogue) {
  // Outputs that are NaN (inf - inf), infinite or denormal (tiny inputs, no bias): the
  // AVX512-BF16 window kernel converts with vcvtne2ps2bf16 only where that equals the
  // emulator's rounding (NaN payloads and denormals differ), on every ISA the same bits.
  const int64_t channels = 40, row = 40;
  auto infinities = random_bf16(8 * row * (channels + 3), 9), tiny = infinities;
  for (size_t i = 0; i < infinities.size(); ++i) {
    if (i % 97 == 0) infinities[i] = std::numeric_limits<float>::infinity();
    if (i % 89 == 0) infinities[i] = -std::numeric_limits<float>::infinity();
    tiny[i] = round_to_bf16(tiny[i] * 1e-39f);  // bf16 denormals: denormal sums
  }
  for (Isa isa : host_isas()) {
    check_window_forms(kernel_table(isa), infinities, channels, row, nullptr, std::string(isa_name(isa)) + " inf");
    check_window_forms(kernel_table(isa), tiny, channels, row, nullptr, std::string(isa_name(isa)) + " denormal");
  }
}

TEST(DepthwiseKernel, Bf16WindowClipReadsZerosOutsideAndNothingThere) {
  // A clipped call (a border chunk read in place) against the unclipped call on a copy
  // whose clipped pixels are zeros: bit for bit, with NaNs in the clipped pixels of the
  // clipped call's input, so a clipped pixel that is read shows. Clips: the left and
  // top border, the right and bottom border, a short chunk's end, nothing read.
  const int64_t row = 40;
  for (int64_t channels : {37, 64}) {
    const int64_t pix_stride = channels + 3, out_stride = channels + 5;
    const auto values = random_bf16(8 * row * pix_stride, 11);
    const auto w = random_bf16(49 * channels, 12), bias = random_bf16(channels, 13);
    const auto bits16 = bf16_bits(values);
    const int forms[][2] = {{3, 1}, {3, 2}, {5, 1}, {5, 2}, {7, 1}};
    for (Isa isa : host_isas())
      for (const auto& f : forms) {
        const int kw = f[0], stride = f[1], kh = kw, span = (kChunkPixels - 1) * stride + kw;
        std::vector<int64_t> row_off(kh);
        for (int r = 0; r < kh; ++r) row_off[r] = r * row * pix_stride;
        const WindowClip clips[] = {{kw / 2, span, kh / 2, kh}, {0, span - 2, 0, kh - 1}, {0, 5, 0, kh}, {3, 3, 1, 1}};
        for (const WindowClip& c : clips) {
          std::vector<uint16_t> zeroed(bits16), poisoned(bits16);
          for (int r = 0; r < kh; ++r)
            for (int p = 0; p < span; ++p)
              if (r < c.row_first || r >= c.row_last || p < c.first || p >= c.last)
                for (int64_t ch = 0; ch < channels; ++ch) {
                  const int64_t at = 3 + row_off[r] + p * pix_stride + ch;
                  zeroed[at] = 0;
                  poisoned[at] = 0x7FC1;  // a quiet NaN
                }
          for (bool bf16_out : {false, true}) {
            const int64_t esize = bf16_out ? 2 : 4;
            std::vector<char> want(kChunkPixels * out_stride * esize, 0), got(want);
            const DepthwiseOut ow{want.data(), out_stride, channels, bias.data(), Activation::Relu6, {}, bf16_out};
            const DepthwiseOut og{got.data(), out_stride, channels, bias.data(), Activation::Relu6, {}, bf16_out};
            const auto& kt = kernel_table(isa);
            ASSERT_TRUE(kt.depthwise_bf16_rows(zeroed.data() + 3, row_off.data(), kh, kw, stride, pix_stride,
                                               w.data(), ow, kChunkPixels, nullptr));
            ASSERT_TRUE(kt.depthwise_bf16_rows(poisoned.data() + 3, row_off.data(), kh, kw, stride, pix_stride,
                                               w.data(), og, kChunkPixels, &c));
            ASSERT_EQ(0, std::memcmp(got.data(), want.data(), got.size()))
                << isa_name(isa) << " channels " << channels << " window " << kw << "x" << stride << " clip "
                << c.first << ".." << c.last << " rows " << c.row_first << ".." << c.row_last;
          }
        }
      }
  }
}

TEST(Packing, BPanelsZeroPadPastLastChannel) {
  const int64_t n = 20, k = 7;
  auto w = random_bf16(n * k, 5);
  std::vector<float> out(ceil_div(n, kNR) * k * kNR, -1.f);
  pack_b_panels(w.data(), n, k, out.data());
  for (int64_t c = 0; c < ceil_div(n, kNR) * kNR; ++c)
    for (int64_t p = 0; p < k; ++p) {
      float got = out[(c / kNR) * k * kNR + p * kNR + c % kNR];
      EXPECT_EQ(got, c < n ? w[c * k + p] : 0.f);
    }
}

TEST(DepthwiseRowKernel, MatchesSequentialFmaBitExactlyAndAccumulates) {
  const int ntaps = 9;
  const int64_t w_stride = 5;
  auto image = random_bf16(400, 6);
  auto w = random_bf16(ntaps * w_stride, 7);
  int64_t tap_off[ntaps];
  for (int t = 0; t < ntaps; ++t) tap_off[t] = (t / 3) * 40 + (t % 3);
  // 29: one vector body and a scalar tail; 77: blocks of four vectors, then both.
  for (int64_t n : {29, 77})
  for (Isa isa : host_isas()) {
    std::vector<float> out(n, 0.f);
    const auto& kt = kernel_table(isa);
    kt.depthwise_row(image.data(), tap_off, ntaps, w.data(), w_stride, out.data(), n, false);
    kt.depthwise_row(image.data() + 1, tap_off, ntaps, w.data(), w_stride, out.data(), n, true);
    for (int64_t j = 0; j < n; ++j) {
      float acc = 0.f;
      for (int pass = 0; pass < 2; ++pass)
        for (int t = 0; t < ntaps; ++t) acc = std::fma(image[pass + tap_off[t] + j], w[t * w_stride], acc);
      ASSERT_EQ(bits(out[j]), bits(acc)) << isa_name(isa) << " j=" << j;
    }
  }
}

TEST(MaxRowKernel, FollowsAtensCpuRuleOnEveryIsa) {
  // ATen's CPU max pool: a value replaces the running max (from -inf) if greater or NaN.
  const int ntaps = 9;
  auto image = random_bf16(600, 8);
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  for (size_t i = 0; i < image.size(); i += 7) image[i] = (i / 7) % 2 ? 0.f : -0.f;  // +0 / -0 ties
  image[50] = nan;
  image[51] = -inf;
  image[130] = inf;
  for (size_t i = 200; i < 260; ++i) image[i] = -inf;  // windows of -inf only
  int64_t tap_off[ntaps];
  for (int t = 0; t < ntaps; ++t) tap_off[t] = (t / 3) * 60 + (t % 3);
  // 5: scalar only; 29: vectors and an overlapping last one; 77: blocks of four vectors, then both.
  for (int64_t n : {5, 29, 77})
    for (int64_t start : {0, 1, 190, 230})
      for (Isa isa : host_isas()) {
        std::vector<float> out(n, 1.f);
        kernel_table(isa).max_row(image.data() + start, tap_off, ntaps, out.data(), n);
        for (int64_t j = 0; j < n; ++j) {
          float m = -inf;
          for (int t = 0; t < ntaps; ++t) {
            const float v = image[start + tap_off[t] + j];
            if (v > m || std::isnan(v)) m = v;
          }
          ASSERT_EQ(bits(out[j]), bits(m)) << isa_name(isa) << " n=" << n << " start=" << start << " j=" << j;
        }
      }
}

TEST(SumRowKernel, CloseToExactAndSplittableAtBlocks) {
  // 3000 values of mixed sign and magnitude (1e-3 .. 1e3).
  auto x = random_bf16(3000, 11);
  for (size_t i = 0; i < x.size(); ++i) x[i] *= std::ldexp(1.f, static_cast<int>(i % 21) - 10);
  for (int64_t n : {0, 1, 7, 31, 49, 64, 1024, 1025, 3000})
    for (Isa isa : host_isas()) {
      const auto& kt = kernel_table(isa);
      double exact = 0, magnitude = 0;
      for (int64_t j = 0; j < n; ++j) exact += x[j], magnitude += std::fabs(x[j]);
      const double got = kt.sum_row(x.data(), n);
      // fp32 error per block only: a few ulp of the block's magnitude.
      ASSERT_NEAR(got, exact, 1e-6 * magnitude + 1e-30) << isa_name(isa) << " n=" << n;
      // The driver may stage a row in kSumBlock pieces, adding their sums in order.
      double pieces = 0.0;
      for (int64_t b = 0; b < n; b += kSumBlock) pieces += kt.sum_row(x.data() + b, std::min(kSumBlock, n - b));
      ASSERT_EQ(got, pieces) << isa_name(isa) << " n=" << n;
    }
}

TEST(SumShortRowsKernel, CloseToExactAndIndependentOfItsNeighbours) {
  const int64_t ld = 300, rows = 37;  // not a multiple of any vector width
  auto x = random_bf16(ld * rows, 14);
  for (size_t i = 0; i < x.size(); ++i) x[i] *= std::ldexp(1.f, static_cast<int>(i % 13) - 6);
  for (int64_t n : {int64_t{1}, int64_t{7}, int64_t{16}, int64_t{49}, int64_t{196}, kShortRow})
    for (Isa isa : host_isas()) {
      const auto& kt = kernel_table(isa);
      std::vector<float> all(rows, -1.f);
      kt.sum_short_rows(x.data(), ld, rows, n, all.data());
      for (int64_t r = 0; r < rows; ++r) {
        double exact = 0, magnitude = 0;
        for (int64_t j = 0; j < n; ++j) exact += x[r * ld + j], magnitude += std::fabs(x[r * ld + j]);
        ASSERT_NEAR(all[r], exact, 1e-6 * magnitude + 1e-30) << isa_name(isa) << " n=" << n << " r=" << r;
        float alone = -1.f;  // the same row on its own: the same bits
        kt.sum_short_rows(x.data() + r * ld, ld, 1, n, &alone);
        ASSERT_EQ(bits(all[r]), bits(alone)) << isa_name(isa) << " n=" << n << " r=" << r;
      }
    }
}

TEST(AddRowKernel, AddsEachElementOnce) {
  auto src = random_bf16(77, 12);
  auto base = random_bf16(77, 13);
  for (int64_t n : {0, 5, 8, 29, 77})
    for (Isa isa : host_isas()) {
      std::vector<float> acc = base;
      kernel_table(isa).add_row(src.data(), n, acc.data());
      for (int64_t j = 0; j < 77; ++j)
        ASSERT_EQ(bits(acc[j]), bits(j < n ? base[j] + src[j] : base[j])) << isa_name(isa) << " n=" << n << " j=" << j;
    }
}

TEST(EpilogueRows, BiasReluAndBf16RoundingPerRow) {
  const int64_t rows = 3, cols = 19, ldc = 24;
  auto c = random_bf16(rows * ldc, 8);
  for (auto& v : c) v *= 3.3f;  // not bf16 any more: the bf16 output must round
  const float bias[rows] = {0.5f, -1.25f, 2.f};
  for (Isa isa : host_isas())
    for (bool relu : {false, true}) {
      std::vector<float> f32(rows * 32, -7.f);
      std::vector<uint16_t> b16(rows * 32, 0);
      const Activation act = relu ? Activation::Relu : Activation::None;
      kernel_table(isa).epilogue_rows(c.data(), ldc, rows, cols, bias, act, {}, f32.data(), false, 32);
      kernel_table(isa).epilogue_rows(c.data(), ldc, rows, cols, bias, act, {}, b16.data(), true, 32);
      for (int64_t i = 0; i < rows; ++i)
        for (int64_t j = 0; j < 32; ++j) {
          if (j >= cols) {  // nothing written past the row's end
            ASSERT_EQ(f32[i * 32 + j], -7.f);
            continue;
          }
          float v = c[i * ldc + j] + bias[i];
          if (relu) v = std::max(0.f, v);
          ASSERT_EQ(bits(f32[i * 32 + j]), bits(v)) << isa_name(isa);
          const float r = static_cast<float>(c10::BFloat16(v));
          ASSERT_EQ(b16[i * 32 + j], static_cast<uint16_t>(bits(r) >> 16)) << isa_name(isa);
        }
    }
}

// Pixel-row tiles written to channel-planar outputs (the transposed-block path and its
// row and column edges): every element is ((c + bias) + residual), activated, rounded
// when bf16, for float and bf16 residuals, on every ISA.
TEST(Epilogue, PlanarOutputsFromPixelRowsMatchTheDefinitionOnEveryIsa) {
  const int64_t rows = 37, cols = 21, ldc = 24, col_stride = 41;  // pixels contiguous per channel
  auto c = random_bf16(rows * ldc, 11);
  for (auto& v : c) v *= 3.3f;
  auto res_f = random_bf16(cols * col_stride, 12);
  std::vector<uint16_t> res_b(res_f.size());
  for (size_t i = 0; i < res_f.size(); ++i) res_b[i] = static_cast<uint16_t>(bits(res_f[i]) >> 16);
  std::vector<float> bias(cols);
  for (int64_t j = 0; j < cols; ++j) bias[j] = 0.25f * float(j) - 2.f;
  for (Isa isa : host_isas())
    for (int r = 0; r < 3; ++r)  // no residual, float residual, bf16 residual
      for (bool out_bf16 : {false, true})
        for (Activation act : {Activation::None, Activation::Relu}) {
          const Residual res = r == 0 ? Residual{} : r == 1 ? Residual{res_f.data(), false} : Residual{res_b.data(), true};
          std::vector<float> f32(cols * col_stride, -7.f);
          std::vector<uint16_t> b16(cols * col_stride, 0xdead);
          void* out = out_bf16 ? static_cast<void*>(b16.data()) : static_cast<void*>(f32.data());
          kernel_table(isa).epilogue(c.data(), ldc, rows, cols, bias.data(), act, res, out, out_bf16, 1, col_stride);
          for (int64_t j = 0; j < cols; ++j)
            for (int64_t i = 0; i < col_stride; ++i) {
              const int64_t o = j * col_stride + i;
              if (i >= rows) {  // nothing written between channels
                if (out_bf16) ASSERT_EQ(b16[o], 0xdead);
                else ASSERT_EQ(f32[o], -7.f);
                continue;
              }
              float v = c[i * ldc + j] + bias[j];
              if (r) v += res_f[o];
              if (act == Activation::Relu) v = std::max(0.f, v);
              if (out_bf16)
                ASSERT_EQ(b16[o], static_cast<uint16_t>(bits(static_cast<float>(c10::BFloat16(v))) >> 16))
                    << isa_name(isa) << " i " << i << " j " << j;
              else
                ASSERT_EQ(bits(f32[o]), bits(v)) << isa_name(isa) << " r " << r << " i " << i << " j " << j;
            }
        }
}

// Every ISA gives the scalar variant's bits for every activation (both epilogue forms,
// vector bodies and scalar tails), and the values are the activations within 4 ulp
// (SiLU's exp is a polynomial; GELU's erf a fit, within its error on top; the others are
// exact IEEE sequences).
TEST(Epilogue, ActivationsAgreeAcrossIsasAndWithTheirDefinitions) {
  const int64_t rows = 5, cols = 37, ldc = 40;
  std::vector<float> c(rows * ldc);
  for (int64_t i = 0; i < rows * ldc; ++i) c[i] = -12.f + 24.f * float(i) / float(rows * ldc);
  c[3] = std::numeric_limits<float>::quiet_NaN();
  c[4] = std::numeric_limits<float>::infinity();
  c[5] = -std::numeric_limits<float>::infinity();
  c[6] = -100.f;
  c[7] = 100.f;
  const float bias[40] = {0.25f, -0.5f, 1.f, 0.f, 2.f};
  auto reference = [](double v, Activation a) {
    if (std::isnan(v)) return v;  // every activation propagates NaN, as ATen's do
    switch (a) {
      case Activation::None: return v;
      case Activation::Relu: return std::max(0.0, v);
      case Activation::Relu6: return std::min(6.0, std::max(0.0, v));
      case Activation::Hardswish: return v * std::min(6.0, std::max(0.0, v + 3)) / 6;
      case Activation::Silu: return v / (1 + std::exp(-v));
      case Activation::Gelu: return 0.5 * v * std::erfc(-v / std::sqrt(2.0));  // NaN at -inf, as ATen
    }
    return v;
  };
  for (int a = 0; a < kNumActivations; ++a) {
    const auto act = static_cast<Activation>(a);
    std::vector<float> want_rows(rows * 64), want_cols(rows * 64);
    bool first = true;
    for (Isa isa : host_isas()) {
      std::vector<float> by_rows(rows * 64, 0.f), by_cols(rows * 64, 0.f);
      kernel_table(isa).epilogue_rows(c.data(), ldc, rows, cols, bias, act, {}, by_rows.data(), false, 64);
      kernel_table(isa).epilogue(c.data(), ldc, rows, cols, bias, act, {}, by_cols.data(), false, 1, rows);
      if (first) {
        want_rows = by_rows;
        want_cols = by_cols;
        first = false;
      }
      for (size_t i = 0; i < by_rows.size(); ++i) {
        ASSERT_EQ(bits(by_rows[i]), bits(want_rows[i])) << isa_name(isa) << " act " << a << " i " << i;
        ASSERT_EQ(bits(by_cols[i]), bits(want_cols[i])) << isa_name(isa) << " act " << a << " i " << i;
      }
    }
    // epilogue_rows: bias per row; epilogue (pixel rows): bias per column.
    for (int form = 0; form < 2; ++form)
      for (int64_t i = 0; i < rows; ++i)
        for (int64_t j = 0; j < cols; ++j) {
          const float v = c[i * ldc + j] + (form == 0 ? bias[i] : bias[j]);
          const double want = reference(v, act);
          const float got = form == 0 ? want_rows[i * 64 + j] : want_cols[j * rows + i];
          if (std::isnan(want)) {
            ASSERT_TRUE(std::isnan(got)) << "act " << a << " v " << v;
            continue;
          }
          if (std::isinf(want)) {
            ASSERT_EQ(double(got), want) << "act " << a << " v " << v;
            continue;
          }
          const double fit = act == Activation::Gelu ? 0.5 * std::abs(v) * 4e-7 : 0.0;  // erf's fit
          ASSERT_NEAR(got, want, 4 * 1.2e-7 * std::abs(want) + fit + 1e-37) << "act " << a << " v " << v;
        }
  }
}

// GELU over its whole working range, densely, on every ISA: the value of the erf form in
// double within the fit's absolute erf error (4e-7, times 0.5 |v|) plus 2 ulp of rounding.
TEST(Epilogue, GeluIsTheErfFormWithinTheFitsError) {
  const int64_t n = 1 << 16;
  std::vector<float> c(n), out(n);
  for (int64_t i = 0; i < n; ++i) c[i] = -13.f + 23.f * float(i) / float(n);
  for (Isa isa : host_isas()) {
    kernel_table(isa).epilogue_rows(c.data(), n, 1, n, nullptr, Activation::Gelu, {}, out.data(), false, n);
    double worst = 0, at = 0;
    for (int64_t i = 0; i < n; ++i) {
      const double v = c[i], want = 0.5 * v * std::erfc(-v / std::sqrt(2.0));
      const double e = std::abs(out[i] - want) / (0.5 * std::abs(v) * 4e-7 + 2 * 0x1p-23 * std::abs(want) + 1e-38);
      if (e > worst) worst = e, at = v;
    }
    EXPECT_LE(worst, 1.0) << isa_name(isa) << " at " << at;
    std::printf("%s: GELU worst error %.2f of the allowance, at %g\n", isa_name(isa), worst, at);
  }
}

TEST(Packing, PixelRunsGatherRunsAndZeroTheRest) {
  auto src = random_bf16(2000, 9);
  const int64_t kc = 5;
  const int64_t k_off[kc] = {0, 300, 600, 900, 1200};
  // Runs of every size class the packer special-cases: 1, 3, 4, 7, 8 ... then a gap.
  const PixelRun runs[] = {{0, 1, 10}, {1, 3, 50}, {4, 7, 100}, {11, 4, 150}};  // 15 of 16 columns
  std::vector<float> panel(kc * kNR, -1.f);
  pack_b_runs(src.data(), k_off, kc, runs, 4, panel.data());
  for (int64_t k = 0; k < kc; ++k)
    for (int j = 0; j < kNR; ++j) {
      float want = 0.f;
      for (const auto& r : runs)
        if (j >= r.j0 && j < r.j0 + r.len) want = src[k_off[k] + r.base + (j - r.j0)];
      ASSERT_EQ(panel[k * kNR + j], want) << "k=" << k << " j=" << j;
    }
  const PixelRun full[] = {{0, 16, 40}};
  pack_b_runs(src.data(), k_off, kc, full, 1, panel.data());
  for (int64_t k = 0; k < kc; ++k)
    for (int j = 0; j < kNR; ++j) ASSERT_EQ(panel[k * kNR + j], src[k_off[k] + 40 + j]);
}

// ---------------------------------------------------------------------------
// The native-bf16 GEMM family (bf16_gemm.h).
// ---------------------------------------------------------------------------
namespace {

uint16_t bf16_bits(float x) { return static_cast<uint16_t>(bits(round_to_bf16(x)) >> 16); }
float from_bits(uint16_t v) {
  const uint32_t u = uint32_t(v) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

const Isa kBf16Isas[] = {Isa::Avx512, Isa::Avx512Bf16, Isa::AmxBf16};

// The variants of the bf16 GEMM this host executes; names the others once.
std::vector<Isa> bf16_isas_here() {
  std::vector<Isa> out;
  for (Isa isa : kBf16Isas) {
    if (static_cast<int>(isa) <= static_cast<int>(detect_host_isa()))
      out.push_back(isa);
    else
      std::printf("[ NOT RUN  ] bf16 GEMM variant %s: host lacks it (host ISA %s%s%s)\n", isa_name(isa),
                  isa_name(detect_host_isa()), *isa_downgrade_reason() ? "; " : "", isa_downgrade_reason());
  }
  return out;
}

// A GEMM problem in the bf16 formats: A rows with taps (direct addressing) and the
// same A im2col-packed, B as [n][K] and VNNI panels.
struct Bf16Problem {
  int64_t rows, n, channels;
  int ntaps;
  std::vector<int64_t> tap_off;
  int64_t lda;
  std::vector<uint16_t> image, w, b_panels, a_packed;
  int64_t depth = kB16KChunk;  // the reduction padding: a multiple of every variant's k_depth
  int64_t K() const { return ntaps * channels; }
  int64_t Kp() const { return bf16_k_padded(K(), depth); }
  int64_t npanels() const { return ceil_div(n, kB16NR); }
  int64_t padded_rows() const { return round_up(rows, kB16RowBlock); }
  float a(int64_t i, int64_t p) const { return from_bits(image[i * lda + tap_off[p / channels] + p % channels]); }
  float b(int64_t p, int64_t j) const { return j < n ? from_bits(w[j * K() + p]) : 0.f; }
};

Bf16Problem make_problem(int64_t rows, int64_t n, int64_t channels, int ntaps, uint32_t seed,
                         int64_t depth = kB16KChunk) {
  Bf16Problem pr{rows, n, channels, ntaps, {}, 0, {}, {}, {}, {}, depth};
  pr.lda = ntaps * channels + 7;  // rows overlap the next rows' taps, as staged pixels do
  for (int t = 0; t < ntaps; ++t) pr.tap_off.push_back(t * channels + (t % 2));
  std::mt19937 gen(seed);
  std::normal_distribution<float> dist(0.f, 1.f);
  pr.image.resize(pr.padded_rows() * pr.lda + ntaps * channels + 64);
  for (auto& v : pr.image) v = bf16_bits(dist(gen));
  pr.w.resize(n * pr.K());
  for (auto& v : pr.w) v = bf16_bits(dist(gen));
  pr.b_panels.resize(pr.npanels() * pr.Kp() * kB16NR);
  pack_b_vnni(pr.w.data(), n, pr.K(), pr.Kp(), pr.b_panels.data());
  std::vector<const uint16_t*> rp(rows);
  for (int64_t i = 0; i < rows; ++i) rp[i] = pr.image.data() + i * pr.lda;
  pr.a_packed.resize(pr.padded_rows() * pr.Kp());
  pack_a_rows_bf16(rp.data(), static_cast<int>(rows), static_cast<int>(pr.padded_rows()), pr.tap_off.data(),
                   ntaps, channels, pr.Kp(), pr.a_packed.data());
  return pr;
}

// C of one call in packed-A form (ntaps = 1) into a padded buffer.
std::vector<float> run_packed(const Bf16Gemm& k, const Bf16Problem& pr, int64_t ldc) {
  std::vector<float> c(pr.padded_rows() * ldc, 0.f);
  const int64_t zero = 0;
  k.gemm(pr.a_packed.data(), pr.Kp(), &zero, 1, pr.Kp(), pr.rows, pr.b_panels.data(), pr.Kp() * kB16NR,
         pr.npanels(), c.data(), ldc, false);
  return c;
}

// The fp32 accumulation bound of tests/conv_bounds.py for exact bf16 products.
void expect_within_accumulation_bound(const std::vector<float>& c, int64_t ldc, const Bf16Problem& pr,
                                      const char* what) {
  for (int64_t i = 0; i < pr.rows; ++i)
    for (int64_t j = 0; j < pr.n; ++j) {
      double exact = 0, mag = 0;
      for (int64_t p = 0; p < pr.K(); ++p) {
        exact += double(pr.a(i, p)) * pr.b(p, j);
        mag += std::fabs(double(pr.a(i, p)) * pr.b(p, j));
      }
      const double bound = 2.0 * (pr.K() + 1) * std::ldexp(1.0, -24) * mag;
      ASSERT_LE(std::fabs(c[i * ldc + j] - exact), bound) << what << " i=" << i << " j=" << j;
    }
}

}  // namespace

TEST(Bf16Gemm, PackersLayOutVnniPairsAndZeroPad) {
  const auto pr = make_problem(5, 21, 13, 3, 11);  // K = 39: padded to 64; n = 21: two panels
  for (int64_t j = 0; j < pr.npanels() * kB16NR; ++j)
    for (int64_t p = 0; p < pr.Kp(); ++p) {
      const uint16_t got = pr.b_panels[(j / kB16NR) * pr.Kp() * kB16NR + (p / 2) * 2 * kB16NR + (j % kB16NR) * 2 + p % 2];
      ASSERT_EQ(got, j < pr.n && p < pr.K() ? pr.w[j * pr.K() + p] : 0) << "j=" << j << " p=" << p;
    }
  for (int64_t i = 0; i < pr.padded_rows(); ++i)
    for (int64_t p = 0; p < pr.Kp(); ++p) {
      const uint16_t got = pr.a_packed[i * pr.Kp() + p];
      const uint16_t want = i < pr.rows && p < pr.K()
                                ? pr.image[i * pr.lda + pr.tap_off[p / pr.channels] + p % pr.channels]
                                : 0;
      ASSERT_EQ(got, want) << "i=" << i << " p=" << p;
    }
}

TEST(Bf16Gemm, ShortRowPackerEqualsTheGenericOne) {
  // pack_a_rows_bf16 on each ISA the host runs (AVX-512: masked loads for rows of at most
  // 32 values) against the generic packer (Scalar): a 3-channel stem's kernel rows
  // (adjacent taps merged into runs), separate taps, rows past nrows, and a row just over
  // one vector.
  struct Case {
    int64_t channels, kw, kh, row_pixels;
    int nrows, out_rows;
  } cases[] = {{3, 3, 3, 40, 13, 16}, {1, 5, 5, 40, 7, 16}, {5, 1, 3, 40, 16, 16}, {2, 1, 1, 9, 3, 16},
               {3, 3, 3, 12, 1, 16}, {11, 3, 1, 40, 9, 16}};
  for (const auto& cs : cases) {
    const int64_t k = cs.channels * cs.kw * cs.kh, kp = bf16_k_padded(k, kB16KPair);
    const int64_t row_elems = cs.row_pixels * cs.channels;
    std::vector<int64_t> taps;
    for (int64_t h = 0; h < cs.kh; ++h)
      for (int64_t w = 0; w < cs.kw; ++w) taps.push_back(h * row_elems + w * cs.channels);
    const auto vals = random_bf16((cs.kh + 2) * row_elems + 64, 17);
    std::vector<uint16_t> image(vals.size());
    for (size_t i = 0; i < vals.size(); ++i) image[i] = bf16_bits(vals[i]);
    std::vector<const uint16_t*> rows;
    for (int i = 0; i < cs.nrows; ++i) rows.push_back(image.data() + 2 * i * cs.channels);  // stride 2
    std::vector<uint16_t> want(cs.out_rows * kp, 0xFFFF), got(want);
    pack_a_rows_bf16_on(Isa::Scalar, rows.data(), cs.nrows, cs.out_rows, taps.data(), static_cast<int>(taps.size()),
                        cs.channels, kp, want.data());
    for (Isa isa : host_isas()) {
      std::fill(got.begin(), got.end(), 0xFFFF);
      pack_a_rows_bf16_on(isa, rows.data(), cs.nrows, cs.out_rows, taps.data(), static_cast<int>(taps.size()),
                          cs.channels, kp, got.data());
      ASSERT_EQ(got, want) << isa_name(isa) << " channels " << cs.channels << " kp " << kp;
    }
  }
}

TEST(Bf16Gemm, RoundBitsAreRoundF32sTopHalfAndMinExponent) {
  std::vector<float> v = random_bf16(1000, 12);
  for (auto& x : v) x *= 1.37f;  // not bf16 values any more
  v.push_back(std::numeric_limits<float>::infinity());
  v.push_back(1e-39f);
  for (Isa isa : host_isas())
    for (Rounding m : {Rounding::Bf16, Rounding::Bf16Finite, Rounding::Bf16Lo}) {
      const auto& kt = kernel_table(isa);
      std::vector<float> f(v.size());
      std::vector<uint16_t> b(v.size());
      kt.round_f32(v.data(), f.data(), v.size(), m);
      kt.round_bits(v.data(), b.data(), v.size(), m);
      for (size_t i = 0; i < v.size(); ++i) {
        ASSERT_EQ(uint32_t(b[i]) << 16, bits(f[i])) << isa_name(isa) << " " << v[i];
      }
      const uint16_t mixed[] = {0, 0x8000, bf16_bits(0.5f), bf16_bits(-3e-30f), bf16_bits(7.f)};
      EXPECT_EQ(kt.min_exponent(mixed, 5), 127 - 99) << isa_name(isa);  // 3e-30 = 1.9 * 2^-99
      EXPECT_EQ(kt.min_exponent(mixed, 2), 255);
      const uint16_t denormal[] = {bf16_bits(1.f), 0x0001};
      EXPECT_EQ(kt.min_exponent(denormal, 2), 0);
    }
  EXPECT_TRUE(bf16_products_normal(127 - 50, 127 - 50));
  EXPECT_FALSE(bf16_products_normal(127 - 50, 127 - 51));
}

TEST(Bf16Gemm, RoundBf16F32IsWidenThenRound) {
  // The one-pass staging of bfloat16 rows against its two-pass form, every ISA and
  // rounding, over normal values, +-0, +-inf, NaNs, denormals and a ragged tail.
  std::vector<uint16_t> src;
  for (float v : random_bf16(997, 23)) src.push_back(bf16_bits(v));
  for (uint16_t special : {0x0000, 0x8000, 0x7F80, 0xFF80, 0x7FC0, 0x7F81, 0xFFC1, 0x0001, 0x807F, 0x0080})
    src.push_back(special);
  for (Isa isa : host_isas())
    for (Rounding m : {Rounding::Bf16, Rounding::Bf16Finite, Rounding::Bf16Lo, Rounding::None}) {
      const auto& kt = kernel_table(isa);
      std::vector<float> wide(src.size()), want(src.size()), got(src.size());
      kt.widen_bf16(src.data(), static_cast<int64_t>(src.size()), wide.data());
      kt.round_f32(wide.data(), want.data(), static_cast<int64_t>(src.size()), m);
      kt.round_bf16_f32(src.data(), got.data(), static_cast<int64_t>(src.size()), m);
      for (size_t i = 0; i < src.size(); ++i)
        ASSERT_EQ(bits(got[i]), bits(want[i])) << isa_name(isa) << " mode " << static_cast<int>(m) << " i=" << i;
    }
}

TEST(Bf16Gemm, VectorVariantsMatchTheirScalarModelsBitExactly) {
  const auto isas = bf16_isas_here();
  struct Shape {
    int64_t rows, n, channels;
    int ntaps;
  } shapes[] = {{6, 16, 32, 1}, {37, 50, 64, 3}, {16, 33, 96, 2}, {9, 5, 32, 9}};
  for (Isa isa : isas) {
    const Bf16Gemm* ref = bf16_gemm_reference(isa);
    if (!ref) continue;  // AMX: see the bound test below
    for (const auto& sh : shapes) {
      const auto pr = make_problem(sh.rows, sh.n, sh.channels, sh.ntaps, 13);
      const int64_t ldc = pr.npanels() * kB16NR + 3;
      for (bool direct : {false, true}) {
        std::vector<float> got(pr.padded_rows() * ldc, 0.f), want(got);
        for (const Bf16Gemm* k : {bf16_gemm(isa), ref}) {
          auto& c = k == ref ? want : got;
          // Two calls: the second accumulates (as a later bf16x3 pass does).
          for (int pass = 0; pass < 2; ++pass) {
            if (direct)
              k->gemm(pr.image.data(), pr.lda, pr.tap_off.data(), pr.ntaps, pr.channels, pr.rows,
                      pr.b_panels.data(), pr.Kp() * kB16NR, pr.npanels(), c.data(), ldc, pass > 0);
            else {
              const int64_t zero = 0;
              k->gemm(pr.a_packed.data(), pr.Kp(), &zero, 1, pr.Kp(), pr.rows, pr.b_panels.data(),
                      pr.Kp() * kB16NR, pr.npanels(), c.data(), ldc, pass > 0);
            }
          }
        }
        for (int64_t i = 0; i < pr.rows; ++i)
          for (int64_t j = 0; j < pr.npanels() * kB16NR; ++j)
            ASSERT_EQ(bits(got[i * ldc + j]), bits(want[i * ldc + j]))
                << isa_name(isa) << (direct ? " direct" : " packed") << " rows=" << sh.rows << " i=" << i << " j=" << j;
      }
    }
  }
}

TEST(Bf16Gemm, PairDepthVariantsMatchTheirModelsAndTheChunkPaddedSums) {
  // The vector variants pad the reduction to one pair (k_depth 2), not to AMX's 32:
  // channel counts like 16 and 24 multiply no zeros. Per variant: bit-exact against its
  // scalar model in both A forms, and equal in value to the 32-padded form (a zero
  // product adds nothing; only a -0 sum may come out +0).
  struct Shape {
    int64_t rows, n, channels;
    int ntaps;
  } shapes[] = {{12, 96, 16, 1}, {37, 50, 24, 3}, {9, 20, 2, 9}, {21, 16, 3, 1}};
  for (Isa isa : bf16_isas_here()) {
    const Bf16Gemm* k = bf16_gemm(isa);
    const Bf16Gemm* ref = bf16_gemm_reference(isa);
    if (k->k_depth != kB16KPair) {
      EXPECT_EQ(k->k_depth, kB16KChunk) << isa_name(isa);
      continue;
    }
    ASSERT_NE(ref, nullptr) << isa_name(isa);
    for (const auto& sh : shapes) {
      const auto pr = make_problem(sh.rows, sh.n, sh.channels, sh.ntaps, 31, kB16KPair);
      const auto wide = make_problem(sh.rows, sh.n, sh.channels, sh.ntaps, 31, kB16KChunk);
      ASSERT_EQ(pr.Kp(), round_up(pr.K(), 2));
      const int64_t ldc = pr.npanels() * kB16NR;
      const auto got = run_packed(*k, pr, ldc), want = run_packed(*ref, pr, ldc), padded = run_packed(*k, wide, ldc);
      const bool direct_ok = sh.channels % 2 == 0;
      std::vector<float> direct(pr.padded_rows() * ldc);
      if (direct_ok)
        k->gemm(pr.image.data(), pr.lda, pr.tap_off.data(), pr.ntaps, pr.channels, pr.rows, pr.b_panels.data(),
                pr.Kp() * kB16NR, pr.npanels(), direct.data(), ldc, false);
      for (int64_t i = 0; i < pr.rows; ++i)
        for (int64_t j = 0; j < pr.n; ++j) {
          const int64_t e = i * ldc + j;
          ASSERT_EQ(bits(got[e]), bits(want[e])) << isa_name(isa) << " K=" << pr.K() << " i=" << i << " j=" << j;
          ASSERT_EQ(got[e], padded[e]) << isa_name(isa) << " K=" << pr.K() << " i=" << i << " j=" << j;
          if (direct_ok) ASSERT_EQ(bits(direct[e]), bits(got[e])) << isa_name(isa) << " direct i=" << i << " j=" << j;
        }
    }
  }
}

TEST(Bf16Gemm, FusedOutputIsGemmThenTheEpilogue) {
  // gemm_out (the epilogue in the kernel's registers) against gemm then the host
  // epilogue, bit for bit: every activation, with and without bias (per column, or per
  // row as channel rows take it) and a residual (fp32 and bf16), fp32 and bf16 outputs,
  // a dropped row, an accumulating second pass.
  for (Isa isa : bf16_isas_here()) {
    const Bf16Gemm& k = *bf16_gemm(isa);
    if (!k.gemm_out) {
      std::printf("[ NOTE     ] bf16 GEMM variant %s has no fused output (C then the epilogue)\n", isa_name(isa));
      continue;
    }
    const KernelTable& kt = kernel_table(Isa::Avx512);
    // 21 rows: a partial last block; 25: a lone last row (its own register block).
    for (int64_t nrows : {21, 25}) {
      const auto pr = make_problem(nrows, 64, 32, 2, 41, kB16KPair);
      const int64_t ldc = pr.npanels() * kB16NR, ld_out = ldc + 5, zero = 0;
      std::vector<float> bias(ldc), row_bias(pr.padded_rows()), res32(pr.padded_rows() * ld_out);
      std::mt19937 gen(42);
      std::normal_distribution<float> dist(0.f, 2.f);
      for (auto& v : bias) v = dist(gen);
      for (auto& v : row_bias) v = dist(gen);
      for (auto& v : res32) v = dist(gen);
      std::vector<uint16_t> res16(res32.size());
      for (size_t i = 0; i < res32.size(); ++i) res16[i] = bf16_bits(res32[i]);
      for (int act = 0; act < kNumActivations; ++act)
        for (int variant = 0; variant < 16; ++variant) {
          const bool with_bias = variant & 1, bf16_out = variant & 2, two_pass = variant & 4, per_row = variant & 8;
          if (per_row && !with_bias) continue;
          for (int res_kind = 0; res_kind < 3; ++res_kind) {  // none, fp32, bf16
            const Residual res{res_kind == 0 ? nullptr : res_kind == 1 ? static_cast<const void*>(res32.data())
                                                                        : static_cast<const void*>(res16.data()),
                               res_kind == 2};
            const int64_t esize = bf16_out ? 2 : 4;
            std::vector<char> want(pr.padded_rows() * ld_out * esize, 0), got(want);
            std::vector<float> c(pr.padded_rows() * ldc, 0.f);
            if (two_pass) run_packed(k, pr, ldc).swap(c);
            std::vector<float> c2 = c;
            k.gemm(pr.a_packed.data(), pr.Kp(), &zero, 1, pr.Kp(), pr.rows, pr.b_panels.data(), pr.Kp() * kB16NR,
                   pr.npanels(), c2.data(), ldc, two_pass);
            for (int64_t i = 0; i < pr.rows; ++i) {
              if (i == 5) continue;  // the dropped row
              const std::vector<float> bias_i = per_row ? std::vector<float>(ldc, row_bias[i]) : bias;
              kt.epilogue(c2.data() + i * ldc, ldc, 1, ldc, with_bias ? bias_i.data() : nullptr, Activation(act),
                          res.data ? Residual{static_cast<const char*>(res.data) + i * ld_out * (res.bf16 ? 2 : 4), res.bf16}
                                   : Residual{},
                          want.data() + i * ld_out * esize, bf16_out, ld_out, 1);
            }
            std::vector<char*> rows(pr.padded_rows(), nullptr);
            std::vector<const char*> res_rows(pr.padded_rows(), nullptr);
            for (int64_t i = 0; i < pr.rows; ++i) {
              if (i == 5) continue;
              rows[i] = got.data() + i * ld_out * esize;
              if (res.data) res_rows[i] = static_cast<const char*>(res.data) + i * ld_out * (res.bf16 ? 2 : 4);
            }
            // All channels, and a partial last panel (40 = 2.5 panels, 24 = 1.5): only the first
            // `cols` of each row are written.
            for (int64_t cols : {int64_t(0), int64_t(40), int64_t(24)}) {
              std::vector<char> part(want);
              for (int64_t i = 0; cols > 0 && i < pr.rows; ++i)
                std::memset(part.data() + (i * ld_out + cols) * esize, 0, (ldc - cols) * esize);
              std::fill(got.begin(), got.end(), 0);
              const Bf16Out out{{rows.data()}, {res.data ? res_rows.data() : nullptr}, res.bf16,
                                with_bias ? (per_row ? row_bias.data() : bias.data()) : nullptr, Activation(act),
                                bf16_out, cols, per_row};
              k.gemm_out(pr.a_packed.data(), pr.Kp(), &zero, 1, pr.Kp(), pr.rows, pr.b_panels.data(),
                         pr.Kp() * kB16NR, pr.npanels(), c.data(), ldc, two_pass, out);
              ASSERT_EQ(0, std::memcmp(got.data(), part.data(), got.size()))
                  << isa_name(isa) << " act " << act << " variant " << variant << " residual " << res_kind
                  << " rows " << nrows << " cols " << cols;
            }
          }
        }
    }
  }
}

TEST(Bf16Gemm, FusedOutputRoundsSpecialValuesAsTheEpilogue) {
  // The fused output converts to bf16 with the hardware's instruction where that
  // equals the emulator's rounding: outputs that are NaNs (with payloads), denormals,
  // infinities, signed zeros, overflow and ties must still come out as the host
  // epilogue writes them. A is zero, so each output is the residual (+ bias).
  for (Isa isa : bf16_isas_here()) {
    const Bf16Gemm& k = *bf16_gemm(isa);
    if (!k.gemm_out) continue;
    const KernelTable& kt = kernel_table(Isa::Avx512);
    const int64_t rows = 16, kp = 4, npanels = 2, ldc = npanels * kB16NR, zero = 0;
    std::vector<uint16_t> a(rows * kp, 0), b(npanels * kp * kB16NR, 0x3f80);
    const float specials[] = {std::numeric_limits<float>::quiet_NaN(),
                              float_of(0x7fa00001u),  // signalling NaN with a payload
                              float_of(0xffc12345u),  // negative quiet NaN with a payload
                              std::numeric_limits<float>::denorm_min(),
                              -std::numeric_limits<float>::denorm_min(),
                              float_of(0x007fffffu),  // the largest denormal: rounds to a normal
                              float_of(0x00008000u),  // a denormal tie
                              std::numeric_limits<float>::infinity(),
                              -std::numeric_limits<float>::infinity(),
                              0.f, -0.f,
                              std::numeric_limits<float>::max(),  // rounds to +inf
                              float_of(0x3f808000u),            // a tie to even (down)
                              float_of(0x3f818000u),            // a tie to even (up)
                              std::numeric_limits<float>::min(),
                              1.f};
    std::vector<float> res(rows * ldc);
    for (size_t i = 0; i < res.size(); ++i) res[i] = specials[(i * 7 + i / ldc) % 16];
    for (int with_bias = 0; with_bias < 2; ++with_bias) {
      std::vector<float> bias(ldc, with_bias ? -0.f : 0.f);  // no bias, or a bias that keeps every value
      for (int act = 0; act < kNumActivations; ++act) {
        std::vector<uint16_t> want(rows * ldc), got(rows * ldc);
        std::vector<float> c(rows * ldc, 0.f);
        for (int64_t i = 0; i < rows; ++i)
          kt.epilogue(c.data() + i * ldc, ldc, 1, ldc, with_bias ? bias.data() : nullptr, Activation(act),
                      Residual{res.data() + i * ldc, false}, want.data() + i * ldc, true, ldc, 1);
        const Bf16Out out{{nullptr, reinterpret_cast<char*>(got.data()), ldc * 2},
                          {nullptr, reinterpret_cast<const char*>(res.data()), ldc * 4}, false,
                          with_bias ? bias.data() : nullptr, Activation(act), true};
        k.gemm_out(a.data(), kp, &zero, 1, kp, rows, b.data(), kp * kB16NR, npanels, nullptr, ldc, false, out);
        for (size_t i = 0; i < want.size(); ++i)
          ASSERT_EQ(want[i], got[i]) << isa_name(isa) << " act " << act << " bias " << with_bias << " element " << i
                                     << " residual bits " << std::hex << bits(res[i]);
      }
    }
  }
}

TEST(Bf16Gemm, ExactVariantIsTheFp32PanelChain) {
  if (static_cast<int>(detect_host_isa()) < static_cast<int>(Isa::Avx512)) {
    std::printf("[ NOT RUN  ] exact bf16 GEMM: host lacks avx512f\n");
    return;
  }
  // K a multiple of 32: no padding, the same terms as the fp32 kernel in the same order.
  const auto pr = make_problem(kMR, kNR, 64, 2, 14);
  std::vector<float> apanel(pr.K() * kMR), bpanel(pr.K() * kNR), c32(kMR * kNR);
  for (int64_t p = 0; p < pr.K(); ++p) {
    for (int i = 0; i < kMR; ++i) apanel[p * kMR + i] = pr.a(i, p);
    for (int j = 0; j < kNR; ++j) bpanel[p * kNR + j] = pr.b(p, j);
  }
  kernel_table(Isa::Avx512).gemm_packed(pr.K(), apanel.data(), bpanel.data(), c32.data(), kNR, false);
  const auto c = run_packed(*bf16_gemm(Isa::Avx512), pr, kB16NR);
  for (int i = 0; i < kMR; ++i)
    for (int j = 0; j < kNR; ++j) ASSERT_EQ(bits(c[i * kB16NR + j]), bits(c32[i * kNR + j])) << i << "," << j;
}

TEST(Bf16Gemm, Dpbf16FlushesDenormalsAsItsModel) {
  if (static_cast<int>(detect_host_isa()) < static_cast<int>(Isa::Avx512Bf16)) {
    std::printf("[ NOT RUN  ] vdpbf16ps denormal cases: host lacks avx512_bf16\n");
    return;
  }
  // One row, one panel, K = 32 (one pair used): denormal inputs, an underflowing
  // product, a denormal partial sum between the pair's two FMAs.
  const float t126 = std::ldexp(1.f, -126);
  const float cases[][5] = {
      // c0, a_even, a_odd, b_even, b_odd
      {0.f, 9e-40f, 0.f, 1.f, 0.f},       {1e-39f, 0.f, 0.f, 0.f, 0.f},
      {0.f, 1e-20f, 0.f, 1e-20f, 0.f},    {-t126, 1.f, t126, t126, 1.5f},
      {0.f, -1e-20f, 0.f, 1e-20f, 0.f},   {t126, -1.f, -t126, t126, 1.5f}};
  for (const auto& cs : cases) {
    std::vector<uint16_t> a(kB16RowBlock * 32, 0), w(32, 0), b(16 * 32);
    a[0] = bf16_bits(cs[1]);
    a[1] = bf16_bits(cs[2]);
    w[0] = bf16_bits(cs[3]);
    w[1] = bf16_bits(cs[4]);
    pack_b_vnni(w.data(), 1, 32, 32, b.data());
    const int64_t zero = 0;
    std::vector<float> got(kB16RowBlock * kB16NR, cs[0]), want(got);
    bf16_gemm(Isa::Avx512Bf16)->gemm(a.data(), 32, &zero, 1, 32, 1, b.data(), 0, 1, got.data(), kB16NR, true);
    bf16_gemm_reference(Isa::Avx512Bf16)->gemm(a.data(), 32, &zero, 1, 32, 1, b.data(), 0, 1, want.data(), kB16NR, true);
    EXPECT_EQ(bits(got[0]), bits(want[0])) << "c=" << cs[0] << " a=" << cs[1] << "," << cs[2];
  }
}

TEST(Bf16Gemm, AmxWithinTheAccumulationBoundAndNearVdpbf16ps) {
  if (static_cast<int>(detect_host_isa()) < static_cast<int>(Isa::AmxBf16)) {
    std::printf("[ NOT RUN  ] AMX bf16 GEMM: host lacks amx_bf16 (or the tile permission)%s%s\n",
                *isa_downgrade_reason() ? ": " : "", isa_downgrade_reason());
    return;
  }
  const Bf16Gemm& amx = *bf16_gemm(Isa::AmxBf16);
  for (int64_t channels : {32, 64, 256}) {
    const auto pr = make_problem(45, 40, channels, 3, 15);
    const int64_t ldc = pr.npanels() * kB16NR;
    const auto c = run_packed(amx, pr, ldc);
    expect_within_accumulation_bound(c, ldc, pr, "amx");
    // Against vdpbf16ps: both within the bound of the exact sum, so within twice it.
    const auto d = run_packed(*bf16_gemm(Isa::Avx512Bf16), pr, ldc);
    for (int64_t i = 0; i < pr.rows; ++i)
      for (int64_t j = 0; j < pr.n; ++j) {
        double mag = 0;
        for (int64_t p = 0; p < pr.K(); ++p) mag += std::fabs(double(pr.a(i, p)) * pr.b(p, j));
        ASSERT_LE(std::fabs(double(c[i * ldc + j]) - d[i * ldc + j]),
                  4.0 * (pr.K() + 1) * std::ldexp(1.0, -24) * mag);
      }
  }
}

TEST(Bf16Gemm, EveryVariantIsPositionFreeAndDirectEqualsPacked) {
  // What determinism across thread counts and memory formats rests on: an output's
  // bits depend on its A row, its B column and Kp only, not on the tile it lands in,
  // the row/panel counts of the call, or whether A is read direct or packed.
  for (Isa isa : bf16_isas_here()) {
    const Bf16Gemm& k = *bf16_gemm(isa);
    const auto pr = make_problem(50, 48, 64, 3, 16);
    const int64_t ldc = pr.npanels() * kB16NR;
    const auto whole = run_packed(k, pr, ldc);
    // Rows 17.. computed as their own call (different tile rows), one panel at a time.
    const int64_t r0 = 17, zero = 0;
    for (int64_t p = 0; p < pr.npanels(); ++p) {
      std::vector<float> part(kB16RowBlock * 3 * kB16NR);
      k.gemm(pr.a_packed.data() + r0 * pr.Kp(), pr.Kp(), &zero, 1, pr.Kp(), pr.rows - r0,
             pr.b_panels.data() + p * pr.Kp() * kB16NR, 0, 1, part.data(), kB16NR, false);
      for (int64_t i = 0; i < pr.rows - r0; ++i)
        for (int j = 0; j < kB16NR; ++j)
          ASSERT_EQ(bits(part[i * kB16NR + j]), bits(whole[(r0 + i) * ldc + p * kB16NR + j]))
              << isa_name(isa) << " i=" << i << " panel " << p;
    }
    std::vector<float> direct(pr.padded_rows() * ldc);
    k.gemm(pr.image.data(), pr.lda, pr.tap_off.data(), pr.ntaps, pr.channels, pr.rows, pr.b_panels.data(),
           pr.Kp() * kB16NR, pr.npanels(), direct.data(), ldc, false);
    for (int64_t i = 0; i < pr.rows * ldc; ++i)
      ASSERT_EQ(bits(direct[i]), bits(whole[i])) << isa_name(isa) << " direct @" << i;
  }
}

TEST(Bf16Gemm, PixelRunPanelsRoundAndInterleavePairs) {
  std::vector<float> src = random_bf16(3000, 17);
  for (auto& v : src) v *= 1.37f;  // not bf16 values: the packer rounds them
  const int64_t k = 7, kp = bf16_k_padded(k);
  std::vector<int64_t> k_off(k);
  for (int64_t p = 0; p < k; ++p) k_off[p] = p * 300 + 3;
  const PixelRun split[] = {{0, 5, 10}, {5, 9, 100}};  // 14 of 16 columns
  const PixelRun whole[] = {{0, 16, 40}};
  for (Isa isa : host_isas())
    for (Rounding m : {Rounding::Bf16, Rounding::Bf16Lo, Rounding::None})
      for (int shape = 0; shape < 2; ++shape) {
        const PixelRun* runs = shape ? whole : split;
        const int nruns = shape ? 1 : 2;
        // Two panels: this one and a copy (shifted by one pixel), packed together.
        PixelRun both[2][kB16NR];
        for (int r = 0; r < nruns; ++r) {
          both[0][r] = runs[r];
          both[1][r] = PixelRun{runs[r].j0, runs[r].len, runs[r].base + 1};
        }
        const int counts[2] = {nruns, nruns};
        std::vector<uint16_t> two(2 * kp * kB16NR, 0xFFFF);
        kernel_table(isa).pack_b_runs_vnni(src.data(), k_off.data(), k, kp, &both[0][0], counts, 2, m, two.data());
        std::vector<uint16_t> panel(two.begin(), two.begin() + kp * kB16NR);
        std::vector<float> shifted(src.begin() + 1, src.end());
        std::vector<uint16_t> second(kp * kB16NR);
        kernel_table(isa).pack_b_runs_vnni(shifted.data(), k_off.data(), k, kp, &both[0][0], counts, 1, m, second.data());
        ASSERT_TRUE(std::equal(second.begin(), second.end(), two.begin() + kp * kB16NR)) << isa_name(isa);
        for (int64_t p = 0; p < kp; ++p)
          for (int j = 0; j < kB16NR; ++j) {
            float v = 0.f;
            for (int r = 0; r < nruns; ++r)
              if (p < k && j >= runs[r].j0 && j < runs[r].j0 + runs[r].len)
                v = src[k_off[p] + runs[r].base + (j - runs[r].j0)];
            float want_f;
            kernel_table(Isa::Scalar).round_f32(&v, &want_f, 1, m == Rounding::None ? Rounding::Bf16 : m);
            // None takes the top half as it is (the values are bf16 values there).
            const uint16_t want = m == Rounding::None ? uint16_t(bits(v) >> 16) : uint16_t(bits(want_f) >> 16);
            ASSERT_EQ(panel[(p / 2) * 2 * kB16NR + j * 2 + p % 2], want)
                << isa_name(isa) << " mode " << int(m) << " p=" << p << " j=" << j;
          }
      }
}

// min_exponent against its definition (the smallest exponent field among non-zero
// values, 255 if none) over every bf16 bit pattern, one at a time and mixed in vectors
// of odd lengths, so that each ISA's vector body and tail both see each pattern.
TEST(Bf16Gemm, MinExponentIsTheSmallestNonZeroExponentField) {
  auto reference = [](const uint16_t* p, int64_t n) {
    int m = 255;
    for (int64_t i = 0; i < n; ++i)
      if (p[i] & 0x7FFF) m = std::min(m, (p[i] & 0x7FFF) >> 7);
    return m;
  };
  std::mt19937 gen(5);
  for (Isa isa : host_isas()) {
    const auto& kt = kernel_table(isa);
    for (uint32_t b = 0; b < 0x10000; ++b) {
      const uint16_t one = static_cast<uint16_t>(b);
      ASSERT_EQ(kt.min_exponent(&one, 1), reference(&one, 1)) << isa_name(isa) << " " << b;
    }
    for (int trial = 0; trial < 200; ++trial) {
      std::vector<uint16_t> v(1 + gen() % 150);
      for (auto& x : v) x = gen() % 4 == 0 ? static_cast<uint16_t>(gen() & 0x8000) : static_cast<uint16_t>(gen());
      ASSERT_EQ(kt.min_exponent(v.data(), v.size()), reference(v.data(), v.size())) << isa_name(isa) << " n " << v.size();
    }
  }
}

TEST(Bf16Gemm, MinExponentOfRoundingsMatchesTheStagedBits) {
  std::vector<float> v = random_bf16(999, 18);
  for (auto& x : v) x = x * 1.37f * 1e-20f;
  v[500] = 1.9999999f * std::ldexp(1.f, -90);  // rounds up into the next binade
  for (Isa isa : host_isas()) {
    const auto& kt = kernel_table(isa);
    std::vector<uint16_t> b(v.size());
    kt.round_bits(v.data(), b.data(), v.size(), Rounding::Bf16);
    EXPECT_EQ(kt.min_exponent_rounded(v.data(), v.size()), kt.min_exponent(b.data(), b.size())) << isa_name(isa);
    const float tiny[] = {0.f, 1.9999999f * std::ldexp(1.f, -90)};
    EXPECT_EQ(kt.min_exponent_rounded(tiny, 2), 127 - 89) << isa_name(isa);
  }
}

TEST(Epilogue, PlanarOutputsFromPixelRowTilesBiasReluRounding) {
  // C[pixel][channel] written channel-planar (row stride 1).
  const int64_t rows = 37, cols = 35, ldc = 40, plane = 50;
  auto c = random_bf16(rows * ldc, 19);
  for (auto& v : c) v *= 3.3f;
  auto bias = random_bf16(cols, 20);
  for (Isa isa : host_isas())
    for (bool relu : {false, true}) {
      std::vector<float> f32(cols * plane, -7.f);
      std::vector<uint16_t> b16(cols * plane, 0);
      kernel_table(isa).epilogue(c.data(), ldc, rows, cols, bias.data(), relu ? aie_kernels::Activation::Relu : aie_kernels::Activation::None,
                                 aie_kernels::Residual{}, f32.data(), false, 1, plane);
      kernel_table(isa).epilogue(c.data(), ldc, rows, cols, bias.data(), relu ? aie_kernels::Activation::Relu : aie_kernels::Activation::None,
                                 aie_kernels::Residual{}, b16.data(), true, 1, plane);
      for (int64_t j = 0; j < cols; ++j)
        for (int64_t i = 0; i < plane; ++i) {
          if (i >= rows) {
            ASSERT_EQ(f32[j * plane + i], -7.f);
            continue;
          }
          float v = c[i * ldc + j] + bias[j];
          if (relu) v = std::max(0.f, v);
          ASSERT_EQ(bits(f32[j * plane + i]), bits(v)) << isa_name(isa) << " i=" << i << " j=" << j;
          ASSERT_EQ(b16[j * plane + i], bf16_bits(v)) << isa_name(isa);
        }
    }
}

TEST(Bf16Gemm, RoundTransposeStagesPlanarRowsAsPixelRows) {
  const int64_t C = 35, W = 37, ld = 41;
  auto src = random_bf16(C * ld, 21);
  for (auto& v : src) v *= 1.37f;
  for (Isa isa : host_isas())
    for (Rounding m : {Rounding::Bf16, Rounding::Bf16Lo}) {
      std::vector<uint16_t> got(W * C, 0xFFFF);
      kernel_table(isa).round_transpose_bits(src.data(), ld, C, W, got.data(), m);
      for (int64_t c = 0; c < C; ++c) {
        std::vector<uint16_t> row(W);
        kernel_table(Isa::Scalar).round_bits(src.data() + c * ld, row.data(), W, m);
        for (int64_t w = 0; w < W; ++w) ASSERT_EQ(got[w * C + c], row[w]) << isa_name(isa) << " c=" << c << " w=" << w;
      }
    }
}

// The squeeze-excite gate in staging: x * scale[c] (one fp32 multiply, as ATen's mul),
// then round_bits' rounding; bf16 sources round the product to bf16 (ATen's bf16 mul).
// C = 35: whole vectors and a tail per pixel on every ISA.
TEST(Bf16Gemm, ScaleRoundBitsMultipliesThenRounds) {
  const int64_t C = 35, W = 9;
  auto src = random_bf16(C * W, 25);
  for (auto& v : src) v *= 1.37f;  // not bf16 values any more: the rounding matters
  auto scale = random_bf16(C, 26);
  scale[3] = 0.f;
  scale[4] = -std::numeric_limits<float>::infinity();
  std::vector<float> prod(C * W);
  for (int64_t i = 0; i < C * W; ++i) prod[i] = src[i] * scale[i % C];
  std::vector<uint16_t> src_bits(C * W);
  kernel_table(Isa::Scalar).round_bits(src.data(), src_bits.data(), C * W, Rounding::Bf16);
  std::vector<float> bf16_prod(C * W);
  for (int64_t i = 0; i < C * W; ++i) bf16_prod[i] = c10::BFloat16(c10::BFloat16(src_bits[i], c10::BFloat16::from_bits()) * scale[i % C]);
  for (Isa isa : host_isas()) {
    const auto& kt = kernel_table(isa);
    for (Rounding m : {Rounding::Bf16, Rounding::Bf16Lo, Rounding::None}) {
      std::vector<uint16_t> got(C * W, 0xFFFF), want(C * W);
      kt.scale_round_bits(src.data(), scale.data(), C, W, got.data(), m);
      kernel_table(Isa::Scalar).round_bits(prod.data(), want.data(), C * W, m);
      for (int64_t i = 0; i < C * W; ++i) ASSERT_EQ(got[i], want[i]) << isa_name(isa) << " mode " << int(m) << " i=" << i;
    }
    std::vector<uint16_t> got(C * W, 0xFFFF);
    kt.scale_round_bits_bf16(src_bits.data(), scale.data(), C, W, got.data());
    for (int64_t i = 0; i < C * W; ++i)
      ASSERT_EQ(got[i], c10::BFloat16(bf16_prod[i]).x) << isa_name(isa) << " bf16 i=" << i;
  }
}

// The fp32 form (NCHW rows staged for the float kernels' pixel rows): round_f32's values,
// transposed, for blocks and both edges.
TEST(RoundTranspose, StagesPlanarRowsAsPixelRowsWithRoundF32Values) {
  const int64_t C = 35, W = 37, ld = 41;
  auto src = random_bf16(C * ld, 23);
  for (auto& v : src) v *= 1.37f;
  for (Isa isa : host_isas())
    for (Rounding m : {Rounding::Bf16, Rounding::Bf16Lo, Rounding::Bf16Finite, Rounding::None}) {
      std::vector<float> got(W * C, -9.f);
      kernel_table(isa).round_transpose(src.data(), ld, C, W, got.data(), m);
      for (int64_t c = 0; c < C; ++c) {
        std::vector<float> row(W);
        kernel_table(Isa::Scalar).round_f32(src.data() + c * ld, row.data(), W, m);
        for (int64_t w = 0; w < W; ++w)
          ASSERT_EQ(bits(got[w * C + c]), bits(row[w])) << isa_name(isa) << " c=" << c << " w=" << w;
      }
    }
}

TEST(Bf16Gemm, EveryVariantIsSymmetricInItsOperands) {
  // The channel-row form computes C^T = W X^T with the weights as A and the pixels as
  // B; the pixel-row form C = X W^T. A conv gives the same bits in either memory format
  // only if every variant is symmetric in its two operands.
  const int64_t m = 40, n = 24, k = 96 * 3, kp = bf16_k_padded(k);
  std::mt19937 gen(22);
  std::normal_distribution<float> dist(0.f, 1.f);
  std::vector<uint16_t> x(m * k), w(n * k);
  for (auto& v : x) v = bf16_bits(dist(gen));
  for (auto& v : w) v = bf16_bits(dist(gen));
  auto rows_of = [&](const std::vector<uint16_t>& src, int64_t count) {
    std::vector<const uint16_t*> rp(count);
    for (int64_t i = 0; i < count; ++i) rp[i] = src.data() + i * k;
    std::vector<uint16_t> out(round_up(count, kB16RowBlock) * kp);
    const int64_t no_offset = 0;
    pack_a_rows_bf16(rp.data(), static_cast<int>(count), static_cast<int>(round_up(count, kB16RowBlock)), &no_offset,
                     1, k, kp, out.data());
    return out;
  };
  auto panels_of = [&](const std::vector<uint16_t>& src, int64_t count) {
    std::vector<uint16_t> out(ceil_div(count, kB16NR) * kp * kB16NR);
    pack_b_vnni(src.data(), count, k, kp, out.data());
    return out;
  };
  const auto xa = rows_of(x, m), wa = rows_of(w, n), xb = panels_of(x, m), wb = panels_of(w, n);
  const int64_t zero = 0, ldc1 = round_up(n, kB16NR), ldc2 = round_up(m, kB16NR);
  for (Isa isa : bf16_isas_here()) {
    const Bf16Gemm& g = *bf16_gemm(isa);
    std::vector<float> c1(round_up(m, kB16RowBlock) * ldc1), c2(round_up(n, kB16RowBlock) * ldc2);
    g.gemm(xa.data(), kp, &zero, 1, kp, m, wb.data(), kp * kB16NR, ceil_div(n, kB16NR), c1.data(), ldc1, false);
    g.gemm(wa.data(), kp, &zero, 1, kp, n, xb.data(), kp * kB16NR, ceil_div(m, kB16NR), c2.data(), ldc2, false);
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j)
        ASSERT_EQ(bits(c1[i * ldc1 + j]), bits(c2[j * ldc2 + i])) << isa_name(isa) << " i=" << i << " j=" << j;
  }
}

TEST(KernelTable, RefusesVariantsTheHostCannotExecute) {
  // Building a table runs code compiled for its ISA: asking for one above the host's
  // must be a clear error, not an illegal instruction (AVX2-only hosts crashed here).
  for (int i = 0; i < kNumIsas; ++i) {
    const Isa isa = static_cast<Isa>(i);
    if (i <= static_cast<int>(host_hardware_isa())) {
      EXPECT_EQ(kernel_table(isa).isa, isa) << isa_name(isa);
    } else {
      EXPECT_THROW(kernel_table(isa), std::invalid_argument) << isa_name(isa);
    }
  }
}
