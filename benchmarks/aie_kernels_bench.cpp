// Google Benchmark for the emulator's kernels, single thread, per ISA the host runs.
// GFLOP/s is reported as the "FLOPS" counter (2 flops per MAC). The host peak
// reference is measured by BM_FmaPeak: independent FMA chains, no memory traffic.
#include <benchmark/benchmark.h>

#include <immintrin.h>

#include <random>
#include <string>
#include <vector>

#include <c10/util/BFloat16.h>

#include "aie_kernels/bf16.h"
#include "aie_kernels/bf16_gemm.h"
#include "aie_kernels/int8/qs8.h"
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

// The bf16 depthwise window kernel (3x3, stride 1): one 8-output chunk of a
// channels-last row, bf16 in and out, bias, no activation, L1-resident. Per ISA table:
// on AVX512-BF16 hosts (Isa 3, 4) it is the even/odd kernel with vcvtne2ps2bf16 output.
void BM_DepthwiseBf16Window(benchmark::State& st) {
  const Isa isa = static_cast<Isa>(st.range(0));
  if (!runs_here(isa)) return st.SkipWithError("ISA not available on this host");
  const int64_t channels = st.range(1), row = kChunkPixels + 2;
  const auto values = random_bf16(3 * row * channels), w = random_bf16(9 * channels), bias = random_bf16(channels);
  std::vector<uint16_t> x(values.size());
  for (size_t i = 0; i < x.size(); ++i) x[i] = c10::BFloat16(values[i]).x;
  const int64_t row_off[3] = {0, row * channels, 2 * row * channels};
  std::vector<uint16_t> out(kChunkPixels * channels);
  const DepthwiseOut o{out.data(), channels, channels, bias.data(), Activation::None, {}, true};
  const auto& kt = kernel_table(isa);
  for (auto _ : st) {
    kt.depthwise_bf16_rows(x.data(), row_off, 3, 3, 1, channels, w.data(), o, kChunkPixels, nullptr);
    benchmark::DoNotOptimize(out.data());
  }
  st.counters["FLOPS"] = benchmark::Counter(2.0 * kChunkPixels * channels * 9 * st.iterations(),
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

// The AVX-512 fp32 FMA roof (the exact bf16 form's and the fp32 panels' peak).
__attribute__((target("avx512f"))) void BM_FmaPeakAvx512(benchmark::State& st) {
  if (!runs_here(Isa::Avx512)) return st.SkipWithError("AVX-512F not available on this host");
  const int64_t iters = 4096;
  __m512 acc[12];
  for (int i = 0; i < 12; ++i) acc[i] = _mm512_set1_ps(0.f);
  const __m512 a = _mm512_set1_ps(1.0000001f), b = _mm512_set1_ps(1e-7f);
  for (auto _ : st) {
    for (int64_t it = 0; it < iters; ++it)
      for (int i = 0; i < 12; ++i) acc[i] = _mm512_fmadd_ps(a, acc[i], b);
    benchmark::DoNotOptimize(acc);
  }
  st.counters["FLOPS"] = benchmark::Counter(2.0 * 16 * 12 * iters * st.iterations(),
                                            benchmark::Counter::kIsRate);
}

// vdpbf16ps roof: 12 independent accumulators, 32 MACs per instruction.
__attribute__((target("avx512f,avx512bf16"))) void BM_Dpbf16Peak(benchmark::State& st) {
  if (!runs_here(Isa::Avx512Bf16)) return st.SkipWithError("host lacks avx512_bf16");
  const int64_t iters = 4096;
  __m512 acc[12];
  for (int i = 0; i < 12; ++i) acc[i] = _mm512_setzero_ps();
  const __m512bh a = (__m512bh)_mm512_set1_epi16(0x3f80), b = (__m512bh)_mm512_set1_epi16(0x3400);
  for (auto _ : st) {
    for (int64_t it = 0; it < iters; ++it)
      for (int i = 0; i < 12; ++i) acc[i] = _mm512_dpbf16_ps(acc[i], a, b);
    benchmark::DoNotOptimize(acc);
  }
  st.counters["FLOPS"] = benchmark::Counter(2.0 * 32 * 12 * iters * st.iterations(),
                                            benchmark::Counter::kIsRate);
}

// AMX roof: tdpbf16ps on four C tiles from register-resident A and B tiles
// (16 x 16 x 32 MACs per instruction, no memory traffic in the loop).
struct alignas(64) AmxConfig {
  uint8_t palette = 1, start_row = 0, reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};
__attribute__((target("amx-tile,amx-bf16"))) void BM_AmxPeak(benchmark::State& st) {
  if (!runs_here(Isa::AmxBf16)) return st.SkipWithError("host lacks amx_bf16 (or the tile permission)");
  AmxConfig cfg;
  for (int t = 0; t < 8; ++t) cfg.colsb[t] = 64, cfg.rows[t] = 16;
  _tile_loadconfig(&cfg);
  std::vector<uint16_t> ab(16 * 32, 0x3f80);
  _tile_loadd(4, ab.data(), 64);
  _tile_loadd(5, ab.data(), 64);
  _tile_loadd(6, ab.data(), 64);
  _tile_loadd(7, ab.data(), 64);
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  const int64_t iters = 1024;
  for (auto _ : st) {
    for (int64_t it = 0; it < iters; ++it) {
      _tile_dpbf16ps(0, 4, 6);
      _tile_dpbf16ps(1, 4, 7);
      _tile_dpbf16ps(2, 5, 6);
      _tile_dpbf16ps(3, 5, 7);
    }
  }
  std::vector<float> c(256);
  _tile_stored(0, c.data(), 64);
  benchmark::DoNotOptimize(c.data());
  _tile_release();
  st.counters["FLOPS"] = benchmark::Counter(2.0 * 16 * 16 * 32 * 4 * iters * st.iterations(),
                                            benchmark::Counter::kIsRate);
}

// The bf16 GEMM (bf16_gemm.h) on one emulator task's block: `rows` output pixels x
// `panels` x 16 channels, K = 9 x channels read direct (3x3 taps from staged rows) or
// packed, operands in L2 as in a conv. Args: isa, rows, panels, channels, direct.
void BM_Bf16Gemm(benchmark::State& st) {
  const Isa isa = static_cast<Isa>(st.range(0));
  if (!runs_here(isa)) return st.SkipWithError("ISA not available on this host");
  const int64_t rows = st.range(1), panels = st.range(2), channels = st.range(3);
  const bool direct = st.range(4) != 0;
  const int ntaps = 9;
  const int64_t k = ntaps * channels, kp = bf16_k_padded(k), wp = rows + 2;
  std::mt19937 gen(1);
  std::vector<uint16_t> image((3 * wp + 2) * channels + 64), bpan(panels * kp * kB16NR), apan(rows * kp);
  for (auto& v : image) v = 0x3f80 + (gen() & 0x7f);
  for (auto& v : bpan) v = 0x3f80 + (gen() & 0x7f);
  for (auto& v : apan) v = 0x3f80 + (gen() & 0x7f);
  int64_t off[9];
  for (int t = 0; t < 9; ++t) off[t] = ((t / 3) * wp + t % 3) * channels;
  std::vector<float> c(rows * panels * kB16NR);
  const Bf16Gemm& g = *bf16_gemm(isa);
  const int64_t zero = 0;
  for (auto _ : st) {
    if (direct)
      g.gemm(image.data(), channels, off, ntaps, channels, rows, bpan.data(), kp * kB16NR, panels, c.data(),
             panels * kB16NR, false);
    else
      g.gemm(apan.data(), kp, &zero, 1, kp, rows, bpan.data(), kp * kB16NR, panels, c.data(), panels * kB16NR,
             false);
    benchmark::DoNotOptimize(c.data());
  }
  st.counters["FLOPS"] = benchmark::Counter(2.0 * rows * panels * kB16NR * k * st.iterations(),
                                            benchmark::Counter::kIsRate);
  st.SetLabel(std::string(isa_name(isa)) + (direct ? " direct" : " packed"));
}

// The fused-output form (Bf16Gemm::gemm_out) on a 1x1 conv's task: 64 NHWC pixels x
// `panels` x 16 channels, K = `channels` read in place, bf16 output rows with bias and
// the activation `act` (kernel_table.h): the thin-K 1x1 convs of MobileNetV2, where
// the output stage costs as much as the dot products. Args: channels, panels, act.
void BM_Bf16GemmOut(benchmark::State& st) {
  if (!runs_here(Isa::Avx512Bf16)) return st.SkipWithError("ISA not available on this host");
  const Bf16Gemm* g = bf16_gemm(Isa::Avx512Bf16);
  const int64_t rows = 64, channels = st.range(0), panels = st.range(1), cols = panels * kB16NR;
  const auto act = static_cast<Activation>(st.range(2));
  const int64_t kp = bf16_k_padded(channels, g->k_depth);
  std::mt19937 gen(1);
  std::vector<uint16_t> image(rows * channels + 64), bpan(panels * kp * kB16NR), out(rows * cols);
  for (auto& v : image) v = 0x3f80 + (gen() & 0x7f);
  for (auto& v : bpan) v = 0xbf80 + (gen() & 0x7f);
  std::vector<float> bias(cols, 0.5f);
  const Bf16Out o{{nullptr, reinterpret_cast<char*>(out.data()), cols * 2}, {}, false, bias.data(), act, true};
  const int64_t zero = 0;
  for (auto _ : st) {
    g->gemm_out(image.data(), channels, &zero, 1, kp, rows, bpan.data(), kp * kB16NR, panels, nullptr, cols,
                false, o);
    benchmark::DoNotOptimize(out.data());
  }
  st.counters["FLOPS"] = benchmark::Counter(2.0 * rows * cols * channels * st.iterations(),
                                            benchmark::Counter::kIsRate);
}

// ---- int8 (qs8) family: GOP/s counter "OPS" (2 ops per MAC), one case per variant. ----

bool qs8_skip(benchmark::State& st, qs8::QIsa isa) {
  const char* why = nullptr;
  if (qs8::qs8_can_run(isa, &why)) return false;
  st.SkipWithError((std::string("not executed on this host: ") + qs8::qisa_name(isa) + ": " + why).c_str());
  return true;
}

// One gemm call: a 32-pixel block x 256 channels (8 packed blocks), K = taps x channels,
// read from an NHWC image as the direct conv does (taps = 9: 3x3; taps = 1: gemm_1x1).
void BM_Qs8Gemm(benchmark::State& st) {
  const auto isa = static_cast<qs8::QIsa>(st.range(0));
  if (qs8_skip(st, isa)) return;
  const int64_t channels = st.range(1), taps = st.range(2), nblocks = 8, wp = 34;
  const int64_t kp = aie_kernels::round_up(taps * channels, qs8::kQKP);
  std::mt19937 gen(3);
  std::vector<uint8_t> image(3 * wp * channels + 64);
  std::vector<int8_t> b(nblocks * kp * qs8::kQNR);
  for (auto& v : image) v = uint8_t(gen());
  for (auto& v : b) v = int8_t(gen());
  std::vector<int64_t> off(taps);
  for (int64_t t = 0; t < taps; ++t) off[t] = ((t / 3) * wp + t % 3) * channels;
  const uint8_t* rows[qs8::kQMB];
  for (int i = 0; i < qs8::kQMB; ++i) rows[i] = image.data() + i * channels;
  std::vector<int32_t> c(qs8::kQMB * nblocks * qs8::kQNR);
  std::vector<uint8_t> scratch(qs8::kQMB * kp);
  const qs8::QGemmArgs a{rows, qs8::kQMB, off.data(), static_cast<int>(taps), channels, kp, b.data(), nblocks,
                         kp * qs8::kQNR, c.data(), nblocks * qs8::kQNR, scratch.data(), 0x80808080u};
  const auto& kt = qs8::qs8_table(isa);
  for (auto _ : st) {
    kt.gemm(a);
    benchmark::DoNotOptimize(c.data());
  }
  st.counters["OPS"] = benchmark::Counter(2.0 * qs8::kQMB * nblocks * qs8::kQNR * taps * channels * st.iterations(),
                                          benchmark::Counter::kIsRate);
  st.SetLabel(qs8::qisa_name(isa));
}

// The SRS epilogue over one 256-channel row (conv_even, int8 output, without / with a
// skip add): outputs/s.
void BM_Qs8Requant(benchmark::State& st) {
  const auto isa = static_cast<qs8::QIsa>(st.range(0));
  if (qs8_skip(st, isa)) return;
  const int64_t n = 256;
  std::mt19937 gen(4);
  std::vector<int32_t> acc(n), bias(n);
  std::vector<int64_t> mult(n), shift(n), half(n), halfm1(n), sbit(n);
  for (int64_t i = 0; i < n; ++i) {
    acc[i] = int32_t(gen() % 2000000) - 1000000;
    bias[i] = int32_t(gen() % 2000) - 1000;
    mult[i] = 1 + gen() % (1 << 30);
    shift[i] = 20 + gen() % 20;
    half[i] = int64_t(1) << (shift[i] - 1);
    halfm1[i] = half[i] - 1;
    sbit[i] = 1;
  }
  std::vector<uint8_t> out(n), skip(n);
  for (auto& v : skip) v = uint8_t(gen());
  const qs8::QEpilogue e{bias.data(), mult.data(), shift.data(), half.data(), halfm1.data(), sbit.data(),
                         qs8::QRound::ConvEven, 3, -128, 127, false, st.range(1) != 0, false, 3, 2};
  const auto& kt = qs8::qs8_table(isa);
  for (auto _ : st) {
    kt.requant_row(acc.data(), n, 0, e, qs8::QStoreRow{out.data(), skip.data(), 1});
    benchmark::DoNotOptimize(out.data());
  }
  st.counters["outputs"] = benchmark::Counter(double(n) * st.iterations(), benchmark::Counter::kIsRate);
  st.SetLabel(qs8::qisa_name(isa));
}

// Depthwise 3x3 over 16 output pixels x `channels` channels (u8 form, NHWC rows).
void BM_Qs8Depthwise(benchmark::State& st) {
  const auto isa = static_cast<qs8::QIsa>(st.range(0));
  if (qs8_skip(st, isa)) return;
  const int64_t channels = st.range(1), cpad = aie_kernels::round_up(channels, 32), wp = 18, npix = 16;
  std::mt19937 gen(5);
  std::vector<uint8_t> image(3 * wp * cpad + 64);
  for (auto& v : image) v = uint8_t(gen());
  std::vector<int16_t> w(qs8::packed_dw_elems(9, cpad));
  for (auto& v : w) v = int16_t(int8_t(gen()));
  int64_t off[9];
  for (int t = 0; t < 9; ++t) off[t] = ((t / 3) * wp + t % 3) * cpad;
  const uint8_t* pix[npix];
  for (int j = 0; j < npix; ++j) pix[j] = image.data() + j * cpad;
  std::vector<int32_t> out(npix * cpad);
  const auto& kt = qs8::qs8_table(isa);
  for (auto _ : st) {
    kt.depthwise(qs8::QDepthwiseArgs{pix, npix, off, 9, channels, cpad, w.data(), out.data(), cpad, 0x80});
    benchmark::DoNotOptimize(out.data());
  }
  st.counters["OPS"] = benchmark::Counter(2.0 * npix * channels * 9 * st.iterations(), benchmark::Counter::kIsRate);
  st.SetLabel(qs8::qisa_name(isa));
}

}  // namespace

BENCHMARK(BM_Qs8Gemm)->ArgsProduct({{0, 1, 2, 3, 4}, {64, 256}, {1, 9}});
BENCHMARK(BM_Qs8Requant)->ArgsProduct({{0, 1, 2, 3, 4}, {0, 1}});
BENCHMARK(BM_Qs8Depthwise)->ArgsProduct({{0, 1, 2, 3, 4}, {96, 384}});
BENCHMARK(BM_FmaPeakAvx2);
BENCHMARK(BM_FmaPeakAvx512);
BENCHMARK(BM_Dpbf16Peak);
BENCHMARK(BM_AmxPeak);
// Exact form, vdpbf16ps, AMX: a ResNet-50 3x3 block (64 / 256 channels), direct and packed.
BENCHMARK(BM_Bf16Gemm)->ArgsProduct({{2, 3, 4}, {64}, {4}, {64, 256}, {1, 0}});
BENCHMARK(BM_Bf16Gemm)->ArgsProduct({{3, 4}, {128}, {8}, {64}, {1}});
BENCHMARK(BM_Bf16GemmOut)->ArgsProduct({{16, 24, 32, 64, 96}, {4}, {0, 2}});
BENCHMARK(BM_GemmMicroKernel)->ArgsProduct({{0, 1, 2}, {256, 1024}});
BENCHMARK(BM_DirectConvTile)->ArgsProduct({{1, 2}, {64, 256}});
BENCHMARK(BM_DepthwiseBf16Window)->ArgsProduct({{1, 2, 3, 4}, {144, 576}});
BENCHMARK(BM_PackAPanel)->Arg(64)->Arg(256);
BENCHMARK(BM_RoundBf16)->Arg(0)->Arg(1)->Arg(2);

BENCHMARK_MAIN();
