// Device memory is host-addressable (emulated device memory is host memory; XDNA's
// NPU buffers are host-mapped DRAM), so the host reads and writes an aie tensor
// through a CPU tensor over the same bytes: same storage offset, sizes, strides and
// conj/neg bits, no copy. The one host-view helper of the project: the ops layer
// (conv host views), the device layer's kernels and its boxed CPU fallback all use
// it. docs/ARCHITECTURE.md, "Device contract".
#pragma once
#include <ATen/core/Tensor.h>
#include <c10/core/CPUAllocator.h>
#include <c10/util/SmallVector.h>

#include <vector>

namespace torch_aie::runtime {

// The host views of one batch of tensors (e.g. one fallback call). Views of
// tensors that share a device storage share one CPU storage, so CPU kernels see
// overlaps (a.add_(a.t())) as they would on the CPU. A CPU storage views the device
// memory without owning it; a resizable one grows with the CPU allocator (a CPU
// kernel growing an out= argument gets fresh CPU memory, detectable afterwards
// through Entry::intact()). Views are valid only while their device tensors live.
class HostViews {
 public:
  struct Entry {
    c10::Storage device;
    c10::Storage host;
    const void* data;  // the device memory
    size_t nbytes;

    // False once a CPU kernel has moved the view to other memory.
    bool intact() const {
      const c10::StorageImpl* impl = host.unsafeGetStorageImpl();
      return impl->data_ptr().get() == data && impl->nbytes() == nbytes;
    }
  };

  explicit HostViews(bool resizable = false) : resizable_(resizable) {}

  // `t` itself if undefined or on the CPU; else a CPU tensor over its memory.
  at::Tensor view(const at::Tensor& t) {
    if (!t.defined() || t.is_cpu()) return t;
    TORCH_CHECK(t.is_privateuseone(), "expected an aie or cpu tensor, got one on ", t.device());
    TORCH_CHECK(t.has_storage(), "a host view of an aie tensor needs a tensor with storage");
    auto impl = c10::make_intrusive<c10::TensorImpl>(c10::Storage(entry_for(t.storage()).host),
                                                     c10::DispatchKeySet(c10::DispatchKey::CPU), t.dtype());
    impl->set_sizes_and_strides(t.sizes(), t.strides(), t.storage_offset());
    at::Tensor v(std::move(impl));
    // Lazy conjugation and negation live in the tensor, not in its memory.
    v._set_conj(t.is_conj());
    v._set_neg(t.is_neg());
    return v;
  }

  // The entry whose host storage is `host`, if any.
  const Entry* find(const c10::StorageImpl* host) const {
    for (const Entry& e : entries_)
      if (e.host.unsafeGetStorageImpl() == host) return &e;
    return nullptr;
  }

  const Entry* find_device(const c10::StorageImpl* device) const {
    for (const Entry& e : entries_)
      if (e.device.unsafeGetStorageImpl() == device) return &e;
    return nullptr;
  }

 private:
  const Entry& entry_for(const c10::Storage& device) {
    if (const Entry* e = find_device(device.unsafeGetStorageImpl())) return *e;
    c10::StorageImpl* impl = device.unsafeGetStorageImpl();
    void* data = impl->mutable_data();
    const size_t nbytes = impl->nbytes();
    c10::Storage host(c10::make_intrusive<c10::StorageImpl>(
        c10::StorageImpl::use_byte_size_t(), nbytes,
        at::DataPtr(data, c10::Device(c10::DeviceType::CPU)),  // not owning
        resizable_ ? c10::GetCPUAllocator() : nullptr, resizable_));
    entries_.push_back(Entry{device, std::move(host), data, nbytes});
    return entries_.back();
  }

  bool resizable_;
  // A handful per batch: a linear search beats hashing, and most batches fit inline.
  c10::SmallVector<Entry, 4> entries_;
};

// A one-off host view of `t` (not resizable): `t` itself if undefined or on the CPU.
inline at::Tensor host_view(const at::Tensor& t) {
  if (!t.defined() || t.is_cpu()) return t;
  return HostViews().view(t);
}

}  // namespace torch_aie::runtime
