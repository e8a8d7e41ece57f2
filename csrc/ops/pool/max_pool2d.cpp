// aten::max_pool2d on aie. ATen's max_pool2d is a composite over max_pool2d_with_indices,
// which aie serves through the CPU fallback; its NCHW CPU kernel walks each window pixel
// by pixel and writes an index per output (ResNet-50's stem pool: 4.2 ms of a ~65 ms
// forward on AVX2, benchmarks/RESULTS.md). Only the values are needed unless autograd
// will ask for the indices, so:
//   - AutogradPrivateUse1: calls autograd records (an input that requires grad, or one
//     carrying a forward-mode tangent) run the composite unchanged; the rest go below
//     autograd to
//   - PrivateUse1: float32 / bfloat16 NCHW inputs (any strides) with a window ATen accepts run the
//     host max-pool kernel (max_pool_host.h): the CPU kernel's values, bit for bit.
//     There is no NPU pooling design, so this is host work: counted in fallback_stats()
//     with its reason and profiled as such. Anything else, invalid arguments included
//     (ATen then raises its own error), runs max_pool2d_with_indices through the fallback.
#include <ATen/native/Pool.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/max_pool2d.h>
#include <ATen/ops/max_pool2d_native.h>
#include <ATen/ops/max_pool2d_with_indices.h>
#include <c10/core/GradMode.h>
#include <torch/library.h>

#include <optional>

#include "csrc/ops/host_op.h"
#include "csrc/ops/profile_range.h"
#include "csrc/ops/pool/max_pool_host.h"
#include "csrc/runtime/memory_view.h"

namespace torch_aie::pool {

namespace {

struct NativePool {
  PoolWindow w;
  int64_t OH, OW;
};

// arg as (first, second): one value for both, or two; nullopt when it is neither.
std::optional<std::pair<int64_t, int64_t>> pair_of(c10::IntArrayRef v) {
  if (v.size() == 1) return std::make_pair(v[0], v[0]);
  if (v.size() == 2) return std::make_pair(v[0], v[1]);
  return std::nullopt;
}

// The window when the native kernel serves this call, in ATen's argument rules
// (DilatedMaxPool2d.cpp); nullopt sends the call to ATen, which also raises for bad ones.
std::optional<NativePool> native_pool(const at::Tensor& x, c10::IntArrayRef kernel_size, c10::IntArrayRef stride,
                                      c10::IntArrayRef padding, c10::IntArrayRef dilation, bool ceil_mode) {
  const bool float_dtype = x.scalar_type() == at::kFloat || x.scalar_type() == at::kBFloat16;
  if (!float_dtype || x.dim() != 4 || x.is_neg() || x.numel() == 0 ||
      x.suggest_memory_format() != at::MemoryFormat::Contiguous)
    return std::nullopt;
  const auto k = pair_of(kernel_size), p = pair_of(padding), d = pair_of(dilation);
  const auto s = stride.empty() ? k : pair_of(stride);
  if (!k || !s || !p || !d) return std::nullopt;
  const PoolWindow w{k->first, k->second, s->first, s->second, p->first, p->second, d->first, d->second};
  auto window_ok = [](int64_t k, int64_t s, int64_t p, int64_t d) {
    return k > 0 && s > 0 && d > 0 && p >= 0 && p <= k / 2 && p <= ((k - 1) * d + 1) / 2;
  };
  if (!window_ok(w.kH, w.sH, w.pH, w.dH) || !window_ok(w.kW, w.sW, w.pW, w.dW)) return std::nullopt;
  const int64_t OH = at::native::pooling_output_shape<int64_t>(x.size(2), w.kH, w.pH, w.sH, w.dH, ceil_mode);
  const int64_t OW = at::native::pooling_output_shape<int64_t>(x.size(3), w.kW, w.pW, w.sW, w.dW, ceil_mode);
  if (OH < 1 || OW < 1) return std::nullopt;
  return NativePool{w, OH, OW};
}

at::Tensor max_pool2d_aie(const at::Tensor& self, c10::IntArrayRef kernel_size, c10::IntArrayRef stride,
                          c10::IntArrayRef padding, c10::IntArrayRef dilation, bool ceil_mode) {
  const bool batched = self.dim() == 4;
  const at::Tensor x = self.dim() == 3 ? self.unsqueeze(0) : self;
  const auto pool = native_pool(x, kernel_size, stride, padding, dilation, ceil_mode);
  if (!pool) return std::get<0>(at::max_pool2d_with_indices(self, kernel_size, stride, padding, dilation, ceil_mode));
  // No NPU pooling design exists here, so this is host work: counted and profiled as such.
  constexpr const char* kReason = "no NPU pooling design: the host's max-pool kernel (exact, vectorised)";
  ops::note_host_op("aten::max_pool2d", kReason);
  const ops::CpuFallbackRange range("aten::max_pool2d", kReason);
  at::Tensor out = at::empty({x.size(0), x.size(1), pool->OH, pool->OW}, x.options());
  max_pool2d_host(runtime::host_view(x), pool->w, runtime::host_view(out));
  return batched ? out : out.squeeze(0);
}

// Whether autograd will record this call (and so needs max_pool2d_with_indices).
bool recorded_by_autograd(const at::Tensor& self) {
  return (c10::GradMode::is_enabled() && self.requires_grad()) || self._fw_grad(/*level=*/0).defined();
}

at::Tensor max_pool2d_autograd(const at::Tensor& self, c10::IntArrayRef kernel_size, c10::IntArrayRef stride,
                               c10::IntArrayRef padding, c10::IntArrayRef dilation, bool ceil_mode) {
  if (recorded_by_autograd(self))
    return at::native::max_pool2d(self, kernel_size, stride, padding, dilation, ceil_mode);
  at::AutoDispatchBelowADInplaceOrView below_autograd;
  return at::max_pool2d(self, kernel_size, stride, padding, dilation, ceil_mode);
}

}  // namespace

TORCH_LIBRARY_IMPL(aten, PrivateUse1, m) { m.impl("max_pool2d", TORCH_FN(max_pool2d_aie)); }

TORCH_LIBRARY_IMPL(aten, AutogradPrivateUse1, m) { m.impl("max_pool2d", TORCH_FN(max_pool2d_autograd)); }

}  // namespace torch_aie::pool
