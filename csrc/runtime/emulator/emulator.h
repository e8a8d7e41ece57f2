// The host emulator's float kernel family: runs the aie_kernels on the CPU with
// the NPU's numerics, parallel over output tiles (never over the reduction), so
// results do not depend on the thread count.
#pragma once
#include <vector>

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

// The float epilogue: act((acc + bias) + residual), bias fp32 (or null); the residual
// (or null) has the output view's strides.
struct Epilogue {
  const float* bias = nullptr;
  aie_kernels::Activation act = aie_kernels::Activation::None;
  const void* residual = nullptr;
  bool residual_bf16 = false;

  // The residual element of the output element at `dst`.
  aie_kernels::Residual residual_for(const OutputView& out, const void* dst) const {
    if (!residual) return {};
    const int64_t off = (static_cast<const char*>(dst) - static_cast<const char*>(out.data)) / out.esize();
    return {static_cast<const char*>(residual) + off * (residual_bf16 ? 2 : 4), residual_bf16};
  }
};

// The epilogue of `job` over `io` (the bias read in place if it is contiguous fp32, else
// widened into `bias`, which must outlive it; the fused activation; the residual read at
// the output's offsets), shared by every float family.
Epilogue epilogue_for(const ConvJob& job, const ConvIO& io, std::vector<float>& bias);

// Where `output` (a 4-D host view) receives results.
OutputView output_view(const at::Tensor& output);

// Runs a conv on staged input and packed weights of the same host layout.
void emulate_conv(const ConvShape& s, const PackedWeights& w, const StagedInput& in,
                  const Epilogue& epi, const OutputView& out);

// The drivers emulate_conv picks from (one file each). The channel-row ones need a
// planar output with contiguous pixels (NCHW).
void emulate_gemm_pixel_rows(const ConvShape& s, const PackedWeights& w, const StagedInput& in,
                             const Epilogue& epi, const OutputView& out);
void emulate_gemm_channel_rows(const ConvShape& s, const PackedWeights& w, const StagedInput& in,
                               const Epilogue& epi, const OutputView& out);
void emulate_depthwise_pixel_rows(const ConvShape& s, const PackedWeights& w, const StagedInput& in,
                                  const Epilogue& epi, const OutputView& out);
void emulate_depthwise_channel_rows(const ConvShape& s, const PackedWeights& w, const StagedInput& in,
                                    const Epilogue& epi, const OutputView& out);

// Pixel-row depthwise reading fp32 input with contiguous rows directly, staging only
// the rows each task needs (depthwise_streamed.cpp); the same bits as staging first.
bool depthwise_streams(const ConvShape& s, const at::Tensor& x);
void emulate_depthwise_streamed(const ConvShape& s, const PackedWeights& w, const at::Tensor& x,
                                const Epilogue& epi, const OutputView& out);

// Pixel-row depthwise reading a bfloat16 channels-last input in place, no staging, or a
// dense channels-last fp32 input of one-pass bf16 numerics rounded to bf16 bits first
// (depthwise_in_place.cpp); the same bits as staging in fp32.
bool depthwise_in_place(const ConvShape& s, const at::Tensor& x, Numerics numerics);
void emulate_depthwise_in_place(const ConvShape& s, const PackedWeights& w, const at::Tensor& x,
                                const Epilogue& epi, const OutputView& out);

}  // namespace torch_aie::runtime
