// The float family's driver dispatch: which tile orientation and kernel run a job.
#include "csrc/runtime/emulator/emulator.h"

#include <c10/util/Exception.h>

namespace torch_aie::runtime {

const aie_kernels::KernelTable& host_kernels() {
  static const aie_kernels::KernelTable& kt = aie_kernels::kernel_table(aie_kernels::detect_host_isa());
  return kt;
}

void emulate_conv(const ConvShape& s, const PackedWeights& w, const StagedInput& in,
                  const Epilogue& epi, const OutputView& out) {
  if (s.M() == 0 || s.OC == 0) return;
  TORCH_CHECK(w.layout == in.layout || w.algorithm == ConvAlgorithm::Depthwise,
              "emulate_conv: weights and input staged for different host layouts");
  const bool rows = in.layout == HostLayout::ChannelRows;
  if (w.algorithm == ConvAlgorithm::Depthwise)
    (rows ? emulate_depthwise_channel_rows : emulate_depthwise_pixel_rows)(s, w, in, epi, out);
  else
    (rows ? emulate_gemm_channel_rows : emulate_gemm_pixel_rows)(s, w, in, epi, out);
}

}  // namespace torch_aie::runtime
