// The bf16 GEMM on AVX512-BF16: vdpbf16ps, one zmm = 16 output channels x one pair
// of reduction indices (flags set per file in CMakeLists.txt). Register block: 8 rows
// x 2 panels = 16 accumulators; each pair of A values is one 32-bit broadcast.
// gemm_out finishes the accumulators in registers and stores the conv's output
// (bias, residual, activation, bf16 rounding: the epilogue's own arithmetic, from
// activation_impl.h), saving C's store and reload; its output stage is compiled per
// activation, residual kind and output type (Stage), and converts to bf16 with
// vcvtne2ps2bf16 wherever that gives the emulator's rounding.
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <initializer_list>
#include <type_traits>
#include <utility>
#include <vector>

#include "aie_kernels/bf16.h"
#include "aie_kernels/bf16_gemm.h"
#include "aie_kernels/static_for.h"

namespace aie_kernels {
namespace bf16_dp {
#include "aie_kernels/vec.h"
using V = VecAvx512;
#include "aie_kernels/activation_impl.h"
}  // namespace bf16_dp

namespace {

using bf16_dp::V;
constexpr int kMRb = 8;
// Reduction depth x panels up to which for_blocks runs rows outside: B (depth x 16
// channels x 2 bytes per panel) at most 16 KiB, half of L1.
constexpr int64_t kThinDepthPanels = 512;

inline __m512bh pair_broadcast(const uint16_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return reinterpret_cast<__m512bh>(_mm512_set1_epi32(v));
}

// The output stage of one gemm_out call, its choices fixed at compile time: at thin K
// (a 16-channel 1x1 conv) the stage is as long as the dot products, and a run-time
// branch per choice and vector doubled it. Per element, KernelTable::epilogue's steps
// (kernels_impl.h epilogue_contiguous) in its order: + bias, + residual, activation,
// one rounding to bf16. A missing bias is a bias of -0 (x + -0 == x, bit for bit); the
// caller loads each vector's bias (a row's columns, or one row's value in every lane).
// Also fixed: whether the accumulators start from C or from 0. The run-time form (a
// masked load, from zeros where not accumulating) cost a block 20-25 cycles on Zen 4,
// a tenth of a 24-channel 1x1 conv's time.
enum class Res { None, F32, Bf16 };

// The first n (clamped to [0, 16]) lanes.
inline __mmask16 lane_mask(int64_t n) {
  return n >= kB16NR ? __mmask16(0xFFFF) : n <= 0 ? __mmask16(0) : static_cast<__mmask16>((1u << n) - 1);
}

template <Activation A, Res R, bool Bf16Out, bool Accumulate>
struct Stage {
  static constexpr bool kBf16 = Bf16Out;
  static constexpr bool kAccumulate = Accumulate;
  static V finish(V v, V bias, const char* res, int64_t col) {
    v = V::add(v, bias);
    if constexpr (R == Res::F32) v = V::add(v, V::load(reinterpret_cast<const float*>(res) + col));
    if constexpr (R == Res::Bf16) v = V::add(v, V::load_bits(reinterpret_cast<const uint16_t*>(res) + col));
    return bf16_dp::activate<A>(v);
  }
  // finish for a partial last panel: lanes outside `m` read no residual.
  static V finish_masked(V v, V bias, const char* res, int64_t col, __mmask16 m) {
    v = V::add(v, bias);
    if constexpr (R == Res::F32) v = V::add(v, V{_mm512_maskz_loadu_ps(m, reinterpret_cast<const float*>(res) + col)});
    if constexpr (R == Res::Bf16) {
      const __m256i b = _mm256_maskz_loadu_epi16(m, reinterpret_cast<const uint16_t*>(res) + col);
      v = V::add(v, V{_mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(b), 16))});
    }
    return bf16_dp::activate<A>(v);
  }
  // store for a partial last panel: the first `cols` of the row's NP * kB16NR lanes.
  template <int NP>
  static void store_masked(const V (&v)[NP], char* dst, int64_t col0, int64_t cols) {
    if constexpr (Bf16Out && NP == 2) {  // one store per row, as `store` does
      if (!convert_differs<NP>(v)) {
        const __mmask32 m = static_cast<__mmask32>((uint64_t(1) << cols) - 1);
        _mm512_mask_storeu_epi16(reinterpret_cast<uint16_t*>(dst) + col0, m,
                                 reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(v[1].v, v[0].v)));
        return;
      }
    }
    for (int j = 0; j < NP; ++j) {
      const __mmask16 m = lane_mask(cols - j * kB16NR);
      if constexpr (!Bf16Out) {
        _mm512_mask_storeu_ps(reinterpret_cast<float*>(dst) + col0 + j * kB16NR, m, v[j].v);
      } else {
        const V one[1] = {v[j]};
        const __m256i h = convert_differs<1>(one) ? round_bits_of(v[j]) : reinterpret_cast<__m256i>(_mm512_cvtneps_pbh(v[j].v));
        _mm256_mask_storeu_epi16(reinterpret_cast<uint16_t*>(dst) + col0 + j * kB16NR, m, h);
      }
    }
  }
  static __m256i round_bits_of(V v) {
    alignas(32) uint16_t bits[kB16NR];
    V::round_bf16(v).store_bits(bits);
    return _mm256_load_si256(reinterpret_cast<const __m256i*>(bits));
  }
  // A row's NP vectors at dst + col0 (contiguous channels).
  template <int NP>
  static void store(const V (&v)[NP], char* dst, int64_t col0) {
    if constexpr (!Bf16Out) {
      for (int j = 0; j < NP; ++j) v[j].store(reinterpret_cast<float*>(dst) + col0 + j * kB16NR);
    } else {
      uint16_t* d = reinterpret_cast<uint16_t*>(dst) + col0;
      if (convert_differs<NP>(v)) {
        for (int j = 0; j < NP; ++j) V::round_bf16(v[j]).store_bits(d + j * kB16NR);
      } else if constexpr (NP == 2) {
        _mm512_storeu_si512(d, reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(v[1].v, v[0].v)));
      } else {
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(d), reinterpret_cast<__m256i>(_mm512_cvtneps_pbh(v[0].v)));
      }
    }
  }
  // Whether any lane is one where the hardware's bf16 conversion (vcvtne[2]ps2bf16)
  // may differ from round_bf16 (vec.h): NaNs (the hardware keeps their payload, the
  // emulator writes one quiet NaN) and denormals (the hardware flushes them).
  // Elsewhere both are the same round to nearest even.
  template <int NP>
  static bool convert_differs(const V (&v)[NP]) {
    __mmask16 m = 0;
    for (int j = 0; j < NP; ++j) m |= _mm512_fpclass_ps_mask(v[j].v, 0x01 | 0x20 | 0x80);
    return m != 0;
  }
};

