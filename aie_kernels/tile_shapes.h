// Tile shapes shared by the packers, the micro-kernels and the planner.
#pragma once
#include <cstdint>

namespace aie_kernels {

// Host micro-tile: MR output rows x NR output channels held in registers.
// NR = 16 is a multiple of the AIE MAC tile's N (4, 8; see csrc/runtime/array_model.cpp)
// and of every vector width used (1, 8, 16).
constexpr int kMR = 6;
constexpr int kNR = 16;

// Most output rows an epilogue call is given at once (the runtime's tile height).
constexpr int kMC_MAX = 128;

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
inline int64_t round_up(int64_t a, int64_t b) { return ceil_div(a, b) * b; }

}  // namespace aie_kernels
