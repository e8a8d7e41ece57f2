// Ahead-of-time packing (optimize()): plans a conv from its weight alone and puts
// the backend's packed form in the weight cache.
#include <ATen/ops/empty.h>

#include "csrc/ops/conv/conv_forward.h"
#include "csrc/ops/conv/conv_paths.h"

namespace torch_aie::conv {

std::string prepack(const at::Tensor& weight, c10::IntArrayRef stride, c10::IntArrayRef padding,
                    c10::IntArrayRef dilation, int64_t groups, std::optional<ConvAlgorithm> forced,
                    bool channels_last) {
  // A stand-in input just large enough for the kernel: only its shape is read.
  std::vector<int64_t> in_sizes = {1, weight.size(1) * groups};
  int64_t dmax = 1;
  for (int64_t d : dilation) dmax = std::max(dmax, d);
  for (int64_t i = 2; i < weight.dim(); ++i) in_sizes.push_back(weight.size(i) * dmax + 1);
  auto x = at::empty(in_sizes, weight.options().device(at::kMeta));
  const int64_t zero[] = {0};
  const std::optional<at::Tensor> no_bias;
  ConvParams p = normalize({x, weight.to(at::kMeta), no_bias, stride, padding, dilation, false, zero, groups});
  const ConvDecision d = decide(p, forced, false, false);
  if (!d.on_npu) return "cpu_fallback: " + d.reason;
  // The stand-in's pixel count says nothing about real inputs, and a backend's pack
  // key may depend on it (the host emulator's layout does): pack for a batch of one
  // 56x56 output in the requested memory format. Layers whose real inputs key
  // differently pack on first use. Packing itself reads only the weight's geometry.
  p.channels_last = channels_last;
  p.shape.N = 1;
  p.shape.OH = p.shape.OW = 56;
  packed_for(runtime::conv_backend(), make_job(p, d, false, false), weight);
  return runtime::algorithm_name(d.algorithm);
}

}  // namespace torch_aie::conv