// f(integral_constant<int, i>) for each row i < MR, unrolled.
template <int MR, class F>
[[gnu::always_inline]] inline void for_rows(F&& f) {
  static_for<MR>(f);
}

// The dot products of one block (MR rows x NP panels) into acc. MR is kMRb, or 1 for
// a lone last row (7x7 maps: 49 rows), which a full block computed 8 times over.
template <int MR, int NP>
[[gnu::always_inline]] inline void dot_block(__m512 (&acc)[MR][NP], const uint16_t* a, int64_t lda, const int64_t* tap_off, int ntaps,
                      int64_t kc, const uint16_t* b, int64_t b_stride) {
  const uint16_t* bp = b;
  for (int t = 0; t < ntaps; ++t) {
    const uint16_t* ar = a + tap_off[t];
    for (int64_t q = 0; q < kc; q += 2, bp += 2 * kB16NR) {
      __m512bh bv[NP];
      for (int j = 0; j < NP; ++j)
        bv[j] = reinterpret_cast<__m512bh>(_mm512_loadu_si512(bp + j * b_stride));
      for (int i = 0; i < MR; ++i) {
        const __m512bh av = pair_broadcast(ar + i * lda + q);
        for (int j = 0; j < NP; ++j) acc[i][j] = _mm512_dpbf16_ps(acc[i][j], av, bv[j]);
      }
    }
  }
}

// acc = C's rows (Accumulate) or 0, chosen at compile time: a run-time branch made the
// compiler build acc in memory, and the run-time form that kept it in registers (a
// masked load, from zeros where not accumulating) cost a block 20-25 cycles on Zen 4,
// a tenth of a 24-channel 1x1 conv's time.
template <bool Accumulate, int MR, int NP>
[[gnu::always_inline]] inline void init_acc(__m512 (&acc)[MR][NP], const float* c_in, int64_t ldc) {
  for_rows<MR>([&](auto i) {
    for (int j = 0; j < NP; ++j)
      acc[i][j] = Accumulate ? _mm512_loadu_ps(c_in + i * ldc + j * kB16NR) : _mm512_setzero_ps();
  });
}

