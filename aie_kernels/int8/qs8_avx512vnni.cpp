// The AVX-512 VNNI variant: vpdpbusd (u8 x s8 -> int32, 4 products per lane, wrapping,
// never saturating) on an 8-pixel x 32-channel register tile, a vectorised int64 SRS
// epilogue, and a vpmaddwd depthwise kernel. Compiled with -mavx512vnni (CMakeLists.txt).
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

// MR pixel rows x kQNR channels, the whole reduction in registers.
template <int MR>
void tile(const uint8_t* const* rows, const int64_t* tap_off, int ntaps, int64_t kc, const int8_t* b,
          int32_t* c, int64_t ldc, int32_t ax) {
  __m512i acc[MR][2];
  for (int i = 0; i < MR; ++i) acc[i][0] = acc[i][1] = _mm512_setzero_si512();
  const int8_t* bp = b;
  for (int t = 0; t < ntaps; ++t) {
    const uint8_t* x[MR];
    for (int i = 0; i < MR; ++i) x[i] = rows[i] + tap_off[t];
    for (int64_t p = 0; p < kc; p += kQK, bp += kQNR * kQK) {
      const __m512i b0 = _mm512_loadu_si512(bp), b1 = _mm512_loadu_si512(bp + 64);
      for (int i = 0; i < MR; ++i) {
        const __m512i a = _mm512_set1_epi32(load_u32(x[i] + p) ^ ax);
        acc[i][0] = _mm512_dpbusd_epi32(acc[i][0], a, b0);
        acc[i][1] = _mm512_dpbusd_epi32(acc[i][1], a, b1);
      }
    }
  }
  for (int i = 0; i < MR; ++i) {
    _mm512_storeu_si512(c + i * ldc, acc[i][0]);
    _mm512_storeu_si512(c + i * ldc + 16, acc[i][1]);
  }
}

using TileFn = void (*)(const uint8_t* const*, const int64_t*, int, int64_t, const int8_t*, int32_t*, int64_t, int32_t);
constexpr int kMR = 8;
constexpr TileFn kTiles[kMR + 1] = {nullptr, tile<1>, tile<2>, tile<3>, tile<4>, tile<5>, tile<6>, tile<7>, tile<8>};

}  // namespace

void gemm_avx512_vnni(const QGemmArgs& a) {
  for (int64_t j = 0; j < a.nblocks; ++j) {
    const int8_t* b = a.b + j * a.b_stride;
    for (int64_t m = 0; m < a.rows; m += kMR) {
      const int64_t mr = a.rows - m < kMR ? a.rows - m : kMR;
      kTiles[mr](a.a_rows + m, a.tap_off, a.ntaps, a.kc, b, a.c + m * a.ldc + j * kQNR, a.ldc, int32_t(a.a_xor));
    }
  }
}

