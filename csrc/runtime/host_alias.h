// The emulated NPU's memory is host memory: an aie tensor's bytes can be read
// and written by the host as a CPU tensor aliasing the same data.
#pragma once
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty_strided.h>
#include <ATen/ops/from_blob.h>

namespace torch_aie::runtime {

inline at::Tensor host_alias(const at::Tensor& t) {
  if (!t.defined() || t.device().is_cpu()) return t;
  auto opts = t.options().device(at::kCPU);
  if (t.numel() == 0) return at::empty_strided(t.sizes(), t.strides(), opts);
  return at::from_blob(t.data_ptr(), t.sizes(), t.strides(), opts);
}

}  // namespace torch_aie::runtime
