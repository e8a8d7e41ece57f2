// The scalar reference variant of the int8 kernels: plain loops, the definition
// every SIMD variant must reproduce bit for bit.
#include <cstring>

#include "aie_kernels/int8/qs8.h"
#include "aie_kernels/int8/qs8_variants.h"

namespace aie_kernels::qs8 {

namespace {

void gemm(const QGemmArgs& a) {
  for (int64_t j = 0; j < a.nblocks; ++j) {
    const int8_t* b = a.b + j * a.b_stride;
    for (int64_t m = 0; m < a.rows; ++m) {
      uint32_t acc[kQNR] = {};  // wrapping int32 sums: exact whenever the result fits
      for (int t = 0; t < a.ntaps; ++t) {
        const uint8_t* x = a.a_rows[m] + a.tap_off[t];
        for (int64_t p = 0; p < a.kc; ++p) {
          const int64_t k = t * a.kc + p;
          const int8_t* bk = b + (k / kQK) * kQNR * kQK + k % kQK;
          for (int n = 0; n < kQNR; ++n) acc[n] += uint32_t(int32_t(x[p] ^ uint8_t(a.a_xor)) * bk[n * kQK]);
        }
      }
      int32_t* c = a.c + m * a.ldc + j * kQNR;
      for (int n = 0; n < kQNR; ++n) c[n] = static_cast<int32_t>(acc[n]);
    }
  }
}

void depthwise(const QDepthwiseArgs& a) {
  for (int64_t j = 0; j < a.npix; ++j) {
    int32_t* o = a.out + j * a.ldo;
    for (int64_t ch = 0; ch < a.channels; ++ch) {
      int32_t acc = 0;  // |sum| <= 255 * 128 * taps: no wrap for any real kernel size
      for (int t = 0; t < a.ntaps; ++t)
        acc += int32_t(a.a_pix[j][a.tap_off[t] + ch] ^ a.a_xor) * a.w[((t / 2) * a.cpad + ch) * 2 + t % 2];
      o[ch] = acc;
    }
  }
}

}  // namespace

void requant_row_scalar(const int32_t* acc, int64_t n, int64_t oc0, const QEpilogue& e,
                        const QStoreRow& d) {
  auto* out = static_cast<uint8_t*>(d.out);
  for (int64_t j = 0; j < n; ++j) {
    int64_t skip = 0;
    if (e.has_skip) {
      const uint8_t raw = static_cast<const uint8_t*>(d.skip)[j * d.col_stride];
      skip = e.skip_u8 ? int64_t(raw) : int64_t(static_cast<int8_t>(raw));
    }
    out[j * d.col_stride] = static_cast<uint8_t>(requant_one(acc[j], oc0 + j, e, skip));
  }
}

Qs8KernelTable make_qs8_scalar() {
  return {QIsa::Scalar, &gemm, &depthwise, &requant_row_scalar, &requant_rows_loop<requant_row_scalar>};
}

}  // namespace aie_kernels::qs8
