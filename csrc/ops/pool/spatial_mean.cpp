// aten::mean.dim on aie. A mean over (H, W) of a 4-D (or 3-D) float32 / bfloat16 tensor
// is global average pooling (ResNet heads, squeeze-and-excitation blocks; ATen's
// adaptive_avg_pool2d with output 1 is this mean): it runs the host spatial-mean kernel
// (spatial_mean_host.h), which reads the memory once instead of ATen's sum-then-divide.
// Its result equals ATen's within fp32 rounding (another summation order; see
// docs/ARCHITECTURE.md, "Numerics contract"). Every other mean runs ATen's CPU kernel on
// host views of the aie memory. Both are host work (there is no NPU reduction design):
// counted in fallback_stats() with their reasons. Autograd needs nothing here: mean's
// derivative is generic (VariableType calls this kernel below autograd).
#include <ATen/WrapDimUtilsMulti.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_strided.h>
#include <ATen/ops/mean.h>
#include <torch/library.h>

#include <bitset>
#include <optional>
#include <vector>

#include "csrc/ops/host_op.h"
#include "csrc/ops/profile_range.h"
#include "csrc/ops/pool/spatial_mean_host.h"
#include "csrc/runtime/memory_view.h"

namespace torch_aie::pool {

namespace {

constexpr const char* kOp = "aten::mean.dim";  // as the fallback names the overload
constexpr const char* kKernelReason = "no NPU reduction design: the host's spatial-mean kernel (vectorised)";
constexpr const char* kAtenReason = "no NPU reduction design, and not a float32/bfloat16 spatial mean: ATen's CPU kernel";

// Whether `dim` names exactly the last two dimensions of a 3-D or 4-D `self`.
bool spatial_dims(const at::Tensor& self, at::OptionalIntArrayRef dim) {
  if (!dim || dim->size() != 2 || (self.dim() != 3 && self.dim() != 4)) return false;
  const int64_t nd = self.dim();
  for (int64_t d : *dim)
    if (d < -nd || d >= nd) return false;  // ATen raises its own error
  const std::bitset<at::dim_bitset_size> seen = at::dim_list_to_bitset(*dim, nd);
  return seen.count() == 2 && seen[nd - 1] && seen[nd - 2];
}

std::optional<at::Tensor> kernel_input(const at::Tensor& self, at::OptionalIntArrayRef dim,
                                       std::optional<at::ScalarType> dtype) {
  if ((dtype && *dtype != self.scalar_type()) || !spatial_dims(self, dim) || self._is_zerotensor() ||
      !self.has_storage())
    return std::nullopt;
  const at::Tensor x = self.dim() == 3 ? self.unsqueeze(0) : self;
  if (x.size(2) * x.size(3) == 0 || !spatial_mean_layout_ok(x)) return std::nullopt;
  return x;
}

// ATen's CPU kernel on a host view; its (small) result copied into a new aie tensor.
at::Tensor aten_mean(const at::Tensor& self, at::OptionalIntArrayRef dim, bool keepdim,
                     std::optional<at::ScalarType> dtype) {
  ops::note_host_op(kOp, kAtenReason);
  const ops::CpuFallbackRange range(kOp, kAtenReason);
  const at::Tensor host = at::mean(runtime::host_view(self), dim, keepdim, dtype);
  at::Tensor out = at::empty_strided(host.sizes(), host.strides(), host.options().device(self.device()));
  runtime::host_view(out).copy_(host);
  return out;
}

at::Tensor mean_dim_aie(const at::Tensor& self, at::OptionalIntArrayRef dim, bool keepdim,
                        std::optional<at::ScalarType> dtype) {
  const std::optional<at::Tensor> x = kernel_input(self, dim, dtype);
  if (!x) return aten_mean(self, dim, keepdim, dtype);
  ops::note_host_op(kOp, kKernelReason);
  const ops::CpuFallbackRange range(kOp, kKernelReason);
  std::vector<int64_t> sizes(self.sizes().begin(), self.sizes().end() - 2);
  if (keepdim) sizes.insert(sizes.end(), {1, 1});
  at::Tensor out = at::empty(sizes, self.options());  // contiguous, as ATen's reduction result
  spatial_mean_host(runtime::host_view(*x), runtime::host_view(out));
  return out;
}

}  // namespace

TORCH_LIBRARY_IMPL(aten, PrivateUse1, m) { m.impl("mean.dim", TORCH_FN(mean_dim_aie)); }

}  // namespace torch_aie::pool
