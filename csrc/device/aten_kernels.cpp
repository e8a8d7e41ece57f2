// The aten kernels every PrivateUse1 backend must provide itself: factories, views,
// resize, copies, set_, item(), and the in-place fills that would otherwise take a
// copy-in/copy-out round trip through the CPU fallback. Device memory is host
// memory, so data-touching kernels run CPU ATen on a CPU alias of the aie tensor.
#include <ATen/EmptyTensor.h>
#include <ATen/MemoryOverlap.h>
#include <ATen/core/Tensor.h>
#include <ATen/native/Resize.h>
#include <ATen/ops/_local_scalar_dense.h>
#include <ATen/ops/_reshape_alias_native.h>
#include <ATen/ops/as_strided_native.h>
#include <ATen/ops/resize_native.h>
#include <ATen/ops/set_native.h>
#include <ATen/ops/unfold_native.h>
#include <ATen/ops/view_as_complex_native.h>
#include <ATen/ops/view_as_real_native.h>
#include <ATen/ops/view_native.h>
#include <c10/core/DeviceGuard.h>
#include <torch/library.h>

#include "csrc/runtime/memory_view.h"
#include "csrc/device/device.h"
#include "csrc/runtime/write_epochs.h"

namespace torch_aie {

namespace {

constexpr c10::DispatchKeySet kAieKeys(c10::DispatchKey::PrivateUse1);

void check_factory_options(
    c10::Device device,
    std::optional<c10::Layout> layout,
    std::optional<bool> pin_memory) {
  TORCH_CHECK(device.is_privateuseone(), "aie factory called for device ", device);
  check_device_index(device.index());
  const c10::Layout l = c10::layout_or_default(layout);
  TORCH_CHECK(l == c10::Layout::Strided, "aie tensors support only the strided layout, got ", l);
  TORCH_CHECK(
      !c10::pinned_memory_or_default(pin_memory),
      "pin_memory=True applies to cpu tensors only, not to aie tensors");
}

at::Tensor empty_memory_format(
    c10::SymIntArrayRef size,
    std::optional<c10::ScalarType> dtype,
    std::optional<c10::Layout> layout,
    std::optional<c10::Device> device,
    std::optional<bool> pin_memory,
    std::optional<c10::MemoryFormat> memory_format) {
  const c10::Device d = c10::device_or_default(device);
  check_factory_options(d, layout, pin_memory);
  const c10::DeviceGuard guard(d);
  return at::detail::empty_generic(
      C10_AS_INTARRAYREF_SLOW(size),
      c10::GetAllocator(c10::DeviceType::PrivateUse1),
      kAieKeys,
      c10::dtype_or_default(dtype),
      memory_format);
}

at::Tensor empty_strided(
    c10::SymIntArrayRef size,
    c10::SymIntArrayRef stride,
    std::optional<c10::ScalarType> dtype,
    std::optional<c10::Layout> layout,
    std::optional<c10::Device> device,
    std::optional<bool> pin_memory) {
  const c10::Device d = c10::device_or_default(device);
  check_factory_options(d, layout, pin_memory);
  const c10::DeviceGuard guard(d);
  return at::detail::empty_strided_generic(
      C10_AS_INTARRAYREF_SLOW(size),
      C10_AS_INTARRAYREF_SLOW(stride),
      c10::GetAllocator(c10::DeviceType::PrivateUse1),
      kAieKeys,
      c10::dtype_or_default(dtype));
}

// ---- views: new TensorImpls over the same storage (ATen's device-generic code) --

at::Tensor as_strided(
    const at::Tensor& self,
    c10::SymIntArrayRef size,
    c10::SymIntArrayRef stride,
    std::optional<c10::SymInt> storage_offset) {
  std::optional<int64_t> offset;
  if (storage_offset) {
    offset = storage_offset->guard_int(__FILE__, __LINE__);
  }
  return at::native::as_strided_tensorimpl(
      self, C10_AS_INTARRAYREF_SLOW(size), C10_AS_INTARRAYREF_SLOW(stride), offset);
}

at::Tensor view(const at::Tensor& self, c10::SymIntArrayRef size) {
  return at::native::view(self, C10_AS_INTARRAYREF_SLOW(size));
}

at::Tensor reshape_alias(const at::Tensor& self, c10::SymIntArrayRef size, c10::SymIntArrayRef stride) {
  return at::native::_reshape_alias(self, C10_AS_INTARRAYREF_SLOW(size), C10_AS_INTARRAYREF_SLOW(stride));
}

at::Tensor unfold(const at::Tensor& self, int64_t dimension, int64_t size, int64_t step) {
  return at::native::unfold(self, dimension, size, step);
}

at::Tensor view_as_real(const at::Tensor& self) {
  return at::native::view_as_real(self);
}

at::Tensor view_as_complex(const at::Tensor& self) {
  return at::native::view_as_complex(self);
}

// ---- resize and set_: storage growth goes through the tensor's own allocator ----

const at::Tensor& resize_(
    const at::Tensor& self,
    c10::SymIntArrayRef size,
    std::optional<c10::MemoryFormat> memory_format) {
  return at::native::resize_(self, C10_AS_INTARRAYREF_SLOW(size), memory_format);
}

at::Tensor& set_storage_offset_(
    at::Tensor& self,
    c10::Storage source,
    c10::SymInt storage_offset,
    c10::SymIntArrayRef size,
    c10::SymIntArrayRef stride) {
  return at::native::set_storage_cpu_(
      self,
      std::move(source),
      storage_offset.guard_int(__FILE__, __LINE__),
      C10_AS_INTARRAYREF_SLOW(size),
      C10_AS_INTARRAYREF_SLOW(stride));
}

at::Tensor& set_storage_(at::Tensor& self, c10::Storage source) {
  return at::native::set_(self, std::move(source));
}

at::Tensor& set_tensor_(at::Tensor& self, const at::Tensor& source) {
  return at::native::set_tensor_(self, source);
}

// The CPU kernel would give the tensor a CPU storage.
at::Tensor& set_empty_(at::Tensor& self) {
  c10::Storage empty(
      c10::Storage::use_byte_size_t(), 0, c10::GetAllocator(c10::DeviceType::PrivateUse1), true);
  return self.set_(std::move(empty), 0, {0}, {});
}

// ---- data movement ---------------------------------------------------------------

void check_cpu_or_aie(const at::Tensor& t, const char* role) {
  TORCH_CHECK(
      t.is_cpu() || t.is_privateuseone(),
      "aie copies go between aie and cpu tensors; the ",
      role,
      " is on ",
      t.device());
}

// Reached through copy_ for aie->aie, aie->cpu and cpu->aie: CPU copy_ on aliases
// handles broadcasting, dtype conversion and any strides. Host memory copies are
// synchronous, so non_blocking changes nothing.
at::Tensor copy_from(const at::Tensor& self, const at::Tensor& dst, bool non_blocking) {
  TORCH_CHECK(self.defined() && dst.defined(), "_copy_from: source and destination must be defined");
  check_cpu_or_aie(self, "source");
  check_cpu_or_aie(dst, "destination");
  if (dst.numel() == 0) {
    return dst;
  }
  // The aliases below do not share a StorageImpl, so CPU copy_ could not see it.
  if (self.is_privateuseone() && dst.is_privateuseone()) {
    at::assert_no_partial_overlap(dst, self);
  }
  at::Tensor dst_cpu = runtime::host_view(dst);
  dst_cpu.copy_(runtime::host_view(self));
  if (dst.is_privateuseone()) runtime::note_write(dst.storage());
  return dst;
}

// The CPU fallback's way of writing results into out= tensors of another shape.
at::Tensor copy_from_and_resize(const at::Tensor& self, const at::Tensor& dst) {
  check_cpu_or_aie(self, "source");
  TORCH_CHECK(dst.is_privateuseone(), "_copy_from_and_resize expects an aie destination, got ", dst.device());
  at::native::resize_(dst, self.sizes(), std::nullopt);
  return copy_from(self, dst, false);
}

at::Scalar local_scalar_dense(const at::Tensor& self) {
  return at::_local_scalar_dense(runtime::host_view(self));
}

at::Tensor& fill_scalar_(at::Tensor& self, const at::Scalar& value) {
  if (self.numel() > 0) {
    runtime::host_view(self).fill_(value);
    runtime::note_write(self.storage());
  }
  return self;
}

at::Tensor& zero_(at::Tensor& self) {
  if (self.numel() > 0) {
    runtime::host_view(self).zero_();
    runtime::note_write(self.storage());
  }
  return self;
}

// Lets `param.data = t` and Module.to() swap a tensor between cpu and aie in place
// (keeping Parameter identity, as for CUDA); ATen's rule knows only built-in backends.
bool has_compatible_shallow_copy_type(const at::Tensor& self, const at::Tensor& from) {
  auto dense_cpu_or_aie = [](const at::Tensor& t) {
    return t.layout() == c10::Layout::Strided && (t.is_cpu() || t.is_privateuseone()) &&
        !t.is_quantized();
  };
  return self.unsafeGetTensorImpl()->has_compatible_shallow_copy_type(from.key_set()) ||
      (dense_cpu_or_aie(self) && dense_cpu_or_aie(from));
}

// torch.autograd.graph.increment_version's aie side (torch_aie/_device.py): a write
// PyTorch learns of only by that call (torch.compile'd graphs, data_ptr writers).
void note_write_op(const at::Tensor& t) {
  if (t.defined() && t.is_privateuseone() && t.has_storage()) runtime::note_write(t.storage());
}

TORCH_LIBRARY_FRAGMENT(_aie, m) { m.def("note_write(Tensor t) -> ()", &note_write_op); }

TORCH_LIBRARY_IMPL(aten, PrivateUse1, m) {
  m.impl("empty.memory_format", &empty_memory_format);
  m.impl("empty_strided", &empty_strided);
  m.impl("as_strided", &as_strided);
  m.impl("view", &view);
  m.impl("_reshape_alias", &reshape_alias);
  m.impl("unfold", &unfold);
  m.impl("view_as_real", &view_as_real);
  m.impl("view_as_complex", &view_as_complex);
  m.impl("resize_", &resize_);
  m.impl("set_.source_Storage_storage_offset", &set_storage_offset_);
  m.impl("set_.source_Storage", &set_storage_);
  m.impl("set_.source_Tensor", &set_tensor_);
  m.impl("set_", &set_empty_);
  m.impl("_copy_from", &copy_from);
  m.impl("_copy_from_and_resize", &copy_from_and_resize);
  m.impl("_local_scalar_dense", &local_scalar_dense);
  m.impl("fill_.Scalar", &fill_scalar_);
  m.impl("zero_", &zero_);
  m.impl("_has_compatible_shallow_copy_type", &has_compatible_shallow_copy_type);
}

// The Conjugate and Negative fallbacks would materialise a lazily conjugated or
// negated source with clone(), which copies through _copy_from again, forever.
// runtime::host_view() carries both bits, so copy_from resolves them in CPU copy_ instead.
// (Built-in devices never reach _copy_from, so this changes nothing for them.)
TORCH_LIBRARY_IMPL(aten, Conjugate, m) {
  m.impl("_copy_from", torch::CppFunction::makeFallthrough());
  m.impl("_copy_from_and_resize", torch::CppFunction::makeFallthrough());
}

TORCH_LIBRARY_IMPL(aten, Negative, m) {
  m.impl("_copy_from", torch::CppFunction::makeFallthrough());
  m.impl("_copy_from_and_resize", torch::CppFunction::makeFallthrough());
}

}  // namespace

}  // namespace torch_aie
