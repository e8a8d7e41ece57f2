// The AIE array as plans see it (docs/ARCHITECTURE.md, "Array model contract"):
// array descriptions, how a convolution is tiled over the cores, whether its buffers
// fit the core and memory tile memories, and a cycle *model* of its NPU time (a
// model, never a measurement).
#pragma once
#include <string>
#include <vector>

#include "csrc/runtime/conv_job.h"

namespace torch_aie::runtime {

struct ArrayDesc {
  std::string name;
  int cols, rows;                 // compute cores = cols x rows (one memtile + shim per column)
  int64_t core_mem, memtile_mem;  // bytes
  int bf16_mmul[3], int8_mmul[3];  // M, K, N of one MAC-tile instruction
  int bf16_macs, int8_macs;       // MACs per core per cycle
  double clock_ghz;
  double shim_bytes_per_cycle;    // per column, DDR <-> memtile
  double core_dma_bytes_per_cycle;  // per core, memtile -> core (two 32-bit input channels)
  int max_dims_core = 3, max_dims_memtile = 4, max_dims_shim = 3;
  int cores() const { return cols * rows; }
};

const ArrayDesc& phoenix();
const ArrayDesc& strix();
const ArrayDesc& array_by_name(const std::string& name);  // "phoenix" | "strix"

struct PlanBuffer {
  std::string name;
  int64_t bytes;
  std::string memory;  // "core" or "memtile"
};

struct AccessPattern {
  std::string name;  // e.g. "memtile->core A"
  int dims;
  std::string dma;   // "core", "memtile" or "shim"
};

struct ArrayPlan {
  bool fits = false;
  std::string why_not;  // names the buffer/pattern that does not fit
  int64_t tile_m = 0, tile_n = 0, tile_k = 0;  // per-core output tile, reduction chunk
  int cores_used = 0;
  int64_t core_bytes = 0, memtile_bytes = 0;
  std::vector<PlanBuffer> buffers;
  std::vector<AccessPattern> patterns;
  double compute_cycles = 0, dma_cycles = 0, cycles = 0;
  double modelled_us = 0, utilisation = 0;
};

// elem_bytes: 2 for bf16 operands, 1 for int8 (int32 accumulators either way).
ArrayPlan plan_conv_on_array(const ConvShape& s, ConvAlgorithm algorithm, const ArrayDesc& a,
                             int elem_bytes = 2, int passes = 1);
ArrayPlan plan_gemm_on_array(int64_t M, int64_t N, int64_t K, const ArrayDesc& a, int elem_bytes,
                             int groups = 1, int passes = 1);

}  // namespace torch_aie::runtime
