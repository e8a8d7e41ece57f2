// The int8 ("qs8") kernel family: quantised convolution kernels with exact int32
// accumulation and the AIE's shift-round-saturate (SRS) requantisation.
//
// A separate family from the bf16 kernels (kernel_table.h), as XNNPACK keeps its qs8
// and f32 configs apart: different operand widths, packed layouts and host ISAs.
//
// Host tile vs the AIE int8 MAC tile. One aie::mmul<4,8,8,int8,int8> on AIE-ML
// multiplies a 4x8 A tile by an 8x8 B tile (AIE2P: 8x8x8). The host micro-kernels
// group the reduction in dwords of 4 bytes (one vpdpbusd lane, two vpmaddwd pairs,
// one AMX VNNI dword; two of them make the MAC tile's K = 8), and block the output
// channels by 32 (4 MAC-tile columns of N = 8 on either generation) and the output
// pixels by kQMB = 32 (8 AIE-ML or 4 AIE2P MAC-tile rows). Integer sums are exact, so the grouping never
// changes a result: every variant equals the scalar reference bit for bit.
#pragma once
#include <cstdint>

namespace aie_kernels::qs8 {

// Host variants, in increasing order of capability (a cap selects a prefix).
enum class QIsa { Scalar = 0, Avx2 = 1, AvxVnni = 2, Avx512Vnni = 3, Amx = 4 };
constexpr int kNumQIsa = 5;
const char* qisa_name(QIsa isa);  // "scalar", "avx2", "avx_vnni", "avx512_vnni", "amx_int8"

// Packed GEMM weights ("O32 I4" blocks, an OIYXI4O32 layout): per group, per block of
// kQNR output channels, [kp / 4][kQNR][4] int8, where the reduction index is
// k = tap * kc + channel (kc = channels per tap, padded to a multiple of 4 with zero
// weights) and kp = round_up(taps * kc, kQKP) (zero rows). Output channels past the
// group's count are zero columns.
constexpr int kQNR = 32;   // output channels per packed block
constexpr int kQK = 4;     // reduction bytes per dword (vpdpbusd / AMX VNNI pair)
constexpr int kQKP = 64;   // reduction padding: one AMX A-tile row of bytes
constexpr int kQMB = 32;   // most rows (output pixels) one gemm call is given

// Activations reach the kernels as raw bytes; every kernel multiplies their "u8 form":
// uint8 inputs as they are, int8 inputs with the sign bit flipped (x ^ 0x80 = x + 128,
// `a_xor` = 0x80 per byte), so that vpdpbusd / tdpbusd (u8 x s8) take both. The +128
// is undone by adding -128 * sum_k w[k][oc] (the column sum) to the bias.

// The rounding modes of the AIE's SRS, by the AIE's names.
enum class QRound { Floor = 0, PositiveInf = 1, SymmetricInf = 2, ConvEven = 3 };

// Per-call requantisation: y = SRS(acc * mult[oc], shift[oc]) [+ SRS(skip * skip_mult,
// skip_shift)] + zp, clamped to [lo, hi], stored as int8 (or uint8 if out_u8).
// `bias` already holds bias - 128 * colsum for int8 activations (wrapping int32 sum:
// the true accumulator fits int32, so the wrapped one is exact). Per-oc rounding
// constants are precomputed: half = 2^(s-1), halfm1 = half - 1, sbit = 1 (0 when s = 0).
struct QEpilogue {
  const int32_t* bias;       // [OC]
  const int64_t* mult;       // [OC]
  const int64_t* shift;      // [OC]
  const int64_t* half;       // [OC]
  const int64_t* halfm1;     // [OC]
  const int64_t* sbit;       // [OC]
  QRound rounding;
  int64_t zp, lo, hi;
  bool out_u8;
  bool has_skip;
  bool skip_u8;
  int64_t skip_mult, skip_shift;
};

// Shift-round of an int64 (|v| < 2^62) right by s in [0, 62]: the scalar definition
// every vector epilogue reproduces.
inline int64_t srs(int64_t v, int64_t s, QRound r) {
  if (s == 0) return v;
  const int64_t half = int64_t(1) << (s - 1);
  switch (r) {
    case QRound::Floor: return v >> s;
    case QRound::PositiveInf: return (v + half) >> s;
    case QRound::SymmetricInf: {
      const int64_t a = v < 0 ? -v : v;
      const int64_t q = (a + half) >> s;
      return v < 0 ? -q : q;
    }
    case QRound::ConvEven: return (v + half - 1 + ((v >> s) & 1)) >> s;
  }
  return v >> s;
}

// The whole epilogue of one output, in scalar form: the definition vector paths match.
// acc is the raw sum; skip the skip input's value (ignored without skip).
inline int64_t requant_one(int32_t acc, int64_t oc, const QEpilogue& e, int64_t skip) {
  const int32_t a = static_cast<int32_t>(static_cast<uint32_t>(acc) + static_cast<uint32_t>(e.bias[oc]));
  int64_t y = srs(int64_t(a) * e.mult[oc], e.shift[oc], e.rounding);
  if (e.has_skip) y += srs(skip * e.skip_mult, e.skip_shift, e.rounding);
  y += e.zp;
  return y < e.lo ? e.lo : y > e.hi ? e.hi : y;
}

// One gemm call: C[m][n] = sum_k A(m, k) * B[k][n] (raw sums, no bias) for m < rows,
// n < nblocks * kQNR, where A(m, t * kc + p) = a_rows[m][tap_off[t] + p] (u8 form),
// and B block j starts at b + j * b_stride (bytes). C is int32 with row stride ldc.
struct QGemmArgs {
  const uint8_t* const* a_rows;
  int64_t rows;              // <= kQMB
  const int64_t* tap_off;
  int ntaps;
  int64_t kc;                // bytes per tap, multiple of kQK
  int64_t kp;                // packed reduction length (multiple of kQKP)
  const int8_t* b;
  int64_t nblocks;
  int64_t b_stride;          // bytes between packed blocks
  int32_t* c;
  int64_t ldc;
  uint8_t* scratch;          // >= kQMB * kp bytes (AMX packs A here)
  uint32_t a_xor;            // 0x80808080 for int8 activations, 0 for uint8
};

// Depthwise over a run of output pixels: out[j][ch] = sum_t a_pix[j][tap_off[t] + ch] *
// w(t, ch) for ch < channels (raw sums), with w packed as [ceil(taps/2)][cpad][2] int16
// (tap pairs interleaved; the odd last tap pairs with a zero). out row stride ldo.
struct QDepthwiseArgs {
  const uint8_t* const* a_pix;
  int64_t npix;
  const int64_t* tap_off;
  int ntaps;
  int64_t channels;
  int64_t cpad;              // packed channel count (multiple of 32); a_pix rows are
                             // readable up to cpad bytes past every tap offset
  const int16_t* w;
  int32_t* out;
  int64_t ldo;               // >= round_up(channels, 16)
  uint8_t a_xor;             // 0x80 for int8 activations, 0 for uint8
};

// Where one tile row's outputs go: element j (channel oc0 + j) is out[j * col_stride]
// (bytes); the skip input, if any, is read from skip[j * col_stride].
struct QStoreRow {
  void* out;
  const void* skip;
  int64_t col_stride;
};

struct Qs8KernelTable {
  QIsa isa;
  void (*gemm)(const QGemmArgs& a);
  void (*depthwise)(const QDepthwiseArgs& a);
  // Requantises acc[0..n) (channels oc0 .. oc0 + n) into `dst`.
  void (*requant_row)(const int32_t* acc, int64_t n, int64_t oc0, const QEpilogue& e,
                      const QStoreRow& dst);
  // The same for `rows` rows of a tile (row i: acc + i * ldc -> dst[i]), set up once.
  void (*requant_rows)(const int32_t* acc, int64_t ldc, int64_t rows, int64_t n, int64_t oc0,
                       const QEpilogue& e, const QStoreRow* dst);
};

// The table of `isa` (which must be runnable on this host: see qs8_host_isa).
const Qs8KernelTable& qs8_table(QIsa isa);

// The best variant this host runs (ATen's cpuinfo table, AMX after the kernel grants
// tile-data permission), capped by TORCH_AIE_INT8_ISA=<qisa_name> or TORCH_AIE_ISA=
// scalar|avx2. `why_not` lists the variants above it that this host cannot run, with why.
QIsa qs8_host_isa();
bool qs8_can_run(QIsa isa, const char** why_not = nullptr);

// Packing (ISA-independent). w: [OC][Cg][KH*KW] int8 (OIHW contiguous).
// `run` consecutive taps share one reduction row of kc = round_up(run * Cg, 4) bytes:
// tap t, channel c is reduction index k = (t / run) * kc + (t % run) * Cg + c.
//   run = 1:      tap-major (direct, gemm_1x1): each tap's channels padded to 4;
//   run = KW:     im2col by kernel rows (a row of KW taps is one contiguous NHWC run);
//   run = taps:   flat im2col (one padded run per output pixel).
int64_t packed_gemm_bytes(int64_t groups, int64_t ocg, int64_t kp);
void pack_gemm_weights(const int8_t* w, int64_t groups, int64_t ocg, int64_t cg, int64_t taps,
                       int64_t run, int8_t* out, int64_t kp);
int64_t packed_dw_elems(int64_t taps, int64_t cpad);
void pack_dw_weights(const int8_t* w, int64_t channels, int64_t taps, int64_t cpad, int16_t* out);
// dst[c * dst_stride + r] = src[r * src_stride + c] for r < rows, c < cols (bytes): the
// planar -> pixel-interleaved staging of activations, 16x16 blocks in SSE2 registers.
void transpose_bytes(const uint8_t* src, int64_t src_stride, int64_t rows, int64_t cols, uint8_t* dst,
                     int64_t dst_stride);

// colsum[oc] = sum over the reduction of w[oc] (int32: |sum| <= 128 K).
void weight_colsums(const int8_t* w, int64_t oc, int64_t k, int32_t* out);

}  // namespace aie_kernels::qs8
