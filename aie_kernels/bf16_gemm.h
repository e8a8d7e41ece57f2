// The native-bf16 GEMM family: operands stored as bf16 (uint16_t bit patterns, as
// c10::BFloat16 holds them), fp32 accumulation, on the host's bf16 dot-product
// units where it has them (AVX512-BF16 vdpbf16ps, AMX-BF16 tdpbf16ps).
//
// Formats (shared by every variant, so one packed weight serves them all):
// - The reduction index is k = tap * kc + channel (tap-major, channel-minor), padded
//   with zeros to Kp = bf16_k_padded(K, depth): a multiple of the variant's k_depth
//   (the AMX tile depth, 32, for tiles; one pair, 2, for the vector variants, which
//   would otherwise multiply up to 30 padded zeros per output: a 16-channel 1x1 conv
//   did twice its work). Any multiple of a variant's depth serves it, so weights
//   padded for the host's native variant also serve the exact variant.
// - A (activations): row i of tap t is a + i * lda + tap_off[t], kc consecutive
//   bf16 values; with ntaps = 1, tap_off = {0}, kc = Kp it is a row-major [m][Kp]
//   panel (im2col-packed). Values are read in pairs (k, k + 1).
// - B (weights): VNNI-2 panels of kB16NR output channels, panel p at b + p * b_stride:
//   [Kp / 2][kB16NR][2], i.e. one 64-byte row per pair of reduction indices, the
//   layout both vdpbf16ps (one zmm) and an AMX B tile row take.
//
// Numerics per variant (each deterministic: a result depends only on its row of A,
// its column of B, and Kp; never on the tile position, the row/panel counts, or
// which operand is A; see tests/cpp/aie_kernels_test.cpp):
// - Avx512Bf16: per pair, acc = fma(a[k+1], b[k+1], acc) then fma(a[k], b[k], acc),
//   with bf16/accumulator denormals read as 0 and denormal results flushed to 0,
//   round to nearest even (Intel SDM, VDPBF16PS). bf16_gemm_reference() models it
//   bit for bit.
// - AmxBf16: TDPBF16PS on 32-deep chunks of k. Its fp32 sum of 32 products is not
//   the SDM's sequential FMA chain (measured on this host class: ~50 % of outputs
//   differ in the last bits from any sequential order), so it is held to the fp32
//   accumulation bound, and its chunking is fixed: chunks start at k = 0.
// - Avx512 (exact): fp32 FMAs in k order on exactly widened bf16 values, IEEE
//   denormals: the same chain as the fp32-panel kernels (kernel_table.h). Used where
//   the flushing variants could leave the bound (operands with tiny exponents).
#pragma once
#include <cstdint>

#include "aie_kernels/isa.h"
#include "aie_kernels/kernel_table.h"
#include "aie_kernels/tile_shapes.h"

