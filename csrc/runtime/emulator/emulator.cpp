// The float family's driver dispatch: which tile orientation and kernel run a job.
#include "csrc/runtime/emulator/emulator.h"

#include <c10/util/Exception.h>

#include <algorithm>
#include <vector>

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

Epilogue epilogue_for(const ConvJob& job, const ConvIO& io, std::vector<float>& bias) {
  Epilogue epi;
  // runtime::Activation and aie_kernels::Activation list the same activations in one order
  // (static_assert in float_family.cpp).
  epi.act = static_cast<aie_kernels::Activation>(static_cast<int>(job.epilogue.activation));
  if (io.skip.defined()) {  // read at the output's offsets: the ops layer lays it out so
    TORCH_CHECK(io.skip.sizes().equals(io.output.sizes()) && io.skip.strides().equals(io.output.strides()) &&
                    (io.skip.scalar_type() == at::kFloat || io.skip.scalar_type() == at::kBFloat16),
                "host_emulator: the residual must have the output's sizes and strides, float32 or bfloat16");
    epi.residual = io.skip.const_data_ptr();
    epi.residual_bf16 = io.skip.scalar_type() == at::kBFloat16;
  }
  if (job.epilogue.bias) {
    // Not io.bias.to(kFloat) on every call: a dispatched copy per conv (the profiler's
    // aten::_to_copy, once per conv of a bf16 model).
    const at::Tensor& b = io.bias;
    if (b.scalar_type() == at::kFloat && b.is_contiguous()) {
      epi.bias = b.const_data_ptr<float>();
      return epi;
    }
    bias.resize(b.numel());
    if (b.scalar_type() == at::kBFloat16 && b.is_contiguous()) {
      host_kernels().widen_bf16(reinterpret_cast<const uint16_t*>(b.const_data_ptr()), b.numel(), bias.data());
    } else {
      const at::Tensor f = b.to(at::kFloat).contiguous();
      std::copy(f.const_data_ptr<float>(), f.const_data_ptr<float>() + f.numel(), bias.begin());
    }
    epi.bias = bias.data();
  }
  return epi;
}

OutputView output_view(const at::Tensor& output) {
  OutputView ov;
  ov.data = output.data_ptr();
  ov.dtype = output.scalar_type();
  ov.sN = output.stride(0);
  ov.sC = output.stride(1);
  ov.sH = output.stride(2);
  ov.sW = output.stride(3);
  return ov;
}

}  // namespace torch_aie::runtime