namespace {

void requant_contiguous(const int32_t* acc, int64_t n, int64_t oc0, const QEpilogue& e, const QStoreRow& d);

// SRS of 8 int64 lanes by per-lane shifts (see srs() in qs8.h); `c` is the per-lane
// rounding addend the mode needs (half, or half - 1 for conv_even), `sbit` 1 where s > 0.
template <QRound R>
inline __m512i srs8(__m512i v, __m512i s, __m512i c, __m512i sbit) {
  if constexpr (R == QRound::Floor) {
    return _mm512_srav_epi64(v, s);
  } else if constexpr (R == QRound::PositiveInf) {
    return _mm512_srav_epi64(_mm512_add_epi64(v, c), s);
  } else if constexpr (R == QRound::SymmetricInf) {
    const __m512i q = _mm512_srav_epi64(_mm512_add_epi64(_mm512_abs_epi64(v), c), s);
    const __mmask8 neg = _mm512_cmplt_epi64_mask(v, _mm512_setzero_si512());
    return _mm512_mask_sub_epi64(q, neg, _mm512_setzero_si512(), q);
  } else {
    const __m512i odd = _mm512_and_si512(_mm512_srav_epi64(v, s), sbit);
    return _mm512_srav_epi64(_mm512_add_epi64(_mm512_add_epi64(v, c), odd), s);
  }
}

// Contiguous row: 8 channels per step in int64 lanes, the mode and the skip add
// resolved at compile time; table pointers held in locals (byte stores alias anything).
// How a step clamps and narrows: the saturating narrowing vpmovsqb is the clamp when
// the range is all of int8 (uint8's all of [0, 255] needs a max first for vpmovusqb).
enum class Clamp { Int8Full, Uint8Full, Range };

template <QRound R, bool SKIP, Clamp CL>
void requant_contiguous_t(const int32_t* acc_rows, int64_t ldc, int64_t rows, int64_t n, int64_t oc0,
                          const QEpilogue& e, const QStoreRow* dst) {
  const int32_t* bias = e.bias + oc0;
  const int64_t *mult = e.mult + oc0, *shift = e.shift + oc0, *sbit = e.sbit + oc0;
  const int64_t* addc = (R == QRound::ConvEven ? e.halfm1 : e.half) + oc0;
  const bool skip_u8 = e.skip_u8;
  const __m512i zp = _mm512_set1_epi64(e.zp), lo = _mm512_set1_epi64(e.lo), hi = _mm512_set1_epi64(e.hi);
  const int64_t ss = e.skip_shift, sh = ss > 0 ? int64_t(1) << (ss - 1) : 0;
  const __m512i sk_mult = _mm512_set1_epi64(e.skip_mult), sk_s = _mm512_set1_epi64(ss),
                sk_c = _mm512_set1_epi64(R == QRound::ConvEven ? (ss > 0 ? sh - 1 : 0) : sh),
                sk_sbit = _mm512_set1_epi64(ss > 0 ? 1 : 0);
  const int32_t* acc;
  uint8_t* out;
  const uint8_t* skip;
  // Eight channels from j; masked loads and stores only for the row's tail.
  auto step = [&](int64_t j, __mmask8 m) __attribute__((always_inline)) {
    const __m256i a32 = _mm256_add_epi32(_mm256_maskz_loadu_epi32(m, acc + j), _mm256_maskz_loadu_epi32(m, bias + j));
    const __m512i v = _mm512_mul_epi32(_mm512_cvtepi32_epi64(a32), _mm512_maskz_loadu_epi64(m, mult + j));
    const __m512i sv = _mm512_maskz_loadu_epi64(m, shift + j);
    const __m512i cv = R == QRound::Floor ? sv : _mm512_maskz_loadu_epi64(m, addc + j);
    const __m512i bv = R == QRound::ConvEven ? _mm512_maskz_loadu_epi64(m, sbit + j) : sv;
    __m512i y = srs8<R>(v, sv, cv, bv);
    if constexpr (SKIP) {
      const __m128i raw = _mm_maskz_loadu_epi8(m, skip + j);
      const __m512i s = skip_u8 ? _mm512_cvtepu8_epi64(raw) : _mm512_cvtepi8_epi64(raw);
      y = _mm512_add_epi64(y, srs8<R>(_mm512_mul_epi32(s, sk_mult), sk_s, sk_c, sk_sbit));
    }
    y = _mm512_add_epi64(y, zp);
    if constexpr (CL == Clamp::Int8Full) {
      _mm_mask_storeu_epi8(out + j, m, _mm512_cvtsepi64_epi8(y));
    } else if constexpr (CL == Clamp::Uint8Full) {
      _mm_mask_storeu_epi8(out + j, m, _mm512_cvtusepi64_epi8(_mm512_max_epi64(y, lo)));
    } else {
      _mm_mask_storeu_epi8(out + j, m, _mm512_cvtepi64_epi8(_mm512_min_epi64(_mm512_max_epi64(y, lo), hi)));
    }
  };
  for (int64_t i = 0; i < rows; ++i) {
    if (dst[i].col_stride != 1) {  // planar outputs: through a contiguous chunk
      requant_strided(requant_contiguous, acc_rows + i * ldc, n, oc0, e, dst[i]);
      continue;
    }
    acc = acc_rows + i * ldc;
    out = static_cast<uint8_t*>(dst[i].out);
    skip = static_cast<const uint8_t*>(dst[i].skip);
    int64_t j = 0;
    for (; j + 16 <= n; j += 16) {  // two independent steps per iteration, all-ones masks
      step(j, 0xFF);
      step(j + 8, 0xFF);
    }
    for (; j < n; j += 8) step(j, n - j >= 8 ? __mmask8(0xFF) : __mmask8((1u << (n - j)) - 1));
  }
}

template <QRound R, Clamp CL>
void requant_clamp(const int32_t* acc, int64_t ldc, int64_t rows, int64_t n, int64_t oc0, const QEpilogue& e,
                   const QStoreRow* d) {
  if (e.has_skip)
    requant_contiguous_t<R, true, CL>(acc, ldc, rows, n, oc0, e, d);
  else
    requant_contiguous_t<R, false, CL>(acc, ldc, rows, n, oc0, e, d);
}

template <QRound R>
void requant_mode(const int32_t* acc, int64_t ldc, int64_t rows, int64_t n, int64_t oc0, const QEpilogue& e,
                  const QStoreRow* d) {
  if (!e.out_u8 && e.lo == -128 && e.hi == 127)
    requant_clamp<R, Clamp::Int8Full>(acc, ldc, rows, n, oc0, e, d);
  else if (e.out_u8 && e.lo == 0 && e.hi == 255)
    requant_clamp<R, Clamp::Uint8Full>(acc, ldc, rows, n, oc0, e, d);
  else
    requant_clamp<R, Clamp::Range>(acc, ldc, rows, n, oc0, e, d);
}

void requant_tile(const int32_t* acc, int64_t ldc, int64_t rows, int64_t n, int64_t oc0, const QEpilogue& e,
                  const QStoreRow* d) {
  switch (e.rounding) {
    case QRound::Floor: return requant_mode<QRound::Floor>(acc, ldc, rows, n, oc0, e, d);
    case QRound::PositiveInf: return requant_mode<QRound::PositiveInf>(acc, ldc, rows, n, oc0, e, d);
    case QRound::SymmetricInf: return requant_mode<QRound::SymmetricInf>(acc, ldc, rows, n, oc0, e, d);
    case QRound::ConvEven: return requant_mode<QRound::ConvEven>(acc, ldc, rows, n, oc0, e, d);
  }
}

void requant_contiguous(const int32_t* acc, int64_t n, int64_t oc0, const QEpilogue& e, const QStoreRow& d) {
  requant_tile(acc, 0, 1, n, oc0, e, &d);
}

}  // namespace