namespace aie_kernels {

constexpr int kB16NR = 16;          // output channels per B panel (one zmm of fp32)
constexpr int64_t kB16KChunk = 32;  // reduction depth of one AMX tile row (64 bytes)
constexpr int64_t kB16KPair = 2;    // reduction depth of one vdpbf16ps lane
constexpr int kB16RowBlock = 16;    // rows of an AMX tile: A and C buffers are padded to it

inline int64_t bf16_k_padded(int64_t k, int64_t depth = kB16KChunk) { return round_up(k, depth); }

// Where a block's rows live: row i at table[i] (nullptr: not there), or, with no table,
// at base + i * stride bytes (evenly spaced rows, e.g. consecutive pixels of a
// channels-last output, which need no per-row table); neither: no rows at all.
template <class P>
struct Bf16Rows {
  P const* table = nullptr;
  P base = nullptr;
  int64_t stride = 0;
  P at(int64_t i) const { return table ? table[i] : base ? base + i * stride : nullptr; }
  explicit operator bool() const { return table || base; }
};

// Where a gemm_out call writes C's rows instead of C: the conv's output with the
// epilogue fused into the kernel (no round trip through C). Row i < rows goes to
// rows.at(i) (skipped where nullptr, e.g. a row-padding pixel) as its first `cols`
// consecutive channels (0: all kB16NR * npanels; fewer: a partial last panel, whose
// other channels, bias and residual are not touched), each element finished exactly as
// KernelTable::epilogue finishes it: + bias (per column, or per row), + the residual at
// res_rows.at(i), the activation, rounded once to bf16 if `bf16`.
struct Bf16Out {
  Bf16Rows<char*> rows;
  Bf16Rows<const char*> res_rows;  // none: no residual
  bool res_bf16;
  const float* bias;  // nullptr: none
  Activation act;
  bool bf16;
  int64_t cols = 0;
  // bias[i] for every column of row i (channel rows, where a row is an output channel
  // and its columns are pixels: KernelTable::epilogue_rows), not bias[column].
  bool bias_per_row = false;
};

struct Bf16Gemm {
  Isa isa;
  int64_t k_depth;  // kc (and Kp) must be a multiple of it
  // C[i][j] (+)= sum_t sum_{q<kc} A(i, t, q) * B[t * kc + q][j] for i < rows and
  // j < kB16NR * npanels. kc must be a multiple of k_depth. A must have
  // round_up(rows, kB16RowBlock) readable rows and C as many writable rows (the
  // rows past `rows` receive unspecified values).
  void (*gemm)(const uint16_t* a, int64_t lda, const int64_t* tap_off, int ntaps, int64_t kc,
               int64_t rows, const uint16_t* b, int64_t b_stride, int64_t npanels, float* c,
               int64_t ldc, bool accumulate);
  // The same GEMM writing `out` instead of C (C is read only if `accumulate`): the
  // same bits as gemm then the epilogue. nullptr for variants without it.
  void (*gemm_out)(const uint16_t* a, int64_t lda, const int64_t* tap_off, int ntaps, int64_t kc,
                   int64_t rows, const uint16_t* b, int64_t b_stride, int64_t npanels, const float* c,
                   int64_t ldc, bool accumulate, const Bf16Out& out) = nullptr;
};

// The bf16 GEMM of `isa`: AmxBf16 -> tiles, Avx512Bf16 -> vdpbf16ps, Avx512 -> the
// exact fp32-FMA form; nullptr for ISAs without AVX-512 (they keep the fp32 panels).
const Bf16Gemm* bf16_gemm(Isa isa);

// Scalar models for the tests: Avx512Bf16 (vdpbf16ps, bit-exact) and Avx512 (the
// exact form); nullptr for AmxBf16, whose summation order is not published.
const Bf16Gemm* bf16_gemm_reference(Isa isa);

// Whether the flushing variants keep the bound for operands whose smallest biased
// exponent fields (KernelTable::min_exponent: 0 for bf16 denormals) are these: true
// when every product of non-zero operands is at least 2^-100. Then their denormal
// handling (inputs and partial sums under 2^-126 read as 0) costs at most
// Kp 2^-126, under the fp32 accumulation bound 2 (K + 1) 2^-24 mag >= (K + 1) 2^-123.
inline bool bf16_products_normal(int min_exp_a, int min_exp_b) {
  return min_exp_a + min_exp_b - 254 >= -100;
}

// Packs B: row n of `w` holds the K reduction values (bf16 bits) of output channel n;
// out = ceil(n_count / kB16NR) panels of kp / 2 x kB16NR x 2 (kp even, >= k), zero
// past k and past n_count.
void pack_b_vnni(const uint16_t* w, int64_t n_count, int64_t k, int64_t kp, uint16_t* out);

// Packs A rows im2col-style: out[i][p] = A(i, p) for p < K (= ntaps * channels, p =
// t * channels + ch, read at rows[i][tap_off[t] + ch]), zero for p in [K, kp) and
// for rows i in [nrows, out_rows).
void pack_a_rows_bf16(const uint16_t* const* rows, int nrows, int out_rows, const int64_t* tap_off,
                      int ntaps, int64_t channels, int64_t kp, uint16_t* out);

// Rows of at most this many values (one zmm of bf16) are packed by masked loads and one
// store per row where the ISA has AVX-512.
constexpr int kShortRowValues = 32;

// pack_a_rows_bf16 with the packer of `isa` (the tests run each the host executes):
// the same output from every ISA.
void pack_a_rows_bf16_on(Isa isa, const uint16_t* const* rows, int nrows, int out_rows, const int64_t* tap_off,
                         int ntaps, int64_t channels, int64_t kp, uint16_t* out);

}  // namespace aie_kernels
