// Kernel-level checks that pytest cannot reach: every ISA variant this host runs
// must give bit-identical results to a plain sequential-FMA reference.
#include <c10/util/BFloat16.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "aie_kernels/bf16.h"
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

TEST(DepthwiseKernel, MatchesSequentialFmaBitExactly) {
  const int64_t channels = 21, ntaps = 9;
  const int npix = 5;
  auto image = random_bf16(4000, 3);
  auto w = random_bf16(ntaps * channels, 4);
  int64_t tap_off[ntaps];
  for (int t = 0; t < ntaps; ++t) tap_off[t] = ((t / 3) * 10 + (t % 3)) * channels;
  const float* pix[npix];
  for (int j = 0; j < npix; ++j) pix[j] = image.data() + j * 2 * channels;
  for (Isa isa : host_isas()) {
    std::vector<float> out(npix * channels);
    kernel_table(isa).depthwise(pix, npix, tap_off, ntaps, channels, w.data(), out.data(), channels, false);
    for (int j = 0; j < npix; ++j)
      for (int c = 0; c < channels; ++c) {
        float acc = 0.f;
        for (int t = 0; t < ntaps; ++t) acc = std::fma(pix[j][tap_off[t] + c], w[t * channels + c], acc);
        ASSERT_EQ(bits(out[j * channels + c]), bits(acc)) << isa_name(isa);
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
  const int64_t n = 29, w_stride = 5;  // odd length: vector body and scalar tail
  auto image = random_bf16(400, 6);
  auto w = random_bf16(ntaps * w_stride, 7);
  int64_t tap_off[ntaps];
  for (int t = 0; t < ntaps; ++t) tap_off[t] = (t / 3) * 40 + (t % 3);
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

// Every ISA gives the scalar variant's bits for every activation (both epilogue forms,
// vector bodies and scalar tails), and the values are the activations within 4 ulp
// (SiLU's exp is a polynomial; the others are exact IEEE sequences).
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
          ASSERT_NEAR(got, want, 4 * 1.2e-7 * std::abs(want) + 1e-37) << "act " << a << " v " << v;
        }
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
