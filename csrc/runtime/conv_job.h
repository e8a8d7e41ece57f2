// A convolution as the runtime sees it: geometry, algorithm, dtypes, numerics and
// epilogue. The ops layer builds a ConvJob from ATen tensors; a ConvBackend
// (csrc/runtime/conv_backend.h) packs its weights and runs it. Nothing here names
// a backend's internals (host layouts, staging, ISAs): see docs/ARCHITECTURE.md,
// "Conv contract".
#pragma once
#include <c10/core/ScalarType.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace torch_aie::runtime {

enum class ConvAlgorithm { Im2colGemm = 0, Gemm1x1 = 1, Direct = 2, Depthwise = 3 };
constexpr int kNumAlgorithms = 4;
const char* algorithm_name(ConvAlgorithm a);

// How tensor values become NPU operands (docs/ARCHITECTURE.md, "Numerics contract").
enum class Numerics {
  Bf16,        // fp32 tensors, one bf16 pass
  Bf16x3,      // fp32 tensors, hi*hi + hi*lo + lo*hi
  Bf16Tensor,  // bf16 tensors: values used as they are
  Int8,        // int8 / uint8 activations x int8 weights, exact int32 sums, requantised (aie.qconv2d)
};
constexpr int kNumNumerics = 4;

// One row of the numerics table: what the NPU multiplies and accumulates. The
// planner reads operand sizes and pass counts from here, never from constants.
struct NumericsInfo {
  Numerics id;
  const char* name;              // as explain_conv prints it
  c10::ScalarType tensor_dtype;  // the input/weight tensors' dtype this numerics serves
  const char* precision;         // fp32 precision setting selecting it; nullptr = any
  c10::ScalarType operand;       // one NPU operand element
  int operand_bytes;             // its size, for the array plan
  c10::ScalarType accumulator;   // what the MAC tiles accumulate in
  int passes;                    // MAC passes per output (bf16x3: 3)
};
const NumericsInfo& numerics_info(Numerics n);
const char* numerics_name(Numerics n);
// The numerics serving tensors of `dtype` under fp32 precision setting `precision`, if any.
std::optional<Numerics> numerics_for(c10::ScalarType dtype, const std::string& precision);
// "float32 and bfloat16": the tensor dtypes some numerics serves, for messages.
std::string served_dtypes();
// Python's name of a dtype ("float32"), for messages.
std::string dtype_name(c10::ScalarType t);

// 2-D geometry; a 1-D conv has H = KH = OH = 1. Padding is symmetric, as in aten::convolution.
struct ConvShape {
  int64_t N, C, H, W, OC, KH, KW, OH, OW;
  int64_t stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, groups;
  int64_t Cg() const { return C / groups; }
  int64_t OCg() const { return OC / groups; }
  int64_t taps() const { return KH * KW; }
  int64_t K() const { return taps() * Cg(); }  // reduction length per output
  int64_t M() const { return N * OH * OW; }    // output pixels
  int64_t Hp() const { return H + 2 * pad_h; }
  int64_t Wp() const { return W + 2 * pad_w; }
  double macs() const { return double(M()) * OC * K(); }
};

// The activation fused after the bias (and the residual, if any); a backend refuses
// (why_not) what it does not implement. Formulas: aie_kernels/kernel_table.h.
enum class Activation { None, ReLU, ReLU6, Hardswish, SiLU, GELU };
const char* activation_name(Activation a);

// Rounding of the requantising shift, named as the AIE names its SRS modes.
enum class RequantRounding { Floor, PositiveInf, SymmetricInf, ConvEven };

// Integer requantisation of int32 accumulators (shift-round-saturate): per output
// channel out = clamp(SRS(acc * multiplier[oc], shift[oc]) [+ SRS(skip * skip_multiplier,
// skip_shift)] + out_zero_point, out_min, out_max), one entry per output channel (a
// per-tensor scheme repeats its value). The skip term is added when ConvIO::skip is
// given. Float kernels ignore it. Semantics: tests/qconv_reference.py.
struct RequantDesc {
  std::vector<int32_t> multiplier;
  std::vector<int32_t> shift;
  int32_t out_min = -128, out_max = 127;
  RequantRounding rounding = RequantRounding::ConvEven;
  int32_t out_zero_point = 0;
  int32_t skip_multiplier = 1, skip_shift = 0;
};

// What happens to each accumulator on its way out: + bias, activation, requantisation.
struct EpilogueDesc {
  bool bias = false;
  Activation activation = Activation::None;
  std::optional<RequantDesc> requant;
};

struct ConvJob {
  ConvShape shape{};
  ConvAlgorithm algorithm = ConvAlgorithm::Im2colGemm;
  Numerics numerics = Numerics::Bf16;
  c10::ScalarType input_dtype = c10::ScalarType::Float;
  c10::ScalarType weight_dtype = c10::ScalarType::Float;
  c10::ScalarType output_dtype = c10::ScalarType::Float;
  bool channels_last = false;  // the output's memory format (ATen's rule); NCHW otherwise
  EpilogueDesc epilogue;
};

}  // namespace torch_aie::runtime
