// torch.profiler ranges around the aie ops, so a profiler trace of an aie model shows
// what each op would cost on the NPU and which ops stay on the CPU:
//   aie::<op>[<algorithm>]   an op served by the NPU path (e.g. aie::conv2d[direct]);
//                            with record_shapes=True (PyTorch records kwinputs only then)
//                            its kwinputs carry the array plan and the *modelled* NPU time
//                            (a cycle model, not a measurement); its inputs are the
//                            activation and the weight, so "Input Dims" shows the shape
//   aie::cpu_fallback[<op>]  work that runs on the host CPU (the fallback in
//                            csrc/device/fallback.cpp names its ranges the same way)
// Both are at::RecordFunction ranges: with no profiler active the constructor checks
// for callbacks and returns, building neither the name nor the metadata.
#pragma once
#include <ATen/core/Tensor.h>
#include <ATen/record_function.h>

#include <cmath>
#include <string>
#include <unordered_map>
#include <vector>

#include "csrc/runtime/array_model.h"

namespace torch_aie::ops {

// What one NPU op range reports. `dtype` names the operands the NPU multiplies
// ("bf16", "bf16x3" for three bf16 passes, "int8").
struct NpuRangeInfo {
  const char* op;  // "conv2d", "conv1d", ...
  const char* algorithm;
  const char* dtype;
  const std::string& array;
  const runtime::ArrayPlan& plan;
  double macs;
  int64_t gemm_m, gemm_n, gemm_k, groups;
};

class NpuOpRange {
 public:
  NpuOpRange(const NpuRangeInfo& info, const at::Tensor& input, const at::Tensor& weight) {
    if (!guard_.isActive()) return;
    const std::string name = std::string("aie::") + info.op + "[" + info.algorithm + "]";
    if (!guard_.needsInputs()) {
      guard_.before(std::string_view(name));
      return;
    }
    // Integers and strings only: torch 2.13's chrome-trace export writes doubles such as
    // 6144.0 as "6144.", which is not JSON. Times are whole nanoseconds, cycles whole cycles.
    const auto& p = info.plan;
    const auto whole = [](double v) { return static_cast<int64_t>(std::llround(v)); };
    kwargs_ = {
        {"algorithm", std::string(info.algorithm)},
        {"dtype", std::string(info.dtype)},
        {"array", info.array},
        {"modelled_ns", whole(p.modelled_us * 1e3)},
        {"bound", std::string(p.compute_cycles >= p.dma_cycles ? "compute" : "dma")},
        {"compute_cycles", whole(p.compute_cycles)},
        {"dma_cycles", whole(p.dma_cycles)},
        {"cycles", whole(p.cycles)},
        {"cores_used", static_cast<int64_t>(p.cores_used)},
        {"tile", std::to_string(p.tile_m) + "x" + std::to_string(p.tile_n) + "x" + std::to_string(p.tile_k)},
        {"core_bytes", p.core_bytes},
        {"memtile_bytes", p.memtile_bytes},
        {"macs", whole(info.macs)},
        {"gemm_m", info.gemm_m},
        {"gemm_n", info.gemm_n},
        {"gemm_k", info.gemm_k},
        {"groups", info.groups},
        {"model", std::string("modelled_ns and the cycles are a cycle model of the NPU, not a measurement")},
    };
    inputs_ = {input, weight};
    guard_.before(std::string_view(name), c10::ArrayRef<const c10::IValue>(inputs_.data(), inputs_.size()),
                  &kwargs_);
  }

 private:
  at::RecordFunction guard_{at::RecordScope::FUNCTION};
  std::vector<c10::IValue> inputs_;  // outlive the range: the profiler reads them in before()
  std::unordered_map<std::string, c10::IValue> kwargs_;
};

// Host work done on behalf of an aie op (e.g. a conv the NPU cannot serve).
class CpuFallbackRange {
 public:
  CpuFallbackRange(const char* op, const std::string& reason) {
    if (!guard_.isActive()) return;
    const std::string name = std::string("aie::cpu_fallback[") + op + "]";
    if (!guard_.needsInputs()) {
      guard_.before(std::string_view(name));
      return;
    }
    kwargs_ = {{"reason", reason}};
    guard_.before(std::string_view(name), &kwargs_);
  }

 private:
  at::RecordFunction guard_{at::RecordScope::FUNCTION};
  std::unordered_map<std::string, c10::IValue> kwargs_;
};

}  // namespace torch_aie::ops
