// Device memory is host memory in the emulator: a CPU tensor over the same bytes
// lets CPU ATen kernels read and write an aie tensor in place, with its sizes and
// strides (non-contiguous views included) and no copy.
#pragma once

#include <ATen/core/Tensor.h>
#include <ATen/ops/from_blob.h>

namespace torch_aie {

// The alias does not own the memory: use it only while `t` is alive, and never
// resize it.
inline at::Tensor cpu_alias(const at::Tensor& t) {
  if (t.is_cpu()) {
    return t;
  }
  TORCH_CHECK(t.is_privateuseone(), "expected an aie or cpu tensor, got one on ", t.device());
  at::Tensor alias = at::from_blob(
      t.data_ptr(), t.sizes(), t.strides(), t.options().device(c10::DeviceType::CPU));
  // Lazy conjugation and negation live in the tensor, not in its memory.
  alias._set_conj(t.is_conj());
  alias._set_neg(t.is_neg());
  return alias;
}

}  // namespace torch_aie
