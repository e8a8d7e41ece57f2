// Weight packing for the int8 kernels (ISA-independent): GEMM blocks, the depthwise
// tap-pair table, column sums. Runs once per weight (the weight cache keeps the result).
#include <algorithm>
#include <cstring>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "aie_kernels/int8/qs8.h"
#include "aie_kernels/tile_shapes.h"

namespace aie_kernels::qs8 {

int64_t packed_gemm_bytes(int64_t groups, int64_t ocg, int64_t kp) {
  return groups * ceil_div(ocg, kQNR) * kp * kQNR;
}

void pack_gemm_weights(const int8_t* w, int64_t groups, int64_t ocg, int64_t cg, int64_t taps,
                       int64_t run, int8_t* out, int64_t kp) {
  const int64_t nblk = ceil_div(ocg, kQNR);
  const int64_t kc = round_up(run * cg, kQK);
  std::memset(out, 0, packed_gemm_bytes(groups, ocg, kp));
  for (int64_t g = 0; g < groups; ++g) {
    for (int64_t n = 0; n < ocg; ++n) {
      const int8_t* src = w + (g * ocg + n) * cg * taps;  // [Cg][taps] of this output channel
      int8_t* blk = out + (g * nblk + n / kQNR) * kp * kQNR;
      const int64_t col = n % kQNR;
      for (int64_t t = 0; t < taps; ++t)
        for (int64_t c = 0; c < cg; ++c) {
          // Reduction index: tap-major, channel-minor, `run` taps per padded row.
          const int64_t k = (t / run) * kc + (t % run) * cg + c;
          blk[(k / kQK) * kQNR * kQK + col * kQK + k % kQK] = src[c * taps + t];
        }
    }
  }
}

int64_t packed_dw_elems(int64_t taps, int64_t cpad) { return ceil_div(taps, 2) * cpad * 2; }

void pack_dw_weights(const int8_t* w, int64_t channels, int64_t taps, int64_t cpad, int16_t* out) {
  std::fill(out, out + packed_dw_elems(taps, cpad), int16_t(0));
  for (int64_t c = 0; c < channels; ++c)
    for (int64_t t = 0; t < taps; ++t) out[((t / 2) * cpad + c) * 2 + t % 2] = w[c * taps + t];
}

namespace {

#if defined(__SSE2__)
// One 16x16 byte block: unpacks at 8, 16, 32 and 64 bits interleave rows pairwise until
// every register holds one column (SSE2: the x86-64 baseline, so no ISA variant needed).
void transpose16(const uint8_t* s, int64_t ss, uint8_t* d, int64_t ds) {
  __m128i r[16], a[16], b[4][4], c[2][8];
  for (int i = 0; i < 16; ++i) r[i] = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i * ss));
  for (int i = 0; i < 8; ++i) {  // a[i]: rows 2i, 2i+1 x cols 0-7; a[i + 8]: cols 8-15
    a[i] = _mm_unpacklo_epi8(r[2 * i], r[2 * i + 1]);
    a[i + 8] = _mm_unpackhi_epi8(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 4; ++i)  // b[i][q]: rows 4i..4i+3 x cols 4q..4q+3
    for (int h = 0; h < 2; ++h) {
      b[i][2 * h] = _mm_unpacklo_epi16(a[h * 8 + 2 * i], a[h * 8 + 2 * i + 1]);
      b[i][2 * h + 1] = _mm_unpackhi_epi16(a[h * 8 + 2 * i], a[h * 8 + 2 * i + 1]);
    }
  for (int g = 0; g < 2; ++g)  // c[g][p]: rows 8g..8g+7 x cols 2p, 2p+1
    for (int q = 0; q < 4; ++q) {
      c[g][2 * q] = _mm_unpacklo_epi32(b[2 * g][q], b[2 * g + 1][q]);
      c[g][2 * q + 1] = _mm_unpackhi_epi32(b[2 * g][q], b[2 * g + 1][q]);
    }
  for (int p = 0; p < 8; ++p) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(d + (2 * p) * ds), _mm_unpacklo_epi64(c[0][p], c[1][p]));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(d + (2 * p + 1) * ds), _mm_unpackhi_epi64(c[0][p], c[1][p]));
  }
}
#endif

}  // namespace

void transpose_bytes(const uint8_t* src, int64_t ss, int64_t rows, int64_t cols, uint8_t* dst, int64_t ds) {
  int64_t r0 = 0;
#if defined(__SSE2__)
  for (; r0 + 16 <= rows; r0 += 16) {
    int64_t c0 = 0;
    for (; c0 + 16 <= cols; c0 += 16) transpose16(src + r0 * ss + c0, ss, dst + c0 * ds + r0, ds);
    for (int64_t r = r0; r < r0 + 16; ++r)
      for (int64_t c = c0; c < cols; ++c) dst[c * ds + r] = src[r * ss + c];
  }
#endif
  for (int64_t r = r0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) dst[c * ds + r] = src[r * ss + c];
}

void weight_colsums(const int8_t* w, int64_t oc, int64_t k, int32_t* out) {
  for (int64_t n = 0; n < oc; ++n) {
    int32_t s = 0;
    for (int64_t i = 0; i < k; ++i) s += w[n * k + i];
    out[n] = s;
  }
}

}  // namespace aie_kernels::qs8
