// The bf16 GEMM on AVX512-BF16: vdpbf16ps, one zmm = 16 output channels x one pair
// of reduction indices (flags set per file in CMakeLists.txt). Register block: 8 rows
// x 2 panels = 16 accumulators; each pair of A values is one 32-bit broadcast.
#include <immintrin.h>

#include <cstring>

#include "aie_kernels/bf16_gemm.h"

namespace aie_kernels {
namespace {

constexpr int kMRb = 8;

inline __m512bh pair_broadcast(const uint16_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return reinterpret_cast<__m512bh>(_mm512_set1_epi32(v));
}

template <int NP>
void block(const uint16_t* a, int64_t lda, const int64_t* tap_off, int ntaps, int64_t kc,
           const uint16_t* b, int64_t b_stride, float* c, int64_t ldc, bool accumulate) {
  __m512 acc[kMRb][NP];
  for (int i = 0; i < kMRb; ++i)
    for (int j = 0; j < NP; ++j)
      acc[i][j] = accumulate ? _mm512_loadu_ps(c + i * ldc + j * kB16NR) : _mm512_setzero_ps();
  const uint16_t* bp = b;
  for (int t = 0; t < ntaps; ++t) {
    const uint16_t* ar = a + tap_off[t];
    for (int64_t q = 0; q < kc; q += 2, bp += 2 * kB16NR) {
      __m512bh bv[NP];
      for (int j = 0; j < NP; ++j)
        bv[j] = reinterpret_cast<__m512bh>(_mm512_loadu_si512(bp + j * b_stride));
      for (int i = 0; i < kMRb; ++i) {
        const __m512bh av = pair_broadcast(ar + i * lda + q);
        for (int j = 0; j < NP; ++j) acc[i][j] = _mm512_dpbf16_ps(acc[i][j], av, bv[j]);
      }
    }
  }
  for (int i = 0; i < kMRb; ++i)
    for (int j = 0; j < NP; ++j) _mm512_storeu_ps(c + i * ldc + j * kB16NR, acc[i][j]);
}

void gemm(const uint16_t* a, int64_t lda, const int64_t* tap_off, int ntaps, int64_t kc,
          int64_t rows, const uint16_t* b, int64_t b_stride, int64_t npanels, float* c,
          int64_t ldc, bool accumulate) {
  // Panel pairs outside, row blocks inside: the pair's B stays cached while A streams.
  for (int64_t p = 0; p < npanels; p += 2) {
    const uint16_t* bp = b + p * b_stride;
    for (int64_t i = 0; i < rows; i += kMRb) {
      float* ct = c + i * ldc + p * kB16NR;
      if (p + 1 < npanels)
        block<2>(a + i * lda, lda, tap_off, ntaps, kc, bp, b_stride, ct, ldc, accumulate);
      else
        block<1>(a + i * lda, lda, tap_off, ntaps, kc, bp, b_stride, ct, ldc, accumulate);
    }
  }
}

}  // namespace

const Bf16Gemm* bf16_gemm_avx512bf16() {
  static const Bf16Gemm k{Isa::Avx512Bf16, kB16KPair, &gemm};
  return &k;
}

}  // namespace aie_kernels
