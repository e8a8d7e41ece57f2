// The AMX tile configuration both AMX kernel families (bf16_gemm_amx.cpp,
// int8/qs8_amx.cpp) use: palette 1, tiles 0-7 each 16 rows x 64 bytes. Include only
// from files compiled with the AMX flags (the _amx suffix).
#pragma once
#include <immintrin.h>

#include <cstdint>

namespace aie_kernels {

struct alignas(64) AmxTileConfig {
  uint8_t palette = 1, start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};

// Loaded on every kernel call: other code on this thread (oneDNN's AMX kernels) may
// have loaded its own configuration in between.
inline void load_full_tile_config() {
  AmxTileConfig cfg;
  for (int t = 0; t < 8; ++t) {
    cfg.colsb[t] = 64;
    cfg.rows[t] = 16;
  }
  _tile_loadconfig(&cfg);
}

}  // namespace aie_kernels
