// A dtype-tagged, 64-byte aligned byte buffer: packed weights and staged inputs of
// any element type (fp32 panels today; bf16 or int8 panels later) without forcing
// them into std::vector<float>.
#pragma once
#include <c10/core/ScalarType.h>
#include <c10/util/Exception.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>

namespace torch_aie::runtime {

class TypedBuffer {
 public:
  static constexpr size_t kAlign = 64;

  TypedBuffer() = default;
  // `numel` zero-filled elements of `dtype`.
  TypedBuffer(c10::ScalarType dtype, int64_t numel) { reset(dtype, numel); }

  void reset(c10::ScalarType dtype, int64_t numel) {
    TORCH_CHECK(numel >= 0, "TypedBuffer: negative element count ", numel);
    dtype_ = dtype;
    numel_ = numel;
    const size_t n = bytes();
    data_.reset(n ? static_cast<std::byte*>(std::aligned_alloc(kAlign, (n + kAlign - 1) / kAlign * kAlign))
                  : nullptr);
    TORCH_CHECK(n == 0 || data_, "TypedBuffer: out of host memory for ", n, " bytes");
    if (n) std::memset(data_.get(), 0, n);
  }

  c10::ScalarType dtype() const { return dtype_; }
  int64_t numel() const { return numel_; }
  size_t bytes() const { return static_cast<size_t>(numel_) * c10::elementSize(dtype_); }
  bool empty() const { return numel_ == 0; }

  template <class T>
  T* data() {
    check<T>();
    return reinterpret_cast<T*>(data_.get());
  }
  template <class T>
  const T* data() const {
    check<T>();
    return reinterpret_cast<const T*>(data_.get());
  }

 private:
  template <class T>
  void check() const {
    TORCH_INTERNAL_ASSERT(c10::CppTypeToScalarType<T>::value == dtype_, "TypedBuffer holds ", dtype_,
                          ", read as ", c10::CppTypeToScalarType<T>::value);
  }
  struct Free {
    void operator()(std::byte* p) const { std::free(p); }
  };
  c10::ScalarType dtype_ = c10::ScalarType::Float;
  int64_t numel_ = 0;
  std::unique_ptr<std::byte[], Free> data_;
};

}  // namespace torch_aie::runtime
