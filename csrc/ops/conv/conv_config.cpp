#include "csrc/ops/conv/conv_config.h"

#include <c10/util/Exception.h>

#include <atomic>
#include <mutex>

namespace torch_aie::conv {

namespace {
std::atomic<int> g_precision{static_cast<int>(Precision::Bf16)};
std::atomic<int> g_algorithm{-1};  // -1 = auto
std::atomic<bool> g_strix{false};
std::atomic<int64_t> g_npu_calls[runtime::kNumAlgorithms];
std::mutex g_fallback_mutex;
std::map<std::string, int64_t> g_fallbacks;
std::map<std::string, int64_t> g_named;  // guarded by g_fallback_mutex
}  // namespace

Precision precision() { return static_cast<Precision>(g_precision.load()); }

const char* precision_name(Precision p) {
  switch (p) {
    case Precision::Bf16: return "bf16";
    case Precision::Bf16x3: return "bf16x3";
    case Precision::Ieee: return "ieee";
  }
  return "?";
}

void set_precision(const std::string& name) {
  for (Precision p : {Precision::Bf16, Precision::Bf16x3, Precision::Ieee}) {
    if (name == precision_name(p)) {
      g_precision = static_cast<int>(p);
      return;
    }
  }
  TORCH_CHECK_VALUE(false, "conv precision must be one of 'bf16', 'bf16x3', 'ieee', got '", name, "'");
}

std::optional<ConvAlgorithm> parse_algorithm(const std::string& name) {
  if (name == "auto") return std::nullopt;
  for (int i = 0; i < runtime::kNumAlgorithms; ++i) {
    auto a = static_cast<ConvAlgorithm>(i);
    if (name == runtime::algorithm_name(a)) return a;
  }
  TORCH_CHECK_VALUE(false, "conv algorithm must be one of 'auto', 'im2col_gemm', 'gemm_1x1', ",
                    "'direct', 'depthwise', got '", name, "'");
}

std::optional<ConvAlgorithm> global_algorithm() {
  int a = g_algorithm.load();
  if (a < 0) return std::nullopt;
  return static_cast<ConvAlgorithm>(a);
}

void set_global_algorithm(const std::string& name) {
  auto a = parse_algorithm(name);
  g_algorithm = a ? static_cast<int>(*a) : -1;
}

std::string array_name() { return g_strix ? "strix" : "phoenix"; }

void set_array(const std::string& name) {
  TORCH_CHECK_VALUE(name == "phoenix" || name == "strix", "array must be 'phoenix' or 'strix', got '",
                    name, "'");
  g_strix = name == "strix";
}

PlanSettings plan_settings(std::optional<ConvAlgorithm> per_call) {
  PlanSettings s;
  s.precision = precision();
  s.forced = per_call ? per_call : global_algorithm();
  s.array = &runtime::array_by_name(array_name());
  return s;
}

void count_npu(ConvAlgorithm a) { g_npu_calls[static_cast<int>(a)].fetch_add(1); }

void count_fallback(const std::string& reason) {
  std::lock_guard<std::mutex> lock(g_fallback_mutex);
  ++g_fallbacks[reason];
}

void count_stat(const std::string& key) {
  std::lock_guard<std::mutex> lock(g_fallback_mutex);
  ++g_named[key];
}

std::map<std::string, int64_t> stats_snapshot() {
  std::map<std::string, int64_t> out;
  for (int i = 0; i < runtime::kNumAlgorithms; ++i)
    out[std::string("npu:") + runtime::algorithm_name(static_cast<ConvAlgorithm>(i))] = g_npu_calls[i].load();
  std::lock_guard<std::mutex> lock(g_fallback_mutex);
  for (const auto& [reason, n] : g_fallbacks) out["cpu_fallback:" + reason] = n;
  for (const auto& [key, n] : g_named) out[key] = n;
  return out;
}

void reset_stats() {
  for (auto& c : g_npu_calls) c = 0;
  std::lock_guard<std::mutex> lock(g_fallback_mutex);
  g_fallbacks.clear();
  g_named.clear();
}

}  // namespace torch_aie::conv
