// The CPU path: ATen's own convolution on host views of the aie tensors (served
// for what the NPU path does not take; the reason is counted by the caller).
#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/ops/convolution.h>
#include <ATen/ops/empty_strided.h>

#include "csrc/ops/conv/conv_paths.h"
#include "csrc/runtime/memory_view.h"

namespace torch_aie::conv {

using runtime::host_view;

at::Tensor to_device_of(const at::Tensor& r, const at::Tensor& like) {
  if (!r.defined() || like.device().is_cpu()) return r;
  auto out = at::empty_strided(r.sizes(), r.strides(), r.options().device(like.device()));
  host_view(out).copy_(r);
  return out;
}

// Host work obeys the device's fallback mode ("raise" forbids it before anything runs) and
// is counted in fallback_stats(); reached through the dispatcher (_aie::note_host_op).
void note_host_op(const char* op, const std::string& reason) {
  static const auto note = c10::Dispatcher::singleton()
                               .findSchemaOrThrow("_aie::note_host_op", "")
                               .typed<void(c10::string_view, c10::string_view)>();
  note.call(op, reason);
}

at::Tensor host_conv(const ConvArgs& a, bool relu) {
  std::optional<at::Tensor> bias;
  if (a.bias && a.bias->defined()) bias = host_view(*a.bias);
  auto r = at::convolution(host_view(a.input), host_view(a.weight), bias, a.stride, a.padding,
                           a.dilation, a.transposed, a.output_padding, a.groups);
  if (relu) r.relu_();
  return to_device_of(r, a.input);
}

}  // namespace torch_aie::conv
