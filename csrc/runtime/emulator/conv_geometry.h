// Geometry shared by the host emulator's drivers: the reduction blocking, the
// output pixel split, the pass x reduction-block loop, and where a pixel's taps
// sit in NHWC and planar staging. Written once; every driver uses these.
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

#include "csrc/runtime/conv_job.h"
#include "csrc/runtime/emulator/staging.h"

namespace torch_aie::runtime {

// Reduction block of the packed paths (one packed panel block in L1/L2). Host
// blocking never changes a result: each output's reduction still runs in order.
constexpr int64_t kKC = 256;

// Output pixel m (over N x OH x OW) as (image, row, column).
struct Pixel {
  int64_t n, oh, ow;
};
inline Pixel split_pixel(const ConvShape& s, int64_t m) {
  const int64_t ohw = s.OH * s.OW, r = m % ohw;
  return {m / ohw, r / s.OW, r % s.OW};
}

// body(pass, k0, kc, accumulate) for every pass and every kKC block of a K-long
// reduction, in the order that keeps each output's FMA chain in order: pass-major,
// then reduction blocks; only the very first block starts from zero.
template <class F>
void for_each_k_block(size_t passes, int64_t K, const F& body) {
  for (size_t p = 0; p < passes; ++p)
    for (int64_t k0 = 0; k0 < K; k0 += kKC) body(p, k0, std::min(kKC, K - k0), p > 0 || k0 > 0);
}

// NHWC staging: offset (elements) of output pixel m's first tap, and of each tap
// (kh, kw) from it.
inline int64_t nhwc_pixel_offset(const ConvShape& s, const StagedInput& in, int64_t m) {
  const Pixel p = split_pixel(s, m);
  return ((p.n * in.Hp + p.oh * s.stride_h) * in.Wp + p.ow * s.stride_w) * in.C;
}
std::vector<int64_t> nhwc_tap_offsets(const ConvShape& s, const StagedInput& in);

// Planar staging: offset of output pixel m's first tap within channel 0, and of
// each tap from it within one staged channel (kh rows down, in the phase and
// column where kw's dilated offset lands).
inline int64_t planar_pixel_offset(const ConvShape& s, const StagedInput& in, const Pixel& p) {
  return p.n * s.C * in.plane() + p.oh * s.stride_h * in.phases * in.Wq + p.ow;
}
inline int64_t planar_pixel_offset(const ConvShape& s, const StagedInput& in, int64_t m) {
  return planar_pixel_offset(s, in, split_pixel(s, m));
}
std::vector<int64_t> planar_tap_offsets(const ConvShape& s, const StagedInput& in);

}  // namespace torch_aie::runtime
