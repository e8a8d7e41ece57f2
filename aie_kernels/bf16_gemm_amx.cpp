// The bf16 GEMM on AMX-BF16 tiles (flags set per file in CMakeLists.txt). Tiles
// 0-3 hold a 32 x 32 block of C (2 x 2 tiles of 16 x 16 fp32), 4-5 two A tiles
// (16 rows x 32 bf16), 6-7 two B tiles (16 pairs x 16 channels x 2, one VNNI
// panel's rows). A tile rows are read with the caller's row stride straight from
// staged activations or packed panels. The tile state must have been granted to
// the process (host_isa.cpp asks once, before this ISA can be selected).
#include <immintrin.h>

#include <cstring>

#include "aie_kernels/amx_tiles.h"
#include "aie_kernels/bf16_gemm.h"

namespace aie_kernels {
namespace {

void configure_tiles() { load_full_tile_config(); }

constexpr int kRowsT = 16;  // rows per A / C tile
constexpr int64_t kPairRow = 2 * kB16NR;  // bf16 per B tile row (one pair of k)

// One C block of MT x NT tiles (1 or 2 each) over the whole reduction.
template <bool M2, bool N2>
void block(const uint16_t* a, int64_t lda, const int64_t* tap_off, int ntaps, int64_t kc,
           const uint16_t* b, int64_t b_stride, float* c, int64_t ldc, bool accumulate) {
  const int64_t cs = ldc * 4, as = lda * 2;
  float* c1 = c + kB16NR;
  float* c2 = c + kRowsT * ldc;
  float* c3 = c2 + kB16NR;
  if (accumulate) {
    _tile_loadd(0, c, cs);
    if constexpr (N2) _tile_loadd(1, c1, cs);
    if constexpr (M2) _tile_loadd(2, c2, cs);
    if constexpr (M2 && N2) _tile_loadd(3, c3, cs);
  } else {
    _tile_zero(0);
    if constexpr (N2) _tile_zero(1);
    if constexpr (M2) _tile_zero(2);
    if constexpr (M2 && N2) _tile_zero(3);
  }
  const uint16_t* bp = b;
  for (int t = 0; t < ntaps; ++t) {
    const uint16_t* ar = a + tap_off[t];
    for (int64_t q = 0; q < kc; q += kB16KChunk, bp += (kB16KChunk / 2) * kPairRow) {
      _tile_loadd(4, ar + q, as);
      if constexpr (M2) _tile_loadd(5, ar + kRowsT * lda + q, as);
      _tile_loadd(6, bp, 64);
      if constexpr (N2) _tile_loadd(7, bp + b_stride, 64);
      _tile_dpbf16ps(0, 4, 6);
      if constexpr (N2) _tile_dpbf16ps(1, 4, 7);
      if constexpr (M2) _tile_dpbf16ps(2, 5, 6);
      if constexpr (M2 && N2) _tile_dpbf16ps(3, 5, 7);
    }
  }
  _tile_stored(0, c, cs);
  if constexpr (N2) _tile_stored(1, c1, cs);
  if constexpr (M2) _tile_stored(2, c2, cs);
  if constexpr (M2 && N2) _tile_stored(3, c3, cs);
}

void gemm(const uint16_t* a, int64_t lda, const int64_t* tap_off, int ntaps, int64_t kc,
          int64_t rows, const uint16_t* b, int64_t b_stride, int64_t npanels, float* c,
          int64_t ldc, bool accumulate) {
  configure_tiles();
  for (int64_t p = 0; p < npanels; p += 2) {
    const bool n2 = p + 1 < npanels;
    const uint16_t* bp = b + p * b_stride;
    for (int64_t i = 0; i < rows; i += 2 * kRowsT) {
      const bool m2 = i + kRowsT < rows;
      const uint16_t* ai = a + i * lda;
      float* ct = c + i * ldc + p * kB16NR;
      if (m2 && n2)
        block<true, true>(ai, lda, tap_off, ntaps, kc, bp, b_stride, ct, ldc, accumulate);
      else if (m2)
        block<true, false>(ai, lda, tap_off, ntaps, kc, bp, b_stride, ct, ldc, accumulate);
      else if (n2)
        block<false, true>(ai, lda, tap_off, ntaps, kc, bp, b_stride, ct, ldc, accumulate);
      else
        block<false, false>(ai, lda, tap_off, ntaps, kc, bp, b_stride, ct, ldc, accumulate);
    }
  }
  _tile_release();
}

}  // namespace

const Bf16Gemm* bf16_gemm_amx() {
  static const Bf16Gemm k{Isa::AmxBf16, kB16KChunk, &gemm};
  return &k;
}

}  // namespace aie_kernels
