// Weight packing for the host emulator: the pre-transform the weight cache stores.
#include "csrc/runtime/emulator/packed_weights.h"

#include <c10/util/Exception.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "csrc/runtime/emulator/passes.h"

namespace torch_aie::runtime {

using aie_kernels::Rounding;

namespace {

// [OC][Cg][KH][KW] -> per output channel, the reduction in (tap, channel) order.
std::vector<float> to_tap_major(const float* w, const ConvShape& s) {
  const int64_t cg = s.Cg(), taps = s.taps();
  std::vector<float> out(s.OC * taps * cg);
  for (int64_t oc = 0; oc < s.OC; ++oc)
    for (int64_t c = 0; c < cg; ++c)
      for (int64_t t = 0; t < taps; ++t) out[(oc * taps + t) * cg + c] = w[(oc * cg + c) * taps + t];
  return out;
}

// Depthwise (Cg = 1, OCg = 1): [C][1][KH][KW] -> [tap][C].
std::vector<float> to_tap_channel(const float* w, const ConvShape& s) {
  const int64_t taps = s.taps();
  std::vector<float> out(taps * s.OC);
  for (int64_t c = 0; c < s.OC; ++c)
    for (int64_t t = 0; t < taps; ++t) out[t * s.OC + c] = w[c * taps + t];
  return out;
}

// ChannelRows: kMR-high A panels, panel ip holds channels [ip*kMR, ip*kMR + kMR)
// as [k][kMR] (zero rows past `count`).
void pack_channel_rows(const float* w, int64_t count, int64_t k, float* out) {
  const int64_t zero_k = 0;
  for (int64_t ip = 0; ip * aie_kernels::kMR < count; ++ip) {
    const float* rows[aie_kernels::kMR];
    const int n = static_cast<int>(std::min<int64_t>(aie_kernels::kMR, count - ip * aie_kernels::kMR));
    for (int i = 0; i < n; ++i) rows[i] = w + (ip * aie_kernels::kMR + i) * k;
    aie_kernels::pack_a_panel(rows, n, &zero_k, k, 0, k, out + ip * k * aie_kernels::kMR);
  }
}

}  // namespace

PackedWeights pack_weights(const float* w, const ConvShape& s, ConvAlgorithm algorithm,
                           Numerics numerics, HostLayout layout,
                           const aie_kernels::KernelTable& kt) {
  PackedWeights pw;
  pw.algorithm = algorithm;
  pw.numerics = numerics;
  const bool depthwise = algorithm == ConvAlgorithm::Depthwise;
  pw.layout = depthwise ? HostLayout::PixelRows : layout;
  pw.groups = s.groups;
  pw.ocg = s.OCg();
  pw.k = s.K();
  TORCH_CHECK(!depthwise || (s.Cg() == 1 && s.OCg() == 1),
              "depthwise packing needs one input and one output channel per group, got ", s.Cg(),
              " and ", s.OCg());
  std::vector<float> ordered = depthwise ? to_tap_channel(w, s) : to_tap_major(w, s);
  const bool rows = pw.layout == HostLayout::ChannelRows;
  const int64_t panel = rows ? aie_kernels::kMR : aie_kernels::kNR;
  pw.group_stride = depthwise ? 0 : aie_kernels::round_up(pw.ocg, panel) * pw.k;
  std::vector<float> rounded(ordered.size());
  for (const Pass& p : passes_for(numerics)) {
    auto& dst = pw.variants[static_cast<int>(p.b)];
    if (!dst.empty() || ordered.empty()) continue;
    kt.round_f32(ordered.data(), rounded.data(), static_cast<int64_t>(ordered.size()), p.b);
    if (depthwise) {
      dst.reset(c10::ScalarType::Float, static_cast<int64_t>(rounded.size()));
      std::memcpy(dst.data<float>(), rounded.data(), rounded.size() * sizeof(float));
      continue;
    }
    dst.reset(c10::ScalarType::Float, pw.group_stride * s.groups);
    for (int64_t g = 0; g < s.groups; ++g) {
      const float* src = rounded.data() + g * pw.ocg * pw.k;
      float* out = dst.data<float>() + g * pw.group_stride;
      if (rows)
        pack_channel_rows(src, pw.ocg, pw.k, out);
      else
        aie_kernels::pack_b_panels(src, pw.ocg, pw.k, out);
    }
  }
  return pw;
}

}  // namespace torch_aie::runtime
