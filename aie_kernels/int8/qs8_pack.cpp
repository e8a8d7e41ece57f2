// Weight packing for the int8 kernels (ISA-independent): GEMM blocks, the depthwise
// tap-pair table, column sums. Runs once per weight (the weight cache keeps the result).
#include <algorithm>
#include <cstring>

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

void weight_colsums(const int8_t* w, int64_t oc, int64_t k, int32_t* out) {
  for (int64_t n = 0; n < oc; ++n) {
    int32_t s = 0;
    for (int64_t i = 0; i < k; ++i) s += w[n * k + i];
    out[n] = s;
  }
}

}  // namespace aie_kernels::qs8
