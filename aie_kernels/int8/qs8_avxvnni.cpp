// The AVX-VNNI variant: 256-bit vpdpbusd (as AVX-512 VNNI, 8 lanes) on a 3-pixel x
// 32-channel register tile; epilogue and depthwise are the AVX2 ones.
// Compiled with -mavx2 -mavxvnni (CMakeLists.txt).
#include <immintrin.h>

#include <cstring>

#include "aie_kernels/int8/qs8.h"
#include "aie_kernels/int8/qs8_variants.h"

namespace aie_kernels::qs8 {

namespace {

inline int32_t load_u32(const uint8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

template <int MR>
void tile(const uint8_t* const* rows, const int64_t* tap_off, int ntaps, int64_t kc, const int8_t* b,
          int32_t* c, int64_t ldc, int32_t ax) {
  __m256i acc[MR][4];
  for (int i = 0; i < MR; ++i)
    for (int q = 0; q < 4; ++q) acc[i][q] = _mm256_setzero_si256();
  const int8_t* bp = b;
  for (int t = 0; t < ntaps; ++t) {
    const uint8_t* x[MR];
    for (int i = 0; i < MR; ++i) x[i] = rows[i] + tap_off[t];
    for (int64_t p = 0; p < kc; p += kQK, bp += kQNR * kQK) {
      for (int i = 0; i < MR; ++i) {
        const __m256i a = _mm256_set1_epi32(load_u32(x[i] + p) ^ ax);
        for (int q = 0; q < 4; ++q)
          acc[i][q] = _mm256_dpbusd_avx_epi32(acc[i][q], a,
                                              _mm256_loadu_si256(reinterpret_cast<const __m256i*>(bp + q * 32)));
      }
    }
  }
  for (int i = 0; i < MR; ++i)
    for (int q = 0; q < 4; ++q) _mm256_storeu_si256(reinterpret_cast<__m256i*>(c + i * ldc + q * 8), acc[i][q]);
}

void gemm(const QGemmArgs& a) {
  for (int64_t j = 0; j < a.nblocks; ++j) {
    const int8_t* b = a.b + j * a.b_stride;
    int32_t* c = a.c + j * kQNR;
    int64_t m = 0;
    for (; m + 3 <= a.rows; m += 3) tile<3>(a.a_rows + m, a.tap_off, a.ntaps, a.kc, b, c + m * a.ldc, a.ldc, int32_t(a.a_xor));
    if (a.rows - m == 2) tile<2>(a.a_rows + m, a.tap_off, a.ntaps, a.kc, b, c + m * a.ldc, a.ldc, int32_t(a.a_xor));
    if (a.rows - m == 1) tile<1>(a.a_rows + m, a.tap_off, a.ntaps, a.kc, b, c + m * a.ldc, a.ldc, int32_t(a.a_xor));
  }
}

}  // namespace

Qs8KernelTable make_qs8_avx_vnni() {
  return {QIsa::AvxVnni, &gemm, &depthwise_avx2, &requant_row_avx2, &requant_rows_loop<requant_row_avx2>};
}

}  // namespace aie_kernels::qs8
