// The AMX-INT8 variant: tdpbusd (u8 x s8 -> int32 tiles) on a 32-pixel x 32-channel
// block held in four 16x16 int32 tiles, A repacked once per call into 64-byte tile
// rows. Depthwise and the epilogue are the AVX-512 ones (AMX hosts have AVX-512).
// Compiled with -mamx-tile -mamx-int8 (CMakeLists.txt).
#include <immintrin.h>

#include <cstring>

#include "aie_kernels/amx_tiles.h"
#include "aie_kernels/int8/qs8.h"
#include "aie_kernels/int8/qs8_variants.h"

namespace aie_kernels::qs8 {

namespace {

// Tile configuration (palette 1): tiles 0-1 A (16 rows x 64 B), 2-3 B (16 dword rows x
// 16 channels), 4-7 C (16 x 16 int32).
void load_config() { load_full_tile_config(); }

// n bytes src -> dst in u8 form (x ^ fx per byte).
inline void copy_xor(uint8_t* dst, const uint8_t* src, int64_t n, uint8_t fx) {
  if (fx == 0) {
    std::memcpy(dst, src, n);
    return;
  }
  const __m512i f = _mm512_set1_epi8(static_cast<char>(fx));
  int64_t i = 0;
  for (; i + 64 <= n; i += 64)
    _mm512_storeu_si512(dst + i, _mm512_xor_si512(f, _mm512_loadu_si512(src + i)));
  if (i < n) {
    const __mmask64 m = (~0ull) >> (64 - (n - i));
    _mm512_mask_storeu_epi8(dst + i, m, _mm512_xor_si512(f, _mm512_maskz_loadu_epi8(m, src + i)));
  }
}

// A rows packed as [kQMB][kp] bytes in u8 form: the im2col of this call's rows (rows
// past `rows` and reduction bytes past taps * kc are zero; their weights are zero too).
void pack_a(const QGemmArgs& a, uint8_t* dst, int64_t mrows) {
  const int64_t kreal = a.ntaps * a.kc;
  const uint8_t fx = static_cast<uint8_t>(a.a_xor);
  for (int64_t m = 0; m < mrows; ++m) {
    uint8_t* d = dst + m * a.kp;
    if (m < a.rows) {
      for (int t = 0; t < a.ntaps; ++t) copy_xor(d + t * a.kc, a.a_rows[m] + a.tap_off[t], a.kc, fx);
      std::memset(d + kreal, 0, a.kp - kreal);
    } else {
      std::memset(d, 0, a.kp);
    }
  }
}

void gemm(const QGemmArgs& a) {
  // Reductions under one tile row would multiply mostly zero padding (and pay the A
  // repack): vpdpbusd on the registers is faster there (measured: K = 16, 1x1 16 -> 96).
  if (a.ntaps * a.kc <= kQKP / 2) return gemm_avx512_vnni(a);
  const bool two = a.rows > 16;  // second 16-row half of the pixel block
  const int64_t mrows = two ? 32 : 16;
  uint8_t* ap = a.scratch;
  pack_a(a, ap, mrows);
  alignas(64) int32_t cbuf[32 * 32];
  load_config();
  for (int64_t j = 0; j < a.nblocks; ++j) {
    const int8_t* b = a.b + j * a.b_stride;
    _tile_zero(4);
    _tile_zero(5);
    if (two) {
      _tile_zero(6);
      _tile_zero(7);
    }
    for (int64_t k = 0; k < a.kp; k += kQKP) {
      // B rows are dwords of the reduction: 16 rows = 64 bytes of K, 16 channels each.
      const int8_t* bk = b + (k / kQK) * kQNR * kQK;
      _tile_loadd(2, bk, kQNR * kQK);
      _tile_loadd(3, bk + 16 * kQK, kQNR * kQK);
      _tile_loadd(0, ap + k, a.kp);
      _tile_dpbusd(4, 0, 2);
      _tile_dpbusd(5, 0, 3);
      if (two) {
        _tile_loadd(1, ap + 16 * a.kp + k, a.kp);
        _tile_dpbusd(6, 1, 2);
        _tile_dpbusd(7, 1, 3);
      }
    }
    int32_t* c = a.c + j * kQNR;
    const bool direct = a.rows == mrows;  // whole tiles: store straight into C
    int32_t* dst = direct ? c : cbuf;
    const int64_t ld = direct ? a.ldc : 32;
    _tile_stored(4, dst, ld * 4);
    _tile_stored(5, dst + 16, ld * 4);
    if (two) {
      _tile_stored(6, dst + 16 * ld, ld * 4);
      _tile_stored(7, dst + 16 * ld + 16, ld * 4);
    }
    if (!direct)
      for (int64_t m = 0; m < a.rows; ++m) std::memcpy(c + m * a.ldc, cbuf + m * 32, kQNR * 4);
  }
  _tile_release();
}

}  // namespace

Qs8KernelTable make_qs8_amx() {
  return {QIsa::Amx, &gemm, &depthwise_avx512, &requant_row_avx512, &requant_rows_avx512};
}

}  // namespace aie_kernels::qs8
