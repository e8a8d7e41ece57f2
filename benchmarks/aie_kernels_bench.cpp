// Google Benchmark for the emulator's kernels, single thread, per ISA the host runs.
// GFLOP/s is reported as the "FLOPS" counter (2 flops per MAC). The host peak
// reference is measured by BM_FmaPeak: independent FMA chains, no memory traffic.
#include <benchmark/benchmark.h>

#include <immintrin.h>

#include <random>
#include <vector>

#include "aie_kernels/bf16.h"
#include "aie_kernels/kernel_table.h"

using namespace aie_kernels;

namespace {

std::vector<float> random_bf16(size_t n) {
  std::mt19937 gen(1);
  std::normal_distribution<float> d;
  std::vector<float> v(n);
  for (auto& x : v) x = round_to_bf16(d(gen));
  return v;
}

bool runs_here(Isa isa) { return static_cast<int>(isa) <= static_cast<int>(detect_host_isa()); }

// The micro-kernel on L1/L2-resident panels: the compute roof of the emulator.
void BM_GemmMicroKernel(benchmark::State& st) {
  const Isa isa = static_cast<Isa>(st.range(0));
  if (!runs_here(isa)) return st.SkipWithError("ISA not available on this host");
  const int64_t k = st.range(1);
  auto a = random_bf16(k * kMR), b = random_bf16(k * kNR);
  std::vector<float> c(kMR * kNR);
  const auto& kt = kernel_table(isa);
  for (auto _ : st) {
    kt.gemm_packed(k, a.data(), b.data(), c.data(), kNR, false);
    benchmark::DoNotOptimize(c.data());
  }
  st.counters["FLOPS"] = benchmark::Counter(2.0 * kMR * kNR * k * st.iterations(),
                                            benchmark::Counter::kIsRate);
  st.SetLabel(isa_name(isa));
}

// A 3x3 direct conv tile: 6 output pixels x 16 channels, C=64 input channels.
void BM_DirectConvTile(benchmark::State& st) {
  const Isa isa = static_cast<Isa>(st.range(0));
  if (!runs_here(isa)) return st.SkipWithError("ISA not available on this host");
  const int64_t channels = st.range(1), wp = 58;
  auto image = random_bf16(3 * wp * channels + 64), b = random_bf16(9 * channels * kNR);
  int64_t off[9];
  for (int t = 0; t < 9; ++t) off[t] = ((t / 3) * wp + t % 3) * channels;
  const float* rows[kMR];
  for (int i = 0; i < kMR; ++i) rows[i] = image.data() + i * channels;
  std::vector<float> c(kMR * kNR);
  const auto& kt = kernel_table(isa);
  for (auto _ : st) {
    kt.gemm_direct(rows, off, 9, channels, b.data(), c.data(), kNR, false);
    benchmark::DoNotOptimize(c.data());
  }
  st.counters["FLOPS"] = benchmark::Counter(2.0 * kMR * kNR * 9 * channels * st.iterations(),
                                            benchmark::Counter::kIsRate);
  st.SetLabel(isa_name(isa));
}

void BM_PackAPanel(benchmark::State& st) {
  const int64_t channels = st.range(0), k = 9 * channels;
  auto image = random_bf16(3 * 58 * channels + 64);
  int64_t off[9];
  for (int t = 0; t < 9; ++t) off[t] = ((t / 3) * 58 + t % 3) * channels;
  const float* rows[kMR];
  for (int i = 0; i < kMR; ++i) rows[i] = image.data() + i * channels;
  std::vector<float> panel(k * kMR);
  for (auto _ : st) {
    pack_a_panel(rows, kMR, off, channels, 0, k, panel.data());
    benchmark::DoNotOptimize(panel.data());
  }
  st.SetBytesProcessed(st.iterations() * k * kMR * 4);
}

void BM_RoundBf16(benchmark::State& st) {
  const Isa isa = static_cast<Isa>(st.range(0));
  if (!runs_here(isa)) return st.SkipWithError("ISA not available on this host");
  auto v = random_bf16(1 << 16);
  std::vector<float> out(v.size());
  for (auto _ : st) {
    kernel_table(isa).round_f32(v.data(), out.data(), v.size(), Rounding::Bf16);
    benchmark::DoNotOptimize(out.data());
  }
  st.SetBytesProcessed(st.iterations() * v.size() * 4);
  st.SetLabel(isa_name(isa));
}

// The host's fp32 FMA roof, which is also its bf16 roof when the host has no bf16
// dot-product instruction (the emulator then computes bf16 products with fp32 FMAs):
// 12 independent 8-lane FMA chains, enough to cover FMA latency x throughput.
__attribute__((target("avx2,fma"))) void BM_FmaPeakAvx2(benchmark::State& st) {
  if (!runs_here(Isa::Avx2)) return st.SkipWithError("AVX2 not available on this host");
  const int64_t iters = 4096;
  __m256 acc[12];
  for (int i = 0; i < 12; ++i) acc[i] = _mm256_set1_ps(0.f);
  const __m256 a = _mm256_set1_ps(1.0000001f), b = _mm256_set1_ps(1e-7f);
  for (auto _ : st) {
    for (int64_t it = 0; it < iters; ++it)
      for (int i = 0; i < 12; ++i) acc[i] = _mm256_fmadd_ps(a, acc[i], b);
    benchmark::DoNotOptimize(acc);
  }
  st.counters["FLOPS"] = benchmark::Counter(2.0 * 8 * 12 * iters * st.iterations(),
                                            benchmark::Counter::kIsRate);
}

}  // namespace

BENCHMARK(BM_FmaPeakAvx2);
BENCHMARK(BM_GemmMicroKernel)->ArgsProduct({{0, 1, 2}, {256, 1024}});
BENCHMARK(BM_DirectConvTile)->ArgsProduct({{1, 2}, {64, 256}});
BENCHMARK(BM_PackAPanel)->Arg(64)->Arg(256);
BENCHMARK(BM_RoundBf16)->Arg(0)->Arg(1)->Arg(2);

BENCHMARK_MAIN();
