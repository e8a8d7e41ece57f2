// The AVX2 variant (no VNNI): u8-form activations and int8 weights widened to int16 and
// multiplied with vpmaddwd, which sums two products into int32 exactly (|x * w| <=
// 255 * 128; vpmaddubsw would saturate its int16 sums, so it is not used). Also the
// AVX2 epilogue and depthwise kernel, shared with the AVX-VNNI variant.
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

// MR pixel rows x 16 channels (half `h` of a packed block). Each 16-byte load of B
// holds 4 channels x 4 reduction bytes; widened, vpmaddwd against the row's 4 bytes
// (broadcast as int16) gives [ch][k01], [ch][k23] lane pairs, summed at the end.
template <int MR>
void tile(const uint8_t* const* rows, const int64_t* tap_off, int ntaps, int64_t kc, const int8_t* b, int h,
          int32_t* c, int64_t ldc, int32_t ax) {
  __m256i acc[MR][4];
  for (int i = 0; i < MR; ++i)
    for (int q = 0; q < 4; ++q) acc[i][q] = _mm256_setzero_si256();
  const int8_t* bp = b + h * 16 * kQK;
  for (int t = 0; t < ntaps; ++t) {
    const uint8_t* x[MR];
    for (int i = 0; i < MR; ++i) x[i] = rows[i] + tap_off[t];
    for (int64_t p = 0; p < kc; p += kQK, bp += kQNR * kQK) {
      __m256i w[4];
      for (int q = 0; q < 4; ++q)
        w[q] = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(bp + q * 16)));
      for (int i = 0; i < MR; ++i) {
        const __m256i a = _mm256_broadcastq_epi64(_mm_cvtepu8_epi16(_mm_cvtsi32_si128(load_u32(x[i] + p) ^ ax)));
        for (int q = 0; q < 4; ++q) acc[i][q] = _mm256_add_epi32(acc[i][q], _mm256_madd_epi16(a, w[q]));
      }
    }
  }
  for (int i = 0; i < MR; ++i) {
    // hadd pairs the k01/k23 halves; the lane shuffle restores channel order.
    const __m256i lo = _mm256_permute4x64_epi64(_mm256_hadd_epi32(acc[i][0], acc[i][1]), 0xD8);
    const __m256i hi = _mm256_permute4x64_epi64(_mm256_hadd_epi32(acc[i][2], acc[i][3]), 0xD8);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(c + i * ldc + h * 16), lo);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(c + i * ldc + h * 16 + 8), hi);
  }
}

void gemm(const QGemmArgs& a) {
  for (int64_t j = 0; j < a.nblocks; ++j) {
    const int8_t* b = a.b + j * a.b_stride;
    int32_t* c = a.c + j * kQNR;
    for (int h = 0; h < 2; ++h) {
      int64_t m = 0;
      for (; m + 2 <= a.rows; m += 2) tile<2>(a.a_rows + m, a.tap_off, a.ntaps, a.kc, b, h, c + m * a.ldc, a.ldc, int32_t(a.a_xor));
      if (m < a.rows) tile<1>(a.a_rows + m, a.tap_off, a.ntaps, a.kc, b, h, c + m * a.ldc, a.ldc, int32_t(a.a_xor));
    }
  }
}

inline __m256i sign64(__m256i v) { return _mm256_cmpgt_epi64(_mm256_setzero_si256(), v); }

// Arithmetic right shift of int64 lanes (AVX2 has only the logical one).
inline __m256i srav64(__m256i v, __m256i s) {
  const __m256i sg = sign64(v);
  return _mm256_xor_si256(_mm256_srlv_epi64(_mm256_xor_si256(v, sg), s), sg);
}

inline __m256i srs4(__m256i v, __m256i s, __m256i half, __m256i halfm1, __m256i sbit, QRound r) {
  switch (r) {
    case QRound::Floor: return srav64(v, s);
    case QRound::PositiveInf: return srav64(_mm256_add_epi64(v, half), s);
    case QRound::SymmetricInf: {
      const __m256i sg = sign64(v);
      const __m256i a = _mm256_sub_epi64(_mm256_xor_si256(v, sg), sg);
      const __m256i q = _mm256_srlv_epi64(_mm256_add_epi64(a, half), s);
      return _mm256_sub_epi64(_mm256_xor_si256(q, sg), sg);
    }
    case QRound::ConvEven: {
      const __m256i odd = _mm256_and_si256(srav64(v, s), sbit);
      return srav64(_mm256_add_epi64(_mm256_add_epi64(v, halfm1), odd), s);
    }
  }
  return v;
}

inline __m256i clamp64(__m256i y, __m256i lo, __m256i hi) {
  y = _mm256_blendv_epi8(y, lo, _mm256_cmpgt_epi64(lo, y));
  return _mm256_blendv_epi8(y, hi, _mm256_cmpgt_epi64(y, hi));
}