void requant_row_avx512(const int32_t* acc, int64_t n, int64_t oc0, const QEpilogue& e, const QStoreRow& d) {
  requant_tile(acc, 0, 1, n, oc0, e, &d);
}

void requant_rows_avx512(const int32_t* acc, int64_t ldc, int64_t rows, int64_t n, int64_t oc0, const QEpilogue& e,
                         const QStoreRow* dst) {
  requant_tile(acc, ldc, rows, n, oc0, e, dst);
}

void depthwise_avx512(const QDepthwiseArgs& a) {
  for (int64_t j = 0; j < a.npix; ++j) {
    const uint8_t* px = a.a_pix[j];
    int32_t* o = a.out + j * a.ldo;
    const __m128i fx = _mm_set1_epi8(static_cast<char>(a.a_xor));
    for (int64_t ch = 0; ch < a.channels; ch += 16) {
      __m512i acc = _mm512_setzero_si512();
      for (int t = 0; t < a.ntaps; t += 2) {
        const __m128i x0 = _mm_xor_si128(fx, _mm_loadu_si128(reinterpret_cast<const __m128i*>(px + a.tap_off[t] + ch)));
        const __m128i x1 = t + 1 < a.ntaps
                               ? _mm_xor_si128(fx, _mm_loadu_si128(reinterpret_cast<const __m128i*>(px + a.tap_off[t + 1] + ch)))
                               : _mm_setzero_si128();
        // (ch, tap t), (ch, tap t+1) pairs in channel order, widened to int16 (exact:
        // |x * w| <= 255 * 128, and vpmaddwd sums two such products into int32).
        const __m512i x = _mm512_cvtepu8_epi16(
            _mm256_set_m128i(_mm_unpackhi_epi8(x0, x1), _mm_unpacklo_epi8(x0, x1)));
        const __m512i w = _mm512_loadu_si512(a.w + ((t / 2) * a.cpad + ch) * 2);
        acc = _mm512_add_epi32(acc, _mm512_madd_epi16(x, w));
      }
      _mm512_storeu_si512(o + ch, acc);
    }
  }
}

Qs8KernelTable make_qs8_avx512_vnni() {
  return {QIsa::Avx512Vnni, &gemm_avx512_vnni, &depthwise_avx512, &requant_row_avx512, &requant_rows_avx512};
}

}  // namespace aie_kernels::qs8
