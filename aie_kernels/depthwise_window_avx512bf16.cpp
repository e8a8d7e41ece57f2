// depthwise_bf16_rows on AVX512-BF16 hosts: the window kernel of kernels_impl.h
// (depthwise_bf16_window) with the same FMA chain per element, so the same bits, in
// fewer instructions:
// - 32 channels per step, held as their even and odd channels: one 64-byte load of
//   bf16 pixels widens into both halves with a shift and a mask (the generic kernel
//   widens 16 channels with a zero-extending load and a shift);
// - the bf16 output is converted by vcvtne2ps2bf16 and re-interleaved by one vpermw,
//   wherever that equals the emulator's rounding (round_bf16: not for NaNs or
//   denormals, which the hardware treats otherwise);
// - the activation is fixed per call (with_activation), not switched per vector.
// Channel tails run the same code on masked loads and stores; border chunks (a clip)
// load the padding's zeros by empty masks. (2026-12-07, Zen 4: the
// generic kernel's widening and rounding took as many instructions as its FMAs.)
#include <immintrin.h>

#include <cmath>
#include <cstdint>
#include <cstring>

#include "aie_kernels/bf16.h"
#include "aie_kernels/kernel_table.h"
#include "aie_kernels/window_forms.h"

namespace aie_kernels {
namespace dw_bf16 {
#include "aie_kernels/vec.h"
using V = VecAvx512;
#include "aie_kernels/activation_impl.h"
}  // namespace dw_bf16

namespace {

using dw_bf16::V;

// Lanes of a 32-channel step: n valid channels (32 in a full step), as the masks of
// its bf16 vector and of its two fp32 halves (channels 0-15, 16-31).
struct Lanes {
  __mmask32 bf16;
  __mmask16 lo, hi;
  explicit Lanes(int64_t n)
      : bf16(n >= 32 ? ~__mmask32{0} : static_cast<__mmask32>((uint64_t{1} << n) - 1)),
        lo(static_cast<__mmask16>(bf16)), hi(static_cast<__mmask16>(bf16 >> 16)) {}
};

// The even and odd channels of 32 fp32 values in natural order.
struct Split {
  __m512 even, odd;
};

inline __m512i index_even() { return _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0); }
inline __m512i index_odd() { return _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1); }

template <bool Tail>
[[gnu::always_inline]] inline Split load_split(const float* p, const Lanes& l) {
  const __m512 lo = Tail ? _mm512_maskz_loadu_ps(l.lo, p) : _mm512_loadu_ps(p);
  const __m512 hi = Tail ? _mm512_maskz_loadu_ps(l.hi, p + 16) : _mm512_loadu_ps(p + 16);
  return {_mm512_permutex2var_ps(lo, index_even(), hi), _mm512_permutex2var_ps(lo, index_odd(), hi)};
}

// 32 bf16 values widened exactly: each 32-bit lane holds channels 2i (low half) and 2i + 1.
// Masked: the lanes of `m` only, zeros elsewhere (and no memory read there).
template <bool Masked>
[[gnu::always_inline]] inline Split load_bf16_split(const uint16_t* p, __mmask32 m) {
  const __m512i x = Masked ? _mm512_maskz_loadu_epi16(m, p) : _mm512_loadu_si512(p);
  return {_mm512_castsi512_ps(_mm512_slli_epi32(x, 16)),
          _mm512_castsi512_ps(_mm512_and_si512(x, _mm512_set1_epi32(static_cast<int>(0xFFFF0000u))))};
}

template <bool Tail>
[[gnu::always_inline]] inline void store_f32(float* p, const Split& v, const Lanes& l) {
  // Natural order again: lanes e0 o0 e1 o1 ... of the two halves.
  const __m512i lo_idx = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
  const __m512i hi_idx = _mm512_set_epi32(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8);
  const __m512 lo = _mm512_permutex2var_ps(v.even, lo_idx, v.odd), hi = _mm512_permutex2var_ps(v.even, hi_idx, v.odd);
  if (Tail) {
    _mm512_mask_storeu_ps(p, l.lo, lo);
    _mm512_mask_storeu_ps(p + 16, l.hi, hi);
  } else {
    _mm512_storeu_ps(p, lo);
    _mm512_storeu_ps(p + 16, hi);
  }
}

template <bool Tail>
[[gnu::always_inline]] inline void store_bf16(uint16_t* p, const Split& v, const Lanes& l) {
  __m512i bits;
  // NaNs (the hardware keeps their payload) and denormals (it flushes them): round_bf16.
  const __mmask16 special = _mm512_fpclass_ps_mask(v.even, 0x01 | 0x20 | 0x80) |
                            _mm512_fpclass_ps_mask(v.odd, 0x01 | 0x20 | 0x80);
  if (special) {
    const __m512i e = _mm512_castps_si512(V::round_bf16(V{v.even}).v);
    const __m512i o = _mm512_castps_si512(V::round_bf16(V{v.odd}).v);
    bits = _mm512_or_si512(_mm512_srli_epi32(e, 16), o);  // round_bf16 clears the low halves
  } else {
    // [even 0-15 | odd 0-15] as bf16, then interleaved back to channel order.
    const __m512i packed = reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(v.odd, v.even));
    const __m512i idx = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23, 7, 22, 6,
                                         21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    bits = _mm512_permutexvar_epi16(idx, packed);
  }
  if (Tail)
    _mm512_mask_storeu_epi16(p, l.bf16, bits);
  else
    _mm512_storeu_si512(p, bits);
}

