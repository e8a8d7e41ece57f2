// Decides, per call, which path serves a convolution and why. A pure function of
// its arguments, like ATen's convolution backend selector: the caller passes the
// settings (conv_config.h's plan_settings()).
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "csrc/ops/conv/conv_config.h"
#include "csrc/ops/conv/conv_params.h"
#include "csrc/runtime/array_model.h"

namespace torch_aie::conv {

struct ConvDecision {
  bool on_npu = false;
  ConvAlgorithm algorithm = ConvAlgorithm::Im2colGemm;
  runtime::Numerics numerics = runtime::Numerics::Bf16;
  std::string reason;  // why this algorithm, or why the CPU
  runtime::ArrayPlan array_plan;  // how it tiles over the array (when on_npu)
};

// Which algorithms can serve `s` at all; empty string = applies, else why not.
std::string why_not(ConvAlgorithm a, const runtime::ConvShape& s);

ConvDecision plan_conv(const ConvParams& p, const PlanSettings& settings);

}  // namespace torch_aie::conv
