// The bf16 GEMM in exact form on AVX-512F: every pair of bf16 values is widened
// exactly to fp32 and multiplied in with two FMAs in k order (IEEE denormals), the
// same chain the fp32-panel kernels compute. Used on native-bf16 hosts for operands
// the flushing instructions would take outside the bound (bf16_products_normal).
#include <immintrin.h>

#include <cstring>

#include "aie_kernels/bf16_gemm.h"

namespace aie_kernels {
namespace {

constexpr int kMRb = 8;

template <int NP>
void block(const uint16_t* a, int64_t lda, const int64_t* tap_off, int ntaps, int64_t kc,
           const uint16_t* b, int64_t b_stride, float* c, int64_t ldc, bool accumulate) {
  const __m512i hi_mask = _mm512_set1_epi32(static_cast<int>(0xFFFF0000u));
  __m512 acc[kMRb][NP];
  for (int i = 0; i < kMRb; ++i)
    for (int j = 0; j < NP; ++j)
      acc[i][j] = accumulate ? _mm512_loadu_ps(c + i * ldc + j * kB16NR) : _mm512_setzero_ps();
  const uint16_t* bp = b;
  for (int t = 0; t < ntaps; ++t) {
    const uint16_t* ar = a + tap_off[t];
    for (int64_t q = 0; q < kc; q += 2, bp += 2 * kB16NR) {
      __m512 be[NP], bo[NP];
      for (int j = 0; j < NP; ++j) {
        const __m512i v = _mm512_loadu_si512(bp + j * b_stride);
        be[j] = _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
        bo[j] = _mm512_castsi512_ps(_mm512_and_si512(v, hi_mask));
      }
      for (int i = 0; i < kMRb; ++i) {
        uint32_t pair;
        std::memcpy(&pair, ar + i * lda + q, 4);
        const uint32_t e = pair << 16, o = pair & 0xFFFF0000u;
        float fe, fo;
        std::memcpy(&fe, &e, 4);
        std::memcpy(&fo, &o, 4);
        const __m512 ae = _mm512_set1_ps(fe), ao = _mm512_set1_ps(fo);
        for (int j = 0; j < NP; ++j) acc[i][j] = _mm512_fmadd_ps(ao, bo[j], _mm512_fmadd_ps(ae, be[j], acc[i][j]));
      }
    }
  }
  for (int i = 0; i < kMRb; ++i)
    for (int j = 0; j < NP; ++j) _mm512_storeu_ps(c + i * ldc + j * kB16NR, acc[i][j]);
}

void gemm(const uint16_t* a, int64_t lda, const int64_t* tap_off, int ntaps, int64_t kc,
          int64_t rows, const uint16_t* b, int64_t b_stride, int64_t npanels, float* c,
          int64_t ldc, bool accumulate) {
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

const Bf16Gemm* bf16_gemm_exact_avx512() {
  static const Bf16Gemm k{Isa::Avx512, kB16KPair, &gemm};
  return &k;
}

}  // namespace aie_kernels
