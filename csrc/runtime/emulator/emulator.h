// The host emulator's float kernel family: runs the aie_kernels on the CPU with
// the NPU's numerics, parallel over output tiles (never over the reduction), so
// results do not depend on the thread count.
#pragma once
#include "aie_kernels/kernel_table.h"
#include "csrc/runtime/conv_backend.h"
#include "csrc/runtime/emulator/packed_weights.h"
#include "csrc/runtime/emulator/staging.h"

namespace torch_aie::runtime {

// The kernel table for this host's best ISA, chosen once.
const aie_kernels::KernelTable& host_kernels();

// Where results go: element offsets (in elements of the output dtype).
struct OutputView {
  void* data = nullptr;
  c10::ScalarType dtype = c10::ScalarType::Float;  // float or bfloat16
  int64_t sN = 0, sC = 0, sH = 0, sW = 0;
  bool bf16() const { return dtype == c10::ScalarType::BFloat16; }
  int64_t esize() const { return c10::elementSize(dtype); }
};

// The float epilogue: fp32 bias (or null) and an optional ReLU.
struct Epilogue {
  const float* bias = nullptr;
  bool relu = false;
};

void emulate_conv(const ConvShape& s, const PackedWeights& w, const StagedInput& in,
                  const Epilogue& epi, const OutputView& out);

}  // namespace torch_aie::runtime
