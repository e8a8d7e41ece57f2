// Names and the numerics table of the conv job description.
#include "csrc/runtime/conv_job.h"

#include <algorithm>

namespace torch_aie::runtime {

using c10::ScalarType;

const char* algorithm_name(ConvAlgorithm a) {
  switch (a) {
    case ConvAlgorithm::Im2colGemm: return "im2col_gemm";
    case ConvAlgorithm::Gemm1x1: return "gemm_1x1";
    case ConvAlgorithm::Direct: return "direct";
    case ConvAlgorithm::Depthwise: return "depthwise";
  }
  return "?";
}

namespace {

// One row per Numerics, in enum order (also the order messages list dtypes in). A
// new numerics (e.g. int8 x int8 -> int32) is one enum value and one row here.
constexpr NumericsInfo kNumerics[kNumNumerics] = {
    {Numerics::Bf16, "bf16", ScalarType::Float, "bf16", ScalarType::BFloat16, 2, ScalarType::Float, 1},
    {Numerics::Bf16x3, "bf16x3", ScalarType::Float, "bf16x3", ScalarType::BFloat16, 2, ScalarType::Float, 3},
    {Numerics::Bf16Tensor, "bf16_tensor", ScalarType::BFloat16, nullptr, ScalarType::BFloat16, 2,
     ScalarType::Float, 1},
    // Selected by aie.qconv2d only (no fp32 precision names it), never by aten::convolution.
    {Numerics::Int8, "int8", ScalarType::Char, "int8", ScalarType::Char, 1, ScalarType::Int, 1},
};

constexpr bool rows_in_enum_order() {
  for (int i = 0; i < kNumNumerics; ++i)
    if (static_cast<int>(kNumerics[i].id) != i) return false;
  return true;
}
static_assert(rows_in_enum_order(), "kNumerics rows must follow the Numerics enum");

}  // namespace

const NumericsInfo& numerics_info(Numerics n) { return kNumerics[static_cast<int>(n)]; }

const char* numerics_name(Numerics n) { return numerics_info(n).name; }

std::optional<Numerics> numerics_for(ScalarType dtype, const std::string& precision) {
  for (const NumericsInfo& row : kNumerics)
    if (row.tensor_dtype == dtype && (!row.precision || precision == row.precision)) return row.id;
  return std::nullopt;
}

std::string dtype_name(ScalarType t) {
  switch (t) {
    case ScalarType::Float: return "float32";
    case ScalarType::BFloat16: return "bfloat16";
    case ScalarType::Half: return "float16";
    case ScalarType::Double: return "float64";
    case ScalarType::Char: return "int8";
    case ScalarType::Byte: return "uint8";
    case ScalarType::QInt8: return "qint8";
    case ScalarType::QUInt8: return "quint8";
    default: return c10::toString(t);
  }
}

std::string served_dtypes() {
  std::vector<ScalarType> seen;
  for (const NumericsInfo& row : kNumerics)  // aten::convolution's dtypes (int8 convs are aie.qconv2d's)
    if (row.id != Numerics::Int8 && std::find(seen.begin(), seen.end(), row.tensor_dtype) == seen.end())
      seen.push_back(row.tensor_dtype);
  std::string out;
  for (size_t i = 0; i < seen.size(); ++i) {
    if (i > 0) out += i + 1 == seen.size() ? " and " : ", ";
    out += dtype_name(seen[i]);
  }
  return out;
}

const char* activation_name(Activation a) {
  switch (a) {
    case Activation::None: return "none";
    case Activation::ReLU: return "relu";
    case Activation::ReLU6: return "relu6";
    case Activation::Hardswish: return "hardswish";
    case Activation::SiLU: return "silu";
    case Activation::GELU: return "gelu";
  }
  return "?";
}

}  // namespace torch_aie::runtime
