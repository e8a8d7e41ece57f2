// User-visible conv settings (precision, algorithm override) and statistics.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "csrc/runtime/array_model.h"
#include "csrc/runtime/conv_job.h"

namespace torch_aie::conv {

using runtime::ConvAlgorithm;

// Float32 tensors on the NPU path (docs/ARCHITECTURE.md, "Numerics contract"). Default: bf16, the NPU's
// native speed, in the spirit of cuDNN's TF32-by-default convolutions.
enum class Precision { Bf16, Bf16x3, Ieee };

Precision precision();
void set_precision(const std::string& name);
const char* precision_name(Precision p);

// nullopt = "auto". Parsing rejects unknown names with the value in the message.
std::optional<ConvAlgorithm> parse_algorithm(const std::string& name);
std::optional<ConvAlgorithm> global_algorithm();
void set_global_algorithm(const std::string& name);

// The AIE array plans are made for ("phoenix" default, or "strix").
std::string array_name();
void set_array(const std::string& name);

// Everything the planner reads, passed in (the planner reads no globals).
struct PlanSettings {
  Precision precision = Precision::Bf16;
  std::optional<ConvAlgorithm> forced;  // the per-call override, else the global one
  const runtime::ArrayDesc* array = nullptr;
};
// The settings in force now, with `per_call` overriding the global algorithm.
PlanSettings plan_settings(std::optional<ConvAlgorithm> per_call);

// Counters: NPU-path calls per algorithm, CPU fallbacks per reason.
void count_npu(ConvAlgorithm a);
void count_fallback(const std::string& reason);
// Any other counter, reported under its own full key (e.g. "npu:int8:gemm_1x1").
void count_stat(const std::string& key);
std::map<std::string, int64_t> stats_snapshot();
void reset_stats();

}  // namespace torch_aie::conv
