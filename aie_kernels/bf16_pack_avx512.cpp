// pack_a_rows_bf16 for rows of at most 32 bf16 values (a 3-channel stem's 27-value
// im2col rows) on AVX-512 (flags set per file in CMakeLists.txt): each run is one
// masked load, from an address `dst_off` elements before it, so that its values land
// in lanes [dst_off, dst_off + len) of a zeroed vector; a row is one masked store.
// The generic packer moved each run with two overlapping copies and zeroed the padding
// apart: a fifth of the stem conv's time (2026-12-07, Zen 4, 1 thread, `perf`).
// Masked-off lanes are not read, so the shifted addresses need no readable memory.
#include <immintrin.h>

#include <cstdint>

namespace aie_kernels {

void pack_a_short_rows_avx512(const uint16_t* const* rows, int nrows, int out_rows, const int64_t* run_dst,
                              const int64_t* run_src, const int64_t* run_len, int nruns, int64_t kp, uint16_t* out) {
  __mmask32 masks[32];
  for (int r = 0; r < nruns; ++r)
    masks[r] = static_cast<__mmask32>(((uint64_t(1) << run_len[r]) - 1) << run_dst[r]);
  const __mmask32 row_mask = static_cast<__mmask32>((uint64_t(1) << kp) - 1);
  for (int i = 0; i < out_rows; ++i) {
    __m512i v = _mm512_setzero_si512();
    if (i < nrows)
      for (int r = 0; r < nruns; ++r) {
        const uintptr_t at = reinterpret_cast<uintptr_t>(rows[i] + run_src[r]) - run_dst[r] * sizeof(uint16_t);
        v = _mm512_mask_loadu_epi16(v, masks[r], reinterpret_cast<const void*>(at));
      }
    _mm512_mask_storeu_epi16(out + i * kp, row_mask, v);
  }
}

}  // namespace aie_kernels