// C rows of one block: C (+)= A B.
template <int MR, int NP, bool Accumulate>
void c_block(const uint16_t* a, int64_t lda, const int64_t* tap_off, int ntaps, int64_t kc, const uint16_t* b,
             int64_t b_stride, float* c, int64_t ldc) {
  __m512 acc[MR][NP];
  init_acc<Accumulate>(acc, c, ldc);
  dot_block(acc, a, lda, tap_off, ntaps, kc, b, b_stride);
  for_rows<MR>([&](auto i) {
    for (int j = 0; j < NP; ++j) _mm512_storeu_ps(c + i * ldc + j * kB16NR, acc[i][j]);
  });
}

// Output rows of one block: out->rows.at(row0 + i) for its `live` rows (<= MR);
// the next block (row0 + kMRb) has `ahead` rows. Tail: the block's panels end past the
// output's channels, of which it writes the first `cols` (masked loads and stores).
template <int MR, int NP, class S, bool Tail>
void out_block(const uint16_t* a, int64_t lda, const int64_t* tap_off, int ntaps, int64_t kc, const uint16_t* b,
               int64_t b_stride, const float* c_in, int64_t ldc, const Bf16Out& out,
               const float* bias, int64_t row0, int64_t live, int64_t ahead, int64_t col0, int64_t cols) {
  __m512 acc[MR][NP];
  // The output lines this block's successor writes, fetched for writing now (the
  // first block's own too): without it each store of a large output waits for its
  // line's read, and a batch-8 16->96 1x1 conv ran at half speed.
  const int64_t col_bytes = col0 * (S::kBf16 ? 2 : 4);
  for_rows<kMRb>([&](auto i) {
    if (char* d = i < ahead ? out.rows.at(row0 + kMRb + i) : nullptr) __builtin_prefetch(d + col_bytes, 1, 3);
    if (char* d = row0 == 0 && i < live ? out.rows.at(i) : nullptr) __builtin_prefetch(d + col_bytes, 1, 3);
  });
  init_acc<S::kAccumulate>(acc, c_in, ldc);
  dot_block(acc, a, lda, tap_off, ntaps, kc, b, b_stride);
  // Rows by compile-time index, so that acc stays in registers (as in load_acc). The
  // bias kind is chosen once per block: a choice per row and vector cost a thin-K 1x1
  // conv (8,24,56,56)->144 a seventh of its time (1 thread, Zen 4).
  auto finish_rows = [&](auto row_bias) __attribute__((always_inline)) {
    for_rows<MR>([&](auto i) {
      char* dst = i < live ? out.rows.at(row0 + i) : nullptr;
      if (!dst) return;
      const char* res = out.res_rows.at(row0 + i);
      V v[NP];
      for (int j = 0; j < NP; ++j) {
        const int64_t col = col0 + j * kB16NR;
        if constexpr (Tail) {
          const __mmask16 m = lane_mask(cols - j * kB16NR);
          const V bj = row_bias ? V::broadcast(bias[row0 + i]) : V{_mm512_maskz_loadu_ps(m, bias + col)};
          v[j] = S::finish_masked(V{acc[i][j]}, bj, res, col, m);
        } else {
          const V bj = row_bias ? V::broadcast(bias[row0 + i]) : V::load(bias + col);
          v[j] = S::finish(V{acc[i][j]}, bj, res, col);
        }
      }
      if constexpr (Tail)
        S::template store_masked<NP>(v, dst, col0, cols);
      else
        S::template store<NP>(v, dst, col0);
    });
  };
  if (out.bias_per_row)
    finish_rows(std::true_type{});
  else
    finish_rows(std::false_type{});
}

// f(integral_constant<int, MR>{}) with the register block for a block of `live` rows:
// 1 for a lone row, else kMRb (the rows past `live` computed and dropped).
template <class F>
[[gnu::always_inline]] inline void with_rows(int64_t live, F&& f) {
  if (live == 1) return f(std::integral_constant<int, 1>{});
  f(std::integral_constant<int, kMRb>{});
}

// Panel pairs outside, row blocks inside: the pair's B stays cached while A streams.
// At thin K (all panels' B a few KiB) rows outside instead: each output row is
// finished before the next, so its lines are written whole while in L1.
template <class Block>
void for_blocks(int64_t rows, int64_t npanels, int64_t depth, const Block& blk) {
  if (depth * npanels <= kThinDepthPanels) {
    for (int64_t i = 0; i < rows; i += kMRb)
      for (int64_t p = 0; p < npanels; p += 2) blk(p, i, std::min<int64_t>(kMRb, rows - i), p + 1 < npanels);
    return;
  }
  for (int64_t p = 0; p < npanels; p += 2)
    for (int64_t i = 0; i < rows; i += kMRb) blk(p, i, std::min<int64_t>(kMRb, rows - i), p + 1 < npanels);
}

