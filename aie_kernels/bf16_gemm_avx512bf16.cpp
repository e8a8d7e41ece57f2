// The bf16 GEMM on AVX512-BF16: vdpbf16ps, one zmm = 16 output channels x one pair
// of reduction indices (flags set per file in CMakeLists.txt). Register block: 8 rows
// x 2 panels = 16 accumulators; each pair of A values is one 32-bit broadcast.
// gemm_out finishes the accumulators in registers and stores the conv's output
// (bias, residual, activation, bf16 rounding: the epilogue's own arithmetic, from
// activation_impl.h), saving C's store and reload.
#include <immintrin.h>

#include <cmath>
#include <cstring>
#include <initializer_list>

#include "aie_kernels/bf16.h"
#include "aie_kernels/bf16_gemm.h"

namespace aie_kernels {
namespace bf16_dp {
#include "aie_kernels/vec.h"
using V = VecAvx512;
#include "aie_kernels/activation_impl.h"
}  // namespace bf16_dp

namespace {

using bf16_dp::V;
constexpr int kMRb = 8;

inline __m512bh pair_broadcast(const uint16_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return reinterpret_cast<__m512bh>(_mm512_set1_epi32(v));
}

// One finished output vector: the per-element steps of KernelTable::epilogue
// (kernels_impl.h epilogue_contiguous), in its order.
inline void finish(V v, int64_t col, const Bf16Out& out, const char* res, char* dst) {
  if (out.bias) v = V::add(v, V::load(out.bias + col));
  if (res)
    v = V::add(v, out.res_bf16 ? V::load_bits(reinterpret_cast<const uint16_t*>(res) + col)
                               : V::load(reinterpret_cast<const float*>(res) + col));
  v = bf16_dp::activate(v, out.act);
  if (out.bf16)
    V::round_bf16(v).store_bits(reinterpret_cast<uint16_t*>(dst) + col);
  else
    v.store(reinterpret_cast<float*>(dst) + col);
}

// `out` null: C rows row0.. receive the sums; else out->rows[row0 + i] the outputs.
template <int NP>
void block(const uint16_t* a, int64_t lda, const int64_t* tap_off, int ntaps, int64_t kc,
           const uint16_t* b, int64_t b_stride, float* c, const float* c_in, int64_t ldc, bool accumulate,
           const Bf16Out* out, int64_t row0, int64_t col0) {
  __m512 acc[kMRb][NP];
  for (int i = 0; i < kMRb; ++i)
    for (int j = 0; j < NP; ++j)
      acc[i][j] = accumulate ? _mm512_loadu_ps(c_in + i * ldc + j * kB16NR) : _mm512_setzero_ps();
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
  if (!out) {
    for (int i = 0; i < kMRb; ++i)
      for (int j = 0; j < NP; ++j) _mm512_storeu_ps(c + i * ldc + j * kB16NR, acc[i][j]);
    return;
  }
  for (int i = 0; i < kMRb; ++i) {
    char* dst = out->rows[row0 + i];
    if (!dst) continue;
    const char* res = out->res_rows ? out->res_rows[row0 + i] : nullptr;
    for (int j = 0; j < NP; ++j) finish(V{acc[i][j]}, col0 + j * kB16NR, *out, res, dst);
  }
}

void run(const uint16_t* a, int64_t lda, const int64_t* tap_off, int ntaps, int64_t kc, int64_t rows,
         const uint16_t* b, int64_t b_stride, int64_t npanels, float* c, const float* c_in, int64_t ldc,
         bool accumulate, const Bf16Out* out) {
  // Panel pairs outside, row blocks inside: the pair's B stays cached while A streams.
  for (int64_t p = 0; p < npanels; p += 2) {
    const uint16_t* bp = b + p * b_stride;
    for (int64_t i = 0; i < rows; i += kMRb) {
      const int64_t at = i * ldc + p * kB16NR;
      if (p + 1 < npanels)
        block<2>(a + i * lda, lda, tap_off, ntaps, kc, bp, b_stride, c ? c + at : nullptr, c_in ? c_in + at : nullptr,
                 ldc, accumulate, out, i, p * kB16NR);
      else
        block<1>(a + i * lda, lda, tap_off, ntaps, kc, bp, b_stride, c ? c + at : nullptr, c_in ? c_in + at : nullptr,
                 ldc, accumulate, out, i, p * kB16NR);
    }
  }
}

void gemm(const uint16_t* a, int64_t lda, const int64_t* tap_off, int ntaps, int64_t kc,
          int64_t rows, const uint16_t* b, int64_t b_stride, int64_t npanels, float* c,
          int64_t ldc, bool accumulate) {
  run(a, lda, tap_off, ntaps, kc, rows, b, b_stride, npanels, c, c, ldc, accumulate, nullptr);
}

void gemm_out(const uint16_t* a, int64_t lda, const int64_t* tap_off, int ntaps, int64_t kc,
              int64_t rows, const uint16_t* b, int64_t b_stride, int64_t npanels, const float* c,
              int64_t ldc, bool accumulate, const Bf16Out& out) {
  run(a, lda, tap_off, ntaps, kc, rows, b, b_stride, npanels, nullptr, c, ldc, accumulate, &out);
}

}  // namespace

const Bf16Gemm* bf16_gemm_avx512bf16() {
  static const Bf16Gemm k{Isa::Avx512Bf16, kB16KPair, &gemm, &gemm_out};
  return &k;
}

}  // namespace aie_kernels
