// Staging entry and the parts both layouts share.
#include "csrc/runtime/emulator/staging_common.h"

#include <algorithm>

namespace torch_aie::runtime {

StagedInput stage_input(const at::Tensor& x, const ConvShape& s, Numerics numerics, HostLayout layout) {
  return layout == HostLayout::ChannelRows ? stage_input_planar(x, s, numerics) : stage_input_nhwc(x, s, numerics);
}

StagingTargets claim_staging(Numerics numerics, int64_t total, StagedInput& st) {
  StagingTargets t;
  t.modes = staged_roundings(numerics);
  for (size_t i = 0; i < t.modes.size(); ++i) {
    const int m = static_cast<int>(t.modes[i]);
    t.dst[m] = thread_buffer<float>(kStaged0 + static_cast<int>(i), std::max<int64_t>(total, 1));
    st.variants[m] = t.dst[m];
  }
  return t;
}

RowValues gather_row(const StagingSource& x, const char* src, int64_t W, int64_t C, int64_t sW, int64_t sC,
                     float* tmp) {
  // In place where possible: gather_pixels is built without the host's ISA
  // flags (a copy through them was a fifth of a bf16 channels_last depthwise conv).
  if (C == 1 ? sW == 1 : sC == 1 && sW == C)
    return x.bf16 ? RowValues{nullptr, reinterpret_cast<const uint16_t*>(src)}
                  : RowValues{reinterpret_cast<const float*>(src), nullptr};
  const auto to_float = [](auto v) { return static_cast<float>(v); };
  if (x.bf16)
    gather_pixels(reinterpret_cast<const c10::BFloat16*>(src), W, C, sW, sC, tmp, to_float);
  else
    gather_pixels(reinterpret_cast<const float*>(src), W, C, sW, sC, tmp, to_float);
  return RowValues{tmp, nullptr};
}

}  // namespace torch_aie::runtime
