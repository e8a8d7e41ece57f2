// Introspection: the planner's decision as one line (explain_conv) and its AIE
// array plan as numbers (conv_array_plan).
#include <sstream>

#include "csrc/ops/conv/conv_forward.h"
#include "csrc/ops/conv/conv_paths.h"

namespace torch_aie::conv {

std::string explain(const ConvArgs& a, std::optional<ConvAlgorithm> forced) {
  const ConvParams p = normalize(a);
  const bool bias = a.bias && a.bias->defined();
  const ConvDecision d = decide(p, forced, false, bias);
  std::ostringstream os;
  if (!d.on_npu) {
    os << "cpu_fallback: " << d.reason;
    return os.str();
  }
  const auto& s = p.shape;
  const auto& ap = d.array_plan;
  os << runtime::algorithm_name(d.algorithm) << " [" << runtime::numerics_name(d.numerics)
     << "]: " << d.reason << "; GEMM M=" << s.M() << " N=" << s.OCg() << " K=" << s.K()
     << " x" << s.groups << " groups; " << array_name() << " plan: " << ap.cores_used
     << " cores, tile " << ap.tile_m << "x" << ap.tile_n << "x" << ap.tile_k << ", core "
     << ap.core_bytes << " B, memtile " << ap.memtile_bytes << " B, modelled " << ap.modelled_us
     << " us; " << runtime::conv_backend().describe(make_job(p, d, false, bias));
  return os.str();
}

ArrayPlanReport array_plan(const ConvArgs& a, std::optional<ConvAlgorithm> forced, int elem_bytes) {
  const ConvParams p = normalize(a);
  ConvDecision d = decide(p, forced, false, a.bias && a.bias->defined());
  // int8 operands (quantised convs): the same tiling at the int8 MAC tile and rate.
  if (d.on_npu && elem_bytes == 1)
    d.array_plan = runtime::plan_conv_on_array(p.shape, d.algorithm, runtime::array_by_name(array_name()), 1, 1);
  ArrayPlanReport r;
  r.summary = d.on_npu ? runtime::algorithm_name(d.algorithm) : "cpu_fallback: " + d.reason;
  const auto& ap = d.array_plan;
  r.keys = {"cores_used", "tile_m", "tile_n", "tile_k", "core_bytes", "core_capacity",
            "memtile_bytes", "memtile_capacity", "compute_cycles", "dma_cycles", "cycles",
            "modelled_us", "utilisation", "fits"};
  const auto& arr = runtime::array_by_name(array_name());
  r.values = {double(ap.cores_used), double(ap.tile_m), double(ap.tile_n), double(ap.tile_k),
              double(ap.core_bytes), double(arr.core_mem), double(ap.memtile_bytes),
              double(arr.memtile_mem), ap.compute_cycles, ap.dma_cycles, ap.cycles,
              ap.modelled_us, ap.utilisation, ap.fits ? 1.0 : 0.0};
  return r;
}

}  // namespace torch_aie::conv