void gemm(const uint16_t* a, int64_t lda, const int64_t* tap_off, int ntaps, int64_t kc,
          int64_t rows, const uint16_t* b, int64_t b_stride, int64_t npanels, float* c,
          int64_t ldc, bool accumulate) {
  for_blocks(rows, npanels, kc * ntaps, [&](int64_t p, int64_t i, int64_t live, bool pair) {
    const uint16_t* ai = a + i * lda;
    const uint16_t* bp = b + p * b_stride;
    float* ci = c + i * ldc + p * kB16NR;
    with_rows(live, [&](auto mr) {
      constexpr int MR = decltype(mr)::value;
      const auto block = pair ? (accumulate ? &c_block<MR, 2, true> : &c_block<MR, 2, false>)
                              : (accumulate ? &c_block<MR, 1, true> : &c_block<MR, 1, false>);
      block(ai, lda, tap_off, ntaps, kc, bp, b_stride, ci, ldc);
    });
  });
}

template <class S>
void gemm_out_with(const uint16_t* a, int64_t lda, const int64_t* tap_off, int ntaps, int64_t kc, int64_t rows,
                   const uint16_t* b, int64_t b_stride, int64_t npanels, const float* c, int64_t ldc,
                   const Bf16Out& out, const float* bias) {
  for_blocks(rows, npanels, kc * ntaps, [&](int64_t p, int64_t i, int64_t live, bool pair) {
    const uint16_t* ai = a + i * lda;
    const uint16_t* bp = b + p * b_stride;
    const float* ci = c ? c + i * ldc + p * kB16NR : nullptr;
    const int64_t ahead = std::min<int64_t>(kMRb, std::max<int64_t>(0, rows - i - kMRb));
    const int64_t col0 = p * kB16NR;
    const int64_t cols = out.cols > 0 ? std::max<int64_t>(0, out.cols - col0) : (pair ? 2 : 1) * kB16NR;
    const bool tail = cols < (pair ? 2 : 1) * kB16NR;
    with_rows(live, [&](auto mr) {
      constexpr int MR = decltype(mr)::value;
      const auto block = pair ? (tail ? &out_block<MR, 2, S, true> : &out_block<MR, 2, S, false>)
                              : (tail ? &out_block<MR, 1, S, true> : &out_block<MR, 1, S, false>);
      block(ai, lda, tap_off, ntaps, kc, bp, b_stride, ci, ldc, out, bias, i, live, ahead, col0, cols);
    });
  });
}

// gemm_out_with's instantiations, indexed [activation][residual kind][bf16 output]
// [accumulate].
using GemmOutFn = void (*)(const uint16_t*, int64_t, const int64_t*, int, int64_t, int64_t, const uint16_t*, int64_t,
                           int64_t, const float*, int64_t, const Bf16Out&, const float*);
constexpr int kStages = kNumActivations * 3 * 2 * 2;

template <int I>
constexpr GemmOutFn stage_entry() {
  return &gemm_out_with<Stage<static_cast<Activation>(I / 12), static_cast<Res>(I / 4 % 3), I / 2 % 2 == 1,
                              I % 2 == 1>>;
}

template <size_t... I>
constexpr std::array<GemmOutFn, sizeof...(I)> stage_table(std::index_sequence<I...>) {
  return {stage_entry<static_cast<int>(I)>()...};
}

constexpr std::array<GemmOutFn, kStages> kGemmOut = stage_table(std::make_index_sequence<kStages>());

void gemm_out(const uint16_t* a, int64_t lda, const int64_t* tap_off, int ntaps, int64_t kc,
              int64_t rows, const uint16_t* b, int64_t b_stride, int64_t npanels, const float* c,
              int64_t ldc, bool accumulate, const Bf16Out& out) {
  const Res r = !out.res_rows ? Res::None : out.res_bf16 ? Res::Bf16 : Res::F32;
  const float* bias = out.bias;
  if (!bias) {  // -0 for every column, or every row
    static thread_local std::vector<float> neg_zero;
    neg_zero.assign(std::max(npanels * kB16NR, round_up(rows, kMRb)), -0.f);
    bias = neg_zero.data();
  }
  const int i = static_cast<int>(out.act) * 12 + static_cast<int>(r) * 4 + (out.bf16 ? 2 : 0) + (accumulate ? 1 : 0);
  kGemmOut[i](a, lda, tap_off, ntaps, kc, rows, b, b_stride, npanels, c, ldc, out, bias);
}

}  // namespace

const Bf16Gemm* bf16_gemm_avx512bf16() {
  static const Bf16Gemm k{Isa::Avx512Bf16, kB16KPair, &gemm, &gemm_out};
  return &k;
}

}  // namespace aie_kernels