// epilogue_contiguous's steps for one pixel's 32 channels: + bias, + residual, the
// activation, then the store (one rounding to bf16, or fp32).
template <Activation A, bool Tail>
[[gnu::always_inline]] inline void finish(Split v, const Split* bias, const DepthwiseOut& o, int64_t e, const Lanes& l) {
  if (bias) v = {_mm512_add_ps(v.even, bias->even), _mm512_add_ps(v.odd, bias->odd)};
  if (o.res.data) {
    const Split r = o.res.bf16 ? load_bf16_split<Tail>(static_cast<const uint16_t*>(o.res.data) + e, l.bf16)
                               : load_split<Tail>(static_cast<const float*>(o.res.data) + e, l);
    v = {_mm512_add_ps(v.even, r.even), _mm512_add_ps(v.odd, r.odd)};
  }
  v = {dw_bf16::activate<A>(V{v.even}).v, dw_bf16::activate<A>(V{v.odd}).v};
  if (o.bf16)
    store_bf16<Tail>(static_cast<uint16_t*>(o.data) + e, v, l);
  else
    store_f32<Tail>(static_cast<float*>(o.data) + e, v, l);
}

// Channels [ch, ch + 32) (fewer in a tail) of kChunkPixels outputs: each output's taps
// kernel row by kernel row, left to right, one FMA each from +0, as the generic kernel.
// Clipped: masked loads read the pixels `clip` names, zeros stand for the others.
template <int KW, int SW, bool Tail, bool Clipped>
[[gnu::always_inline]] inline void channel_step(const uint16_t* base, const int64_t* row_off, int kh_count,
                                                int64_t pix_stride, const float* w, const DepthwiseOut& o,
                                                int64_t ch, const Lanes& l, int npix, const WindowClip* clip) {
  constexpr int P = kChunkPixels, span = (P - 1) * SW + KW;
  Split acc[P];
  static_for<P>([&](auto j) __attribute__((always_inline)) { acc[j] = {_mm512_setzero_ps(), _mm512_setzero_ps()}; });
  for (int kh = 0; kh < kh_count; ++kh) {
    Split wv[KW];
    static_for<KW>([&](auto kw) __attribute__((always_inline)) { wv[kw] = load_split<Tail>(w + (kh * KW + kw) * o.channels + ch, l); });
    const uint16_t* row = base + row_off[kh] + ch;
    const bool row_read = !Clipped || (kh >= clip->row_first && kh < clip->row_last);
    static_for<span>([&](auto p) __attribute__((always_inline)) {
      Split x;
      if constexpr (Clipped)
        x = load_bf16_split<true>(row + p * pix_stride, row_read && p >= clip->first && p < clip->last ? l.bf16 : 0);
      else
        x = load_bf16_split<Tail>(row + p * pix_stride, l.bf16);
      static_for<KW>([&](auto kw) __attribute__((always_inline)) {
        constexpr int q = p - kw;
        if constexpr (q >= 0 && q % SW == 0 && q / SW < P) {
          acc[q / SW].even = _mm512_fmadd_ps(x.even, wv[kw].even, acc[q / SW].even);
          acc[q / SW].odd = _mm512_fmadd_ps(x.odd, wv[kw].odd, acc[q / SW].odd);
        }
      });
    });
  }
  Split bias;
  if (o.bias) bias = load_split<Tail>(o.bias + ch, l);
  dw_bf16::with_activation(o.act, [&](auto a) __attribute__((always_inline)) {
    static_for<P>([&](auto j) __attribute__((always_inline)) {
      if (j < npix) finish<decltype(a)::value, Tail>(acc[j], o.bias ? &bias : nullptr, o, j * o.pix_stride + ch, l);
    });
  });
}

template <int KW, int SW, bool Clipped>
void window(const uint16_t* base, const int64_t* row_off, int kh_count, int64_t pix_stride, const float* w,
            const DepthwiseOut& o, int npix, const WindowClip* clip) {
  int64_t ch = 0;
  const Lanes full(32);
  for (; ch + 32 <= o.channels; ch += 32)
    channel_step<KW, SW, false, Clipped>(base, row_off, kh_count, pix_stride, w, o, ch, full, npix, clip);
  if (ch < o.channels)
    channel_step<KW, SW, true, Clipped>(base, row_off, kh_count, pix_stride, w, o, ch, Lanes(o.channels - ch), npix,
                                        clip);
}

}  // namespace

bool depthwise_bf16_rows_avx512bf16(const uint16_t* base, const int64_t* row_off, int kh_count, int kw_count,
                                    int stride, int64_t pix_stride, const float* w, const DepthwiseOut& out,
                                    int npix, const WindowClip* clip) {
  return with_window_form(kw_count, stride, [&](auto kw, auto sw) {
    constexpr int KW = decltype(kw)::value, SW = decltype(sw)::value;
    if (clip)
      window<KW, SW, true>(base, row_off, kh_count, pix_stride, w, out, npix, clip);
    else
      window<KW, SW, false>(base, row_off, kh_count, pix_stride, w, out, npix, nullptr);
  });
}

}  // namespace aie_kernels
