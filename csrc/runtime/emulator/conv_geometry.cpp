#include "csrc/runtime/emulator/conv_geometry.h"

namespace torch_aie::runtime {

std::vector<int64_t> nhwc_tap_offsets(const ConvShape& s, const StagedInput& in) {
  std::vector<int64_t> taps(s.taps());
  for (int64_t kh = 0; kh < s.KH; ++kh)
    for (int64_t kw = 0; kw < s.KW; ++kw)
      taps[kh * s.KW + kw] = (kh * s.dil_h * in.Wp + kw * s.dil_w) * in.C;
  return taps;
}

std::vector<int64_t> planar_tap_offsets(const ConvShape& s, const StagedInput& in) {
  std::vector<int64_t> taps(s.taps());
  for (int64_t t = 0; t < s.taps(); ++t) {
    const int64_t kh = t / s.KW, dw = (t % s.KW) * s.dil_w;
    taps[t] = (kh * s.dil_h * in.phases + dw % in.phases) * in.Wq + dw / in.phases;
  }
  return taps;
}

}  // namespace torch_aie::runtime
