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
