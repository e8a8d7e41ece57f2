// Numerics passes and weight packing: the pre-transform the weight cache stores.
#include "csrc/runtime/conv_job.h"

#include "csrc/runtime/bf16_emulator.h"

#include <c10/util/Exception.h>

#include <algorithm>
#include <vector>

namespace torch_aie::runtime {

using aie_kernels::Rounding;

const char* algorithm_name(ConvAlgorithm a) {
  switch (a) {
    case ConvAlgorithm::Im2colGemm: return "im2col_gemm";
    case ConvAlgorithm::Gemm1x1: return "gemm_1x1";
    case ConvAlgorithm::Direct: return "direct";
    case ConvAlgorithm::Depthwise: return "depthwise";
  }
  return "?";
}

const char* host_layout_name(HostLayout l) {
  return is_channel_rows(l) ? "channel-row" : "pixel-row";
}

std::string host_kernel_name(HostLayout l) {
  const auto isa = aie_kernels::detect_host_isa();
  if (!is_bf16_layout(l)) return std::string("fp32 FMAs on bf16 values (") + aie_kernels::isa_name(isa) + ")";
  return std::string("bf16 dot products (") +
         (isa == aie_kernels::Isa::AmxBf16 ? "amx_bf16 tiles" : "avx512_bf16 vdpbf16ps") + ")";
}

const char* numerics_name(Numerics n) {
  switch (n) {
    case Numerics::Bf16Tensor: return "bf16_tensor";
    case Numerics::Bf16: return "bf16";
    case Numerics::Bf16x3: return "bf16x3";
  }
  return "?";
}

std::vector<Pass> passes_for(Numerics n) {
  switch (n) {
    case Numerics::Bf16Tensor: return {{Rounding::None, Rounding::None}};
    case Numerics::Bf16: return {{Rounding::Bf16, Rounding::Bf16}};
    case Numerics::Bf16x3:
      // Largest term first; inf/NaN enter only through hi*hi (see Rounding::Bf16Finite).
      return {{Rounding::Bf16, Rounding::Bf16},
              {Rounding::Bf16Finite, Rounding::Bf16Lo},
              {Rounding::Bf16Lo, Rounding::Bf16Finite}};
  }
  return {};
}

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

bool depthwise_layout_free(ConvAlgorithm a) { return a == ConvAlgorithm::Depthwise; }

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
  pw.layout = depthwise_layout_free(algorithm) ? HostLayout::PixelRows : layout;
  pw.groups = s.groups;
  pw.ocg = s.OCg();
  pw.k = s.K();
  const bool depthwise = algorithm == ConvAlgorithm::Depthwise;
  TORCH_CHECK(!depthwise || (s.Cg() == 1 && s.OCg() == 1),
              "depthwise packing needs one input and one output channel per group, got ", s.Cg(),
              " and ", s.OCg());
  std::vector<float> ordered = depthwise ? to_tap_channel(w, s) : to_tap_major(w, s);
  if (is_bf16_layout(pw.layout)) {
    pack_weights_bf16(ordered, s, pw, kt);
    return pw;
  }
  const bool rows = pw.layout == HostLayout::ChannelRows;
  const int64_t panel = rows ? aie_kernels::kMR : aie_kernels::kNR;
  pw.group_stride = depthwise ? 0 : aie_kernels::round_up(pw.ocg, panel) * pw.k;
  std::vector<float> rounded(ordered.size());
  for (const Pass& p : passes_for(numerics)) {
    auto& dst = pw.variants[static_cast<int>(p.b)];
    if (!dst.empty() || ordered.empty()) continue;
    kt.round_f32(ordered.data(), rounded.data(), static_cast<int64_t>(ordered.size()), p.b);
    if (depthwise) {
      dst = rounded;
      continue;
    }
    dst.resize(pw.group_stride * s.groups);
    for (int64_t g = 0; g < s.groups; ++g) {
      const float* src = rounded.data() + g * pw.ocg * pw.k;
      float* out = dst.data() + g * pw.group_stride;
      if (rows)
        pack_channel_rows(src, pw.ocg, pw.k, out);
      else
        aie_kernels::pack_b_panels(src, pw.ocg, pw.k, out);
    }
  }
  return pw;
}

}  // namespace torch_aie::runtime
