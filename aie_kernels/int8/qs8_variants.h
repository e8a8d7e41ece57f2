// The per-variant table constructors (one translation unit each, compiled with its
// own -m flags) and the shared pieces variants borrow from each other.
#pragma once
#include "aie_kernels/int8/qs8.h"

namespace aie_kernels::qs8 {

Qs8KernelTable make_qs8_scalar();
Qs8KernelTable make_qs8_avx2();
Qs8KernelTable make_qs8_avx_vnni();
Qs8KernelTable make_qs8_avx512_vnni();
Qs8KernelTable make_qs8_amx();

// Scalar epilogue (tails and strided rows of the vector variants use it too).
void requant_row_scalar(const int32_t* acc, int64_t n, int64_t oc0, const QEpilogue& e,
                        const QStoreRow& d);

// The AVX-512 and AVX2 epilogues and depthwise kernels, shared with AMX / AVX-VNNI.
void requant_row_avx512(const int32_t* acc, int64_t n, int64_t oc0, const QEpilogue& e,
                        const QStoreRow& d);
void depthwise_avx512(const QDepthwiseArgs& a);
void gemm_avx512_vnni(const QGemmArgs& a);
void requant_row_avx2(const int32_t* acc, int64_t n, int64_t oc0, const QEpilogue& e,
                      const QStoreRow& d);
void depthwise_avx2(const QDepthwiseArgs& a);

// A row with non-unit column stride (planar outputs): gathers the skip values into a
// contiguous chunk, runs the contiguous epilogue `fn` on it, scatters the bytes.
template <class Fn>
inline void requant_strided(Fn fn, const int32_t* acc, int64_t n, int64_t oc0, const QEpilogue& e,
                            const QStoreRow& d) {
  constexpr int64_t kChunk = 64;
  uint8_t out[kChunk], skip[kChunk];
  for (int64_t j0 = 0; j0 < n; j0 += kChunk) {
    const int64_t len = n - j0 < kChunk ? n - j0 : kChunk;
    if (e.has_skip) {
      const auto* s = static_cast<const uint8_t*>(d.skip) + j0 * d.col_stride;
      for (int64_t j = 0; j < len; ++j) skip[j] = s[j * d.col_stride];
    }
    fn(acc + j0, len, oc0 + j0, e, QStoreRow{out, skip, 1});
    auto* o = static_cast<uint8_t*>(d.out) + j0 * d.col_stride;
    for (int64_t j = 0; j < len; ++j) o[j * d.col_stride] = out[j];
  }
}

// requant_rows as a loop over a variant's requant_row.
template <void (*Row)(const int32_t*, int64_t, int64_t, const QEpilogue&, const QStoreRow&)>
void requant_rows_loop(const int32_t* acc, int64_t ldc, int64_t rows, int64_t n, int64_t oc0, const QEpilogue& e,
                       const QStoreRow* dst) {
  for (int64_t i = 0; i < rows; ++i) Row(acc + i * ldc, n, oc0, e, dst[i]);
}
void requant_rows_avx512(const int32_t* acc, int64_t ldc, int64_t rows, int64_t n, int64_t oc0, const QEpilogue& e,
                         const QStoreRow* dst);

// AMX needs the kernel's permission to use tile data (Linux arch_prctl); empty if granted.
const char* amx_permission_error();

}  // namespace aie_kernels::qs8
