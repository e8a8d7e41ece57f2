// Array descriptions, tiling and the cycle model.
//
// Figures: AM020 / mlir-aie target model (docs/ARCHITECTURE.md, "Array model
// contract"). Clocks are derived from the marketed int8 TOPS (Phoenix: 10 TOPS over 20 cores x 256 MAC x 2 = ~1.0 GHz;
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

#include "aie_kernels/tile_shapes.h"

#include <c10/util/Exception.h>

#include <algorithm>
#include <cmath>
#include <optional>
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

namespace {

// Depthwise: each core takes a 16-channel slice of a tile of `tw` output pixels of one
// output row and walks down the rows (a vertical strip), keeping KH input rows of the
// tile's window (tw pixels plus the kernel's halo) in line buffers, one spare for
// double buffering; weights, fp32 accumulators and output rows beside them. The tile is
// the whole row when it fits, else the widest multiple of 16 pixels that does (the
// halo columns are then fetched twice, by both neighbouring strips). The memtile stages
// whole input rows for the cores of its column when they fit, else the tiles' windows.
struct DepthwiseTile {
  int64_t tw, win;  // output pixels per tile, input pixels per tile window
};

constexpr int64_t kDwChannels = 16;

DepthwiseTile depthwise_tile(const ConvShape& s, int64_t tw) {
  if (tw >= s.OW) return {s.OW, s.Wp()};  // the whole padded row
  return {tw, (tw - 1) * s.stride_w + s.dil_w * (s.KW - 1) + 1};
}

std::vector<PlanBuffer> depthwise_buffers(const ConvShape& s, const DepthwiseTile& t, const ArrayDesc& a,
                                          int eb, bool memtile_whole_rows) {
  const int64_t c = kDwChannels, win = t.win * c * eb, row = s.Wp() * c * eb;
  return {{"core input line buffers", (s.KH + 1) * win, "core"},
          {"core weights", s.KH * s.KW * c * eb, "core"},
          {"core accumulators", t.tw * c * 4, "core"},
          {"core output rows", 2 * t.tw * c * eb, "core"},
          {"core stack", kStack, "core"},
          {memtile_whole_rows ? "memtile input rows" : "memtile input windows",
           2 * a.rows * (s.KH + 1) * (memtile_whole_rows ? row : win), "memtile"}};
}

int64_t bytes_in(const std::vector<PlanBuffer>& bufs, const std::string& memory) {
  int64_t n = 0;
  for (const auto& b : bufs) n += b.memory == memory ? b.bytes : 0;
  return n;
}

ArrayPlan plan_depthwise_on_array(const ConvShape& s, const ArrayDesc& a, int eb, int passes) {
  ArrayPlan p;
  const int64_t c = kDwChannels;
  // Widest tile first: the whole row, then multiples of 16 pixels down to 16.
  std::vector<int64_t> widths = {std::max<int64_t>(s.OW, 1)};
  for (int64_t tw = (s.OW - 1) / 16 * 16; tw >= 16; tw -= 16) widths.push_back(tw);
  std::optional<DepthwiseTile> tile;
  for (int64_t tw : widths) {
    const DepthwiseTile t = depthwise_tile(s, tw);
    auto bufs = depthwise_buffers(s, t, a, eb, true);
    if (bytes_in(bufs, "core") > a.core_mem) {
      if (!tile && tw == widths.back()) {  // even the narrowest tile does not fit: say so
        p.buffers = std::move(bufs);
        p.core_bytes = bytes_in(p.buffers, "core");
        p.why_not = too_big("depthwise core buffers (input width " + std::to_string(s.Wp()) + ", tile window " +
                                std::to_string(t.win) + ")",
                            p.core_bytes, a.core_mem, p.buffers, "core");
        return p;
      }
      continue;
    }
    if (bytes_in(bufs, "memtile") > a.memtile_mem) bufs = depthwise_buffers(s, t, a, eb, false);
    tile = t;
    p.buffers = std::move(bufs);
    break;
  }
  p.core_bytes = bytes_in(p.buffers, "core");
  p.memtile_bytes = bytes_in(p.buffers, "memtile");
  const bool whole_rows = p.buffers.back().name == "memtile input rows";
  // A tile's window is (row, pixel, channel) in every memory: 3 dims on each DMA.
  p.patterns = {{"shim->memtile input", 3, "shim"}, {"memtile->core input", 3, "memtile"},
                {"core window read", 3, "core"}, {"core->shim output", 3, "core"}};
  check_patterns(p, a);
  if (!p.why_not.empty()) return p;
  if (p.memtile_bytes > a.memtile_mem) {
    p.why_not = too_big("depthwise memtile buffers", p.memtile_bytes, a.memtile_mem, p.buffers, "memtile");
    return p;
  }
  p.fits = true;
  p.tile_m = tile->tw;
  p.tile_n = c;
  p.tile_k = s.taps();
  const int64_t col_tiles = ceil_div(s.OW, tile->tw);
  const int64_t tiles = s.N * s.OH * ceil_div(s.C, c) * col_tiles;
  p.cores_used = static_cast<int>(std::min<int64_t>(a.cores(), tiles));
  // Depthwise has no reduction across channels: the vector unit does c-wide MACs per tap
  // (modelled at a quarter of the GEMM MAC rate of the operand type: no MAC-tile reuse).
  const int macs = eb == 1 ? a.int8_macs : a.bf16_macs;
  const double per_tile = double(tile->tw) * c * s.taps() * passes / (macs / 4.0);
  p.compute_cycles = std::ceil(double(tiles) / p.cores_used) * per_tile;
  // Input read once from DDR when the memtile holds whole rows, else every window's halo
  // again; each core reads its windows' new rows (stride_h per output row) and writes its tile.
  const double halo = whole_rows ? 1.0 : double(tile->win * col_tiles) / double(s.Wp());
  const double bytes = (double(s.N) * s.C * s.H * s.W * halo + double(s.M()) * s.C) * eb * passes;
  const double per_core = std::ceil(double(tiles) / p.cores_used) * passes *
                          (double(s.stride_h) * tile->win + tile->tw) * c * eb;
  p.dma_cycles = std::max(bytes / (a.cols * a.shim_bytes_per_cycle), per_core / a.core_dma_bytes_per_cycle);
  p.cycles = std::max(p.compute_cycles, p.dma_cycles) + tile->win * c * eb / a.core_dma_bytes_per_cycle;
  p.modelled_us = p.cycles / (a.clock_ghz * 1e3);
  p.utilisation = s.macs() * passes / (double(a.cores()) * macs) / p.cycles;
  return p;
}

}  // namespace

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
  return plan_depthwise_on_array(s, a, eb, passes);
}

}  // namespace torch_aie::runtime
