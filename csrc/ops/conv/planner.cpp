// The cost rule (auto mode), in order:
//  1. depthwise   groups == C == OC: no reduction across channels, so a GEMM would
//                 multiply mostly zeros; the depthwise kernel vectorises over channels.
//  2. gemm_1x1    1x1 kernel, no padding: the activations already are the GEMM's A
//                 (rows = pixels, K = channels), so no im2col copy is made.
//  3. direct      >= 16 channels per group: each tap contributes a contiguous run of
//                 channels long enough to keep the MAC tile busy, and skipping the
//                 im2col copy saves KH*KW x the activation traffic.
//  4. im2col_gemm everything else (few channels per tap, e.g. RGB stems): the packed
//                 panel merges taps into one long reduction.
#include "csrc/ops/conv/planner.h"

#include <sstream>

namespace torch_aie::conv {

using runtime::ConvShape;
using runtime::Numerics;

namespace {

constexpr int64_t kDirectMinChannels = 16;

std::string dtype_reason(at::ScalarType t) {
  std::ostringstream os;
  os << "dtype " << t << " has no AIE kernel (the NPU path takes " << runtime::served_dtypes() << ")";
  return os.str();
}

ConvAlgorithm auto_choice(const ConvShape& s, std::string& why) {
  if (why_not(ConvAlgorithm::Depthwise, s).empty() && s.groups > 1) {
    why = "auto: depthwise (groups == channels)";
    return ConvAlgorithm::Depthwise;
  }
  if (why_not(ConvAlgorithm::Gemm1x1, s).empty()) {
    why = "auto: 1x1 kernel without padding is a plain GEMM";
    return ConvAlgorithm::Gemm1x1;
  }
  if (s.Cg() >= kDirectMinChannels) {
    why = "auto: direct (>= 16 channels per group per tap)";
    return ConvAlgorithm::Direct;
  }
  why = "auto: im2col_gemm (few channels per tap)";
  return ConvAlgorithm::Im2colGemm;
}

}  // namespace

std::string why_not(ConvAlgorithm a, const ConvShape& s) {
  switch (a) {
    case ConvAlgorithm::Im2colGemm:
    case ConvAlgorithm::Direct: return "";
    case ConvAlgorithm::Gemm1x1:
      if (s.KH != 1 || s.KW != 1) return "gemm_1x1 needs a 1x1 kernel";
      if (s.pad_h != 0 || s.pad_w != 0) return "gemm_1x1 needs zero padding";
      return "";
    case ConvAlgorithm::Depthwise:
      if (s.Cg() != 1 || s.OCg() != 1) return "depthwise needs groups == in_channels == out_channels";
      return "";
  }
  return "unknown algorithm";
}

ConvDecision plan_conv(const ConvParams& p, const PlanSettings& settings) {
  ConvDecision d;
  if (p.transposed) {
    d.reason = "transposed convolution has no AIE kernel";
    return d;
  }
  if (p.spatial_dims != 1 && p.spatial_dims != 2) {
    d.reason = std::to_string(p.spatial_dims) + "-D convolution (the AIE path serves 1-D and 2-D)";
    return d;
  }
  const auto numerics = runtime::numerics_for(p.dtype, precision_name(settings.precision));
  if (!numerics) {
    d.reason = p.dtype == at::kFloat && settings.precision == Precision::Ieee
                   ? "precision 'ieee' asks for exact fp32, which the NPU does not compute"
                   : dtype_reason(p.dtype);
    return d;
  }
  d.numerics = *numerics;
  if (!p.servable_geometry) {
    d.reason = "empty extents or arguments only ATen defines (e.g. dilation 0 on an empty batch)";
    return d;
  }
  const auto& forced = settings.forced;
  std::string why;
  if (forced && why_not(*forced, p.shape).empty()) {
    d.algorithm = *forced;
    d.reason = std::string("forced: ") + runtime::algorithm_name(*forced);
  } else {
    d.algorithm = auto_choice(p.shape, why);
    d.reason = forced ? std::string("forced ") + runtime::algorithm_name(*forced) +
                            " does not apply (" + why_not(*forced, p.shape) + "); " + why
                      : why;
  }
  // The emulator serves only plans the NPU could run: the array's memories and DMAs decide.
  const auto& info = runtime::numerics_info(d.numerics);
  const runtime::ArrayDesc& array = *settings.array;
  d.array_plan = runtime::plan_conv_on_array(p.shape, d.algorithm, array, info.operand_bytes, info.passes);
  if (!d.array_plan.fits) {
    d.reason = std::string(runtime::algorithm_name(d.algorithm)) + " plan does not fit " + array.name +
               ": " + d.array_plan.why_not;
    return d;
  }
  d.on_npu = true;
  return d;
}

}  // namespace torch_aie::conv
