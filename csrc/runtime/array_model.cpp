// Array descriptions, tiling and the cycle model.
//
// Figures: AM020 / mlir-aie target model via REFERENCES.md. Clocks are derived from
// the marketed int8 TOPS (Phoenix: 10 TOPS over 20 cores x 256 MAC x 2 = ~1.0 GHz;
// Strix: 50 TOPS over 32 cores x 512 MAC x 2 = ~1.5 GHz). DMA rates: 32-bit stream
// channels, two per direction per core and per shim column.
//
// GEMM plan (also im2col_gemm, gemm_1x1 and direct, whose A operand the DMA
// gathers with an access pattern instead of an im2col copy): each core computes
// m x n output tiles, streaming the reduction in k chunks, ping-pong buffered:
//   core:    A 2 x m x k, B 2 x k x n (operand bytes), C m x n fp32 accumulator,
//            C out 2 x m x n (operand bytes), 1 KiB stack
//   memtile: A 2 x rows x m x k (one slice per core of the column), B 2 x k x n
//            (broadcast down the column), C 2 x rows x m x n
// Tiles are chosen largest-first (m*n, then k) among multiples of the MAC tile.
// Cycle model: compute = MAC-tile instructions / cores used (one per cycle);
// data = max(shim traffic / shim bandwidth, per-core DMA traffic / core DMA
// bandwidth); total = max(compute, data) + one tile's fill (double buffering
// overlaps the rest).
#include "csrc/runtime/array_model.h"

#include <c10/util/Exception.h>

#include <algorithm>
#include <cmath>
#include <sstream>

