// The NPU path: a ConvJob for the decision, weights packed by the active backend
// (through the weight cache), the backend runs it on host views of the tensors.
#include <ATen/ops/empty.h>

#include "csrc/ops/conv/conv_paths.h"
#include "csrc/runtime/memory_view.h"

namespace torch_aie::conv {

using runtime::host_view;

namespace {

// A 4-D [N][C][H][W] view of a 1-D or 2-D conv tensor.
at::Tensor as_4d(const at::Tensor& t) { return t.dim() == 3 ? t.unsqueeze(2) : t; }

}  // namespace

runtime::ConvJob make_job(const ConvParams& p, const ConvDecision& d, bool relu, bool bias) {
  runtime::ConvJob job;
  job.shape = p.shape;
  job.algorithm = d.algorithm;
  job.numerics = d.numerics;
  job.input_dtype = job.weight_dtype = job.output_dtype = p.dtype;
  job.channels_last = p.channels_last;
  job.epilogue.bias = bias;
  job.epilogue.activation = relu ? runtime::Activation::ReLU : runtime::Activation::None;
  return job;
}

PackedPtr packed_for(const runtime::ConvBackend& backend, const runtime::ConvJob& job, const at::Tensor& weight) {
  return WeightCache::global().get_or_pack(weight, backend.name(), backend.pack_key(job),
                                           [&] { return backend.pack(job, host_view(weight)); });
}

at::Tensor run_on_npu(const ConvArgs& a, const ConvParams& p, const ConvDecision& d, bool relu) {
  auto out = at::empty(p.output_sizes, a.input.options().memory_format(
                                           p.channels_last ? at::MemoryFormat::ChannelsLast
                                                           : at::MemoryFormat::Contiguous));
  if (out.numel() == 0) return out;
  const bool bias = a.bias && a.bias->defined();
  const runtime::ConvJob job = make_job(p, d, relu, bias);
  const auto& backend = runtime::conv_backend();
  const PackedPtr w = packed_for(backend, job, a.weight);
  runtime::ConvIO io;
  io.input = as_4d(host_view(a.input));
  if (bias) io.bias = host_view(*a.bias);
  io.output = as_4d(host_view(out));
  backend.run(job, *w, io);
  return out;
}

}  // namespace torch_aie::conv
