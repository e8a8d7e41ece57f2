// The NPU path: a ConvJob for the decision, weights packed by the active backend
// (through the weight cache), the backend runs it on host views of the tensors.
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>

#include "csrc/ops/conv/conv_paths.h"
#include "csrc/runtime/memory_view.h"

namespace torch_aie::conv {

using runtime::host_view;

namespace {

// A 4-D [N][C][H][W] view of a 1-D or 2-D conv tensor.
at::Tensor as_4d(const at::Tensor& t) { return t.dim() == 3 ? t.unsqueeze(2) : t; }

}  // namespace

runtime::ConvJob make_job(const ConvParams& p, const ConvDecision& d, runtime::Activation act, bool bias) {
  runtime::ConvJob job;
  job.shape = p.shape;
  job.algorithm = d.algorithm;
  job.numerics = d.numerics;
  job.input_dtype = job.weight_dtype = job.output_dtype = p.dtype;
  job.channels_last = p.channels_last;
  job.epilogue.bias = bias;
  job.epilogue.activation = act;
  return job;
}

PackedPtr packed_for(const runtime::ConvBackend& backend, const runtime::ConvJob& job, const at::Tensor& weight) {
  return WeightCache::global().get_or_pack(weight, backend.name(), backend.pack_key(job),
                                           [&] { return backend.pack(job, host_view(weight)); });
}

namespace {

// The residual laid out like `out` (the epilogue reads it at the output's offsets):
// itself when its sizes and strides already match, else a copy (broadcasting it).
at::Tensor residual_like(const at::Tensor& residual, const at::Tensor& out) {
  TORCH_CHECK(residual.device() == out.device(), "aie conv: the residual is on ", residual.device(),
              ", the conv on ", out.device());
  TORCH_CHECK(residual.scalar_type() == at::kFloat || residual.scalar_type() == at::kBFloat16,
              "aie conv: the residual must be float32 or bfloat16, got ", residual.scalar_type());
  if (residual.sizes().equals(out.sizes()) && residual.strides().equals(out.strides())) return residual;
  auto r = at::empty_like(out, residual.options());
  host_view(r).copy_(host_view(residual).expand(out.sizes()));  // refuses a non-broadcastable one
  return r;
}

}  // namespace

at::Tensor run_on_npu(const ConvArgs& a, const ConvParams& p, const ConvDecision& d, runtime::Activation act,
                      const at::Tensor& residual, const at::Tensor& input_scale) {
  auto out = at::empty(p.output_sizes, a.input.options().memory_format(
                                           p.channels_last ? at::MemoryFormat::ChannelsLast
                                                           : at::MemoryFormat::Contiguous));
  if (out.numel() == 0) return out;
  const bool bias = a.bias && a.bias->defined();
  const runtime::ConvJob job = make_job(p, d, act, bias);
  const auto& backend = runtime::conv_backend();
  const PackedPtr w = packed_for(backend, job, a.weight);
  runtime::ConvIO io;
  io.input = as_4d(host_view(a.input));
  if (bias) io.bias = host_view(*a.bias);
  io.output = as_4d(host_view(out));
  if (residual.defined()) io.skip = as_4d(host_view(residual_like(residual, out)));
  if (input_scale.defined()) io.input_scale = as_4d(host_view(input_scale));
  backend.run(job, *w, io);
  return out;
}

}  // namespace torch_aie::conv