namespace torch_aie::runtime {

namespace {

constexpr int64_t kStack = 1024;

using aie_kernels::ceil_div;
using aie_kernels::round_up;

// "<what> need N bytes > capacity (largest: <buffer>, M bytes)".
std::string too_big(const std::string& what, int64_t bytes, int64_t cap,
                    const std::vector<PlanBuffer>& bufs, const std::string& memory) {
  const PlanBuffer* largest = nullptr;
  for (const auto& b : bufs)
    if (b.memory == memory && (!largest || b.bytes > largest->bytes)) largest = &b;
  std::ostringstream os;
  os << what << " need " << bytes << " bytes > " << cap << " bytes";
  if (largest) os << " (largest: " << largest->name << ", " << largest->bytes << " bytes)";
  return os.str();
}

// DMA access patterns: at most 3 dimensions on core and shim DMAs, 4 on memtile DMAs.
void check_patterns(ArrayPlan& p, const ArrayDesc& a) {
  for (const auto& ap : p.patterns) {
    const int limit = ap.dma == "memtile" ? a.max_dims_memtile : ap.dma == "shim" ? a.max_dims_shim : a.max_dims_core;
    if (ap.dims > limit) {
      p.fits = false;
      p.why_not = "access pattern '" + ap.name + "' has " + std::to_string(ap.dims) + " dims > " +
                  std::to_string(limit) + " on a " + ap.dma + " DMA";
      return;
    }
  }
}

}  // namespace

const ArrayDesc& phoenix() {
  static const ArrayDesc a{"phoenix", 4, 4, 64 << 10, 512 << 10, {4, 8, 4}, {4, 8, 8}, 128, 256,
                           1.0, 8.0, 8.0};
  return a;
}

const ArrayDesc& strix() {
  static const ArrayDesc a{"strix", 8, 4, 64 << 10, 512 << 10, {4, 8, 8}, {8, 8, 8}, 256, 512,
                           1.5, 8.0, 8.0};
  return a;
}

const ArrayDesc& array_by_name(const std::string& name) {
  if (name == "phoenix") return phoenix();
  if (name == "strix") return strix();
  TORCH_CHECK_VALUE(false, "array must be 'phoenix' or 'strix', got '", name, "'");
}

namespace {

// The per-core GEMM tile: the largest (m*n, then k) multiple of the MAC tile whose buffers
// fit. It depends only on the array and the operand width, so it is chosen once per pair.
ArrayPlan choose_gemm_tile(const ArrayDesc& a, int eb) {
  const int* mm = eb == 1 ? a.int8_mmul : a.bf16_mmul;
  ArrayPlan first_misfit;
  first_misfit.why_not = "no tile fits";
  for (int64_t m : {64, 32, 16, 8, 4}) {
    for (int64_t n : {64, 32, 16, 8}) {
      for (int64_t k : {256, 128, 64, 32, 16, 8}) {
        if (m % mm[0] || k % mm[1] || n % mm[2]) continue;
        std::vector<PlanBuffer> bufs = {
            {"core A ping-pong", 2 * m * k * eb, "core"},
            {"core B ping-pong", 2 * k * n * eb, "core"},
            {"core C accumulator", m * n * 4, "core"},
            {"core C out ping-pong", 2 * m * n * eb, "core"},
            {"core stack", kStack, "core"},
            {"memtile A", 2 * a.rows * m * k * eb, "memtile"},
            {"memtile B", 2 * k * n * eb, "memtile"},
            {"memtile C", 2 * a.rows * m * n * eb, "memtile"},
        };
        int64_t core = 0, memtile = 0;
        for (auto& b : bufs) (b.memory == "core" ? core : memtile) += b.bytes;
        if (core <= a.core_mem && memtile <= a.memtile_mem) {
          ArrayPlan p;
          p.fits = true;
          p.tile_m = m;
          p.tile_n = n;
          p.tile_k = k;
          p.buffers = std::move(bufs);
          p.core_bytes = core;
          p.memtile_bytes = memtile;
          return p;
        }
        if (first_misfit.why_not == "no tile fits")
          first_misfit.why_not =
              core > a.core_mem
                  ? too_big("core buffers of an " + std::to_string(m) + "x" + std::to_string(n) + "x" +
                                std::to_string(k) + " tile",
                            core, a.core_mem, bufs, "core")
                  : too_big("memtile buffers", memtile, a.memtile_mem, bufs, "memtile");
      }
    }
  }
  return first_misfit;
}

const ArrayPlan& gemm_tile(const ArrayDesc& a, int eb) {
  static const ArrayPlan tiles[2][2] = {{choose_gemm_tile(phoenix(), 1), choose_gemm_tile(phoenix(), 2)},
                                        {choose_gemm_tile(strix(), 1), choose_gemm_tile(strix(), 2)}};
  return tiles[a.name == "strix"][eb == 2];
}

}  // namespace

ArrayPlan plan_gemm_on_array(int64_t M, int64_t N, int64_t K, const ArrayDesc& a, int eb,
                             int groups, int passes) {
  const int macs = eb == 1 ? a.int8_macs : a.bf16_macs;
  ArrayPlan p = gemm_tile(a, eb);
  if (!p.fits) return p;
  const int64_t Kp = round_up(std::max<int64_t>(K, 1), p.tile_k);
  const int64_t tiles = ceil_div(M, p.tile_m) * ceil_div(N, p.tile_n) * groups;
  p.cores_used = static_cast<int>(std::min<int64_t>(a.cores(), tiles));
  const double tile_macs = double(p.tile_m) * p.tile_n * Kp * passes;
  p.compute_cycles = std::ceil(double(tiles) / p.cores_used) * tile_macs / macs;
  const double shim = double(groups) * passes *
                      (double(M) * Kp * eb * ceil_div(N, p.tile_n * a.rows) +
                       double(Kp) * N * eb * ceil_div(M, p.tile_m * a.cols) + double(M) * N * eb / passes);
  const double per_core = std::ceil(double(tiles) / p.cores_used) * passes *
                          (double(p.tile_m) + p.tile_n) * Kp * eb;
  p.dma_cycles = std::max(shim / (a.cols * a.shim_bytes_per_cycle), per_core / a.core_dma_bytes_per_cycle);
  const double fill = (double(p.tile_m) + p.tile_n) * p.tile_k * eb / a.core_dma_bytes_per_cycle;
  p.cycles = std::max(p.compute_cycles, p.dma_cycles) + fill;
  p.modelled_us = p.cycles / (a.clock_ghz * 1e3);
  p.utilisation = double(M) * N * K * groups * passes / (double(a.cores()) * macs) / p.cycles;
  return p;
}

ArrayPlan plan_conv_on_array(const ConvShape& s, ConvAlgorithm algorithm, const ArrayDesc& a,
                             int eb, int passes) {
  if (algorithm != ConvAlgorithm::Depthwise) {
    ArrayPlan p = plan_gemm_on_array(s.M(), s.OCg(), s.K(), a, eb, static_cast<int>(s.groups), passes);
    // A's gather: im2col_gemm reads host-packed rows (shim 2-D); gemm_1x1 strides over pixels
    // (core 2-D); direct walks (pixel, tap, channel) with the tap as an extra dimension.
    const bool direct = algorithm == ConvAlgorithm::Direct;
    p.patterns = {{"shim->memtile A", algorithm == ConvAlgorithm::Im2colGemm ? 2 : 3, "shim"},
                  {"memtile->core A", direct ? 4 : 3, "memtile"},
                  {"core A read", direct ? 3 : 2, "core"},
                  {"shim->memtile B", 2, "shim"},
                  {"memtile->core B", 3, "memtile"},
                  {"core->memtile C", 2, "core"},
                  {"memtile->shim C", 3, "memtile"}};
    check_patterns(p, a);
    return p;
  }
  // Depthwise: each core takes a 16-channel slice of whole output rows; line buffers of
  // KH input rows (one spare for double buffering), weights, fp32 accumulators, output rows.
  ArrayPlan p;
  const int64_t c = 16, win = s.Wp() * c * eb;
  p.buffers = {{"core input line buffers", (s.KH + 1) * win, "core"},
               {"core weights", s.KH * s.KW * c * eb, "core"},
               {"core accumulators", s.OW * c * 4, "core"},
               {"core output rows", 2 * s.OW * c * eb, "core"},
               {"core stack", kStack, "core"},
               {"memtile input rows", 2 * a.rows * (s.KH + 1) * win, "memtile"}};
  for (auto& b : p.buffers) (b.memory == "core" ? p.core_bytes : p.memtile_bytes) += b.bytes;
  p.patterns = {{"shim->memtile input", 3, "shim"}, {"memtile->core input", 3, "memtile"},
                {"core window read", 3, "core"}, {"core->shim output", 3, "core"}};
  check_patterns(p, a);
  if (!p.why_not.empty()) return p;
  if (p.core_bytes > a.core_mem) {
    p.why_not = too_big("depthwise core buffers (input width " + std::to_string(s.Wp()) + ")",
                        p.core_bytes, a.core_mem, p.buffers, "core");
    return p;
  }
  if (p.memtile_bytes > a.memtile_mem) {
    p.why_not = too_big("depthwise memtile buffers", p.memtile_bytes, a.memtile_mem, p.buffers, "memtile");
    return p;
  }
  p.fits = true;
  p.tile_m = s.OW;
  p.tile_n = c;
  p.tile_k = s.taps();
  const int64_t tiles = s.N * s.OH * ceil_div(s.C, c);
  p.cores_used = static_cast<int>(std::min<int64_t>(a.cores(), tiles));
  // Depthwise has no reduction across channels: the vector unit does c-wide MACs per tap
  // (modelled at a quarter of the GEMM MAC rate of the operand type: no MAC-tile reuse).
  const int macs = eb == 1 ? a.int8_macs : a.bf16_macs;
  const double per_tile = double(s.OW) * c * s.taps() * passes / (macs / 4.0);
  p.compute_cycles = std::ceil(double(tiles) / p.cores_used) * per_tile;
  const double bytes = (double(s.N) * s.C * s.H * s.W + double(s.M()) * s.C) * eb * passes;
  p.dma_cycles = bytes / (a.cols * a.shim_bytes_per_cycle);
  p.cycles = std::max(p.compute_cycles, p.dma_cycles) + win / a.core_dma_bytes_per_cycle;
  p.modelled_us = p.cycles / (a.clock_ghz * 1e3);
  p.utilisation = s.macs() * passes / (double(a.cores()) * macs) / p.cycles;
  return p;
}

}  // namespace torch_aie::runtime