inline __m256i load64(const int64_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }

// Four channels in int64 lanes; returns the int32 results in the low 128 bits' lanes.
inline __m128i requant4(__m256i a64, int64_t oc, const QEpilogue& e, const uint8_t* skip, __m256i zp,
                        __m256i lo, __m256i hi, const __m256i sk[5]) {
  __m256i y = srs4(_mm256_mul_epi32(a64, load64(e.mult + oc)), load64(e.shift + oc), load64(e.half + oc),
                   load64(e.halfm1 + oc), load64(e.sbit + oc), e.rounding);
  if (e.has_skip) {
    const __m128i raw = _mm_cvtsi32_si128(load_u32(skip));
    const __m256i s = e.skip_u8 ? _mm256_cvtepu8_epi64(raw) : _mm256_cvtepi8_epi64(raw);
    y = _mm256_add_epi64(y, srs4(_mm256_mul_epi32(s, sk[0]), sk[1], sk[2], sk[3], sk[4], e.rounding));
  }
  y = clamp64(_mm256_add_epi64(y, zp), lo, hi);
  return _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(y, _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6)));
}

void requant_contiguous(const int32_t* acc, int64_t n, int64_t oc0, const QEpilogue& e, const QStoreRow& d) {
  auto* out = static_cast<uint8_t*>(d.out);
  const auto* skip = static_cast<const uint8_t*>(d.skip);
  const __m256i zp = _mm256_set1_epi64x(e.zp), lo = _mm256_set1_epi64x(e.lo), hi = _mm256_set1_epi64x(e.hi);
  const int64_t ss = e.skip_shift, sh = ss > 0 ? int64_t(1) << (ss - 1) : 0;
  const __m256i sk[5] = {_mm256_set1_epi64x(e.skip_mult), _mm256_set1_epi64x(ss), _mm256_set1_epi64x(sh),
                         _mm256_set1_epi64x(ss > 0 ? sh - 1 : 0), _mm256_set1_epi64x(ss > 0 ? 1 : 0)};
  const __m128i bytes = _mm_setr_epi8(0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
  int64_t j = 0;
  for (; j + 4 <= n; j += 4) {
    const int64_t oc = oc0 + j;
    const __m128i a32 = _mm_add_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(acc + j)),
                                      _mm_loadu_si128(reinterpret_cast<const __m128i*>(e.bias + oc)));
    const __m128i r = requant4(_mm256_cvtepi32_epi64(a32), oc, e, skip ? skip + j : nullptr, zp, lo, hi, sk);
    const int32_t packed = _mm_cvtsi128_si32(_mm_shuffle_epi8(r, bytes));
    std::memcpy(out + j, &packed, 4);
  }
  if (j < n)
    requant_row_scalar(acc + j, n - j, oc0 + j, e, QStoreRow{out + j, skip ? skip + j : nullptr, 1});
}

}  // namespace

void requant_row_avx2(const int32_t* acc, int64_t n, int64_t oc0, const QEpilogue& e, const QStoreRow& d) {
  if (d.col_stride == 1)
    requant_contiguous(acc, n, oc0, e, d);
  else
    requant_strided(requant_contiguous, acc, n, oc0, e, d);
}

void depthwise_avx2(const QDepthwiseArgs& a) {
  for (int64_t j = 0; j < a.npix; ++j) {
    const uint8_t* px = a.a_pix[j];
    int32_t* o = a.out + j * a.ldo;
    const __m128i fx = _mm_set1_epi8(static_cast<char>(a.a_xor));
    for (int64_t ch = 0; ch < a.channels; ch += 8) {
      __m256i acc = _mm256_setzero_si256();
      for (int t = 0; t < a.ntaps; t += 2) {
        const __m128i x0 = _mm_xor_si128(fx, _mm_loadl_epi64(reinterpret_cast<const __m128i*>(px + a.tap_off[t] + ch)));
        const __m128i x1 = t + 1 < a.ntaps
                               ? _mm_xor_si128(fx, _mm_loadl_epi64(reinterpret_cast<const __m128i*>(px + a.tap_off[t + 1] + ch)))
                               : _mm_setzero_si128();
        const __m256i x = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(x0, x1));
        const __m256i w = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a.w + ((t / 2) * a.cpad + ch) * 2));
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(x, w));
      }
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(o + ch), acc);
    }
  }
}

Qs8KernelTable make_qs8_avx2() {
  return {QIsa::Avx2, &gemm, &depthwise_avx2, &requant_row_avx2, &requant_rows_loop<requant_row_avx2>};
}

}  // namespace aie_kernels::qs8
