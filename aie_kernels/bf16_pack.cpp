// The native-bf16 GEMM family's ISA-independent parts: variant selection, the
// packers, and the scalar models the tests hold the vector kernels to.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>

#include "aie_kernels/bf16_gemm.h"

namespace aie_kernels {

// Each variant lives in a *_<suffix>.cpp file that CMake builds only when the
// compiler can (TORCH_AIE_KERNELS_HAVE_<SUFFIX>); host_isa.cpp never selects an
// ISA whose variant is not built.
#if TORCH_AIE_KERNELS_HAVE_AVX512BF16
const Bf16Gemm* bf16_gemm_avx512bf16();
#endif
#if TORCH_AIE_KERNELS_HAVE_AMX
const Bf16Gemm* bf16_gemm_amx();
#endif
#if TORCH_AIE_KERNELS_HAVE_AVX512
const Bf16Gemm* bf16_gemm_exact_avx512();
// bf16_pack_avx512.cpp: rows of at most kShortRowValues values, one store each.
void pack_a_short_rows_avx512(const uint16_t* const* rows, int nrows, int out_rows, const int64_t* run_dst,
                              const int64_t* run_src, const int64_t* run_len, int nruns, int64_t kp, uint16_t* out);
#endif

const Bf16Gemm* bf16_gemm(Isa isa) {
  switch (isa) {
#if TORCH_AIE_KERNELS_HAVE_AMX
    case Isa::AmxBf16: return bf16_gemm_amx();
#endif
#if TORCH_AIE_KERNELS_HAVE_AVX512BF16
    case Isa::Avx512Bf16: return bf16_gemm_avx512bf16();
#endif
#if TORCH_AIE_KERNELS_HAVE_AVX512
    case Isa::Avx512: return bf16_gemm_exact_avx512();
#endif
    default: return nullptr;
  }
}

namespace {

inline float widen(uint16_t v) {
  const uint32_t u = uint32_t(v) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// Denormal in, 0 out (keeping the sign), as the SDM's DAZ / FTZ.
inline float flush(float x) { return std::fpclassify(x) == FP_SUBNORMAL ? std::copysign(0.f, x) : x; }

// Walks every output element of a Bf16Gemm call, handing `step` the pairs in k order.
template <class Step>
void reference_gemm(const uint16_t* a, int64_t lda, const int64_t* tap_off, int ntaps, int64_t kc,
                    int64_t rows, const uint16_t* b, int64_t b_stride, int64_t npanels, float* c,
                    int64_t ldc, bool accumulate, Step step) {
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t n = 0; n < npanels * kB16NR; ++n) {
      const uint16_t* panel = b + (n / kB16NR) * b_stride;
      const int64_t jn = n % kB16NR;
      float acc = accumulate ? c[i * ldc + n] : 0.f;
      int64_t pair = 0;
      for (int t = 0; t < ntaps; ++t)
        for (int64_t q = 0; q < kc; q += 2, ++pair) {
          const uint16_t* ap = a + i * lda + tap_off[t] + q;
          const uint16_t* bp = panel + pair * 2 * kB16NR + jn * 2;
          acc = step(acc, widen(ap[0]), widen(ap[1]), widen(bp[0]), widen(bp[1]));
        }
      c[i * ldc + n] = acc;
    }
}

// VDPBF16PS per lane (Intel SDM): the odd element first, each an FMA with DAZ in,
// FTZ out, round to nearest even.
void gemm_ref_dpbf16(const uint16_t* a, int64_t lda, const int64_t* tap_off, int ntaps, int64_t kc,
                     int64_t rows, const uint16_t* b, int64_t b_stride, int64_t npanels, float* c,
                     int64_t ldc, bool accumulate) {
  reference_gemm(a, lda, tap_off, ntaps, kc, rows, b, b_stride, npanels, c, ldc, accumulate,
                 [](float acc, float a0, float a1, float b0, float b1) {
                   acc = flush(std::fma(flush(a1), flush(b1), flush(acc)));
                   return flush(std::fma(flush(a0), flush(b0), acc));
                 });
}

void gemm_ref_exact(const uint16_t* a, int64_t lda, const int64_t* tap_off, int ntaps, int64_t kc,
                    int64_t rows, const uint16_t* b, int64_t b_stride, int64_t npanels, float* c,
                    int64_t ldc, bool accumulate) {
  reference_gemm(a, lda, tap_off, ntaps, kc, rows, b, b_stride, npanels, c, ldc, accumulate,
                 [](float acc, float a0, float a1, float b0, float b1) {
                   return std::fma(a1, b1, std::fma(a0, b0, acc));
                 });
}

}  // namespace

const Bf16Gemm* bf16_gemm_reference(Isa isa) {
  static const Bf16Gemm dp{Isa::Avx512Bf16, kB16KPair, &gemm_ref_dpbf16}, exact{Isa::Avx512, kB16KPair, &gemm_ref_exact};
  switch (isa) {
    case Isa::Avx512Bf16: return &dp;
    case Isa::Avx512: return &exact;
    default: return nullptr;
  }
}

void pack_b_vnni(const uint16_t* w, int64_t n_count, int64_t k, int64_t kp, uint16_t* out) {
  const int64_t panels = ceil_div(n_count, kB16NR);
  std::fill(out, out + panels * kp * kB16NR, uint16_t(0));
  for (int64_t n = 0; n < n_count; ++n) {
    uint16_t* dst = out + (n / kB16NR) * kp * kB16NR + (n % kB16NR) * 2;
    const uint16_t* src = w + n * k;
    for (int64_t p = 0; p < k; ++p) dst[(p / 2) * 2 * kB16NR + (p & 1)] = src[p];
  }
}

namespace {

// n bf16 values, n small (a stem conv's kernel row: 3 taps x 3 channels): one or two
// fixed-size, possibly overlapping moves the compiler inlines, where a memcpy call per
// run was a third of a (3,224,224) stem conv's packing.
inline void copy_values(uint16_t* dst, const uint16_t* src, int64_t n) {
  auto two = [&](auto width) {
    constexpr int64_t w = decltype(width)::value;
    std::memcpy(dst, src, w * 2);
    std::memcpy(dst + n - w, src + n - w, w * 2);
  };
  if (n > 16) return static_cast<void>(std::memcpy(dst, src, n * sizeof(uint16_t)));
  if (n >= 8) return two(std::integral_constant<int64_t, 8>{});
  if (n >= 4) return two(std::integral_constant<int64_t, 4>{});
  if (n >= 2) return two(std::integral_constant<int64_t, 2>{});
  if (n == 1) dst[0] = src[0];
}

}  // namespace

void pack_a_rows_bf16(const uint16_t* const* rows, int nrows, int out_rows, const int64_t* tap_off,
                      int ntaps, int64_t channels, int64_t kp, uint16_t* out) {
  pack_a_rows_bf16_on(host_hardware_isa(), rows, nrows, out_rows, tap_off, ntaps, channels, kp, out);
}

void pack_a_rows_bf16_on(Isa isa, const uint16_t* const* rows, int nrows, int out_rows, const int64_t* tap_off,
                         int ntaps, int64_t channels, int64_t kp, uint16_t* out) {
  const int64_t k = ntaps * channels;
  // Taps whose channel runs are adjacent in the source (a kernel row of an
  // undilated conv with one group) are copied as one run.
  int64_t run_tap[64], run_len[64];
  int nruns = 0;
  for (int t = 0; t < ntaps; ++t) {
    if (nruns > 0 && tap_off[t] == tap_off[run_tap[nruns - 1]] + run_len[nruns - 1]) {
      run_len[nruns - 1] += channels;
      continue;
    }
    if (nruns == 64) {  // more runs than the table holds: copy per tap
      nruns = -1;
      break;
    }
    run_tap[nruns] = t;
    run_len[nruns++] = channels;
  }
#if TORCH_AIE_KERNELS_HAVE_AVX512
  if (isa >= Isa::Avx512 && nruns > 0 && nruns <= kShortRowValues && kp <= kShortRowValues) {
    int64_t run_dst[kShortRowValues], run_src[kShortRowValues];
    for (int r = 0; r < nruns; ++r) {
      run_dst[r] = run_tap[r] * channels;
      run_src[r] = tap_off[run_tap[r]];
    }
    return pack_a_short_rows_avx512(rows, nrows, out_rows, run_dst, run_src, run_len, nruns, kp, out);
  }
#else
  (void)isa;
#endif
  for (int i = 0; i < out_rows; ++i) {
    uint16_t* dst = out + i * kp;
    if (i >= nrows) {
      std::memset(dst, 0, kp * sizeof(uint16_t));
      continue;
    }
    if (nruns < 0) {
      for (int t = 0; t < ntaps; ++t)
        copy_values(dst + t * channels, rows[i] + tap_off[t], channels);
    } else {
      for (int r = 0; r < nruns; ++r) copy_values(dst + run_tap[r] * channels, rows[i] + tap_off[run_tap[r]], run_len[r]);
    }
    std::memset(dst + k, 0, (kp - k) * sizeof(uint16_t));
  }
}

}  // namespace aie_kernels
