// The per-core kernels on fp32 panels, one table per host ISA. Every variant
// computes every output element with the same sequence of fp32 operations
// (sequential over the reduction, in tap-major, channel-minor order), so results
// are identical across these ISAs and thread counts. Hosts with native bf16 dot
// products run the GEMM family through bf16_gemm.h instead; their table here is
// the AVX-512 one.
#pragma once
#include <cstdint>

#include "aie_kernels/isa.h"
#include "aie_kernels/tile_shapes.h"

namespace aie_kernels {

// How an operand in fp32 storage is brought to the NPU's bf16 inputs.
enum class Rounding {
  Bf16,        // round to nearest even bf16 (also the high part of the bf16x3 split)
  Bf16Finite,  // as Bf16, but inf/NaN become 0: the high part where it meets a low part,
               // so that bf16x3 propagates inf/NaN only through hi*hi, as fp32 would
  Bf16Lo,      // the low part of the split: bf16(x - bf16(x)), 0 where that is not finite
  None,        // already bf16 values (a bf16 tensor): copy
};

// The activation of the output stage, applied to v = C + bias (+ residual), before the
// bf16 rounding. Every ISA computes the same value per element (the same IEEE
// operations in the same order):
//   Relu       max(0, v)                 (NaN stays NaN)
//   Relu6      min(6, max(0, v))         (nn.ReLU6, hardtanh(0, 6))
//   Hardswish  v * min(6, max(0, v + 3)) / 6, as ATen's CPU kernel orders it
//   Silu       v / (1 + exp(-v)), exp by range reduction and a degree-6 polynomial
//              (within 2 ulp of fp32 exp; exp(-v) is clamped to [2^-126, inf))
//   Gelu       0.5 v (1 + erf(v / sqrt 2)) (nn.GELU(), the erf form), erf by a rational
//              fit (activation_impl.h): absolute error under 4e-7, as ATen's vectorised
//              erf; so relative error grows in the negative tail, where 1 + erf cancels
enum class Activation : int32_t { None = 0, Relu = 1, Relu6 = 2, Hardswish = 3, Silu = 4, Gelu = 5 };
constexpr int kNumActivations = 6;

// A tensor added to C + bias before the activation (a residual connection), laid out
// like the output: `data` is the element of the output's first element, and every
// other element sits at the output element's offset. Null data: none.
struct Residual {
  const void* data = nullptr;
  bool bf16 = false;  // c10::BFloat16 bits, else fp32
};

// A run of consecutive output pixels whose input addresses are consecutive too:
// panel columns [j0, j0 + len) read src[k_off[k] + base + (0 .. len)].
struct PixelRun {
  int32_t j0, len;
  int64_t base;
};

// Where depthwise_bf16_rows writes its outputs: channels-last pixels pix_stride
// elements apart, finished as `epilogue` finishes them (+ bias[ch], + the residual at
// the output element's offset, the activation, one rounding to bf16 if `bf16`).
struct DepthwiseOut {
  void* data;
  int64_t pix_stride, channels;
  const float* bias;  // null: none
  Activation act;
  Residual res;
  bool bf16;
};

// The part of a depthwise_bf16_rows chunk's windows inside the image: window pixels
// [first, last) of each kernel row (of the (kChunkPixels - 1) * stride + kw_count pixels
// a chunk's kernel row spans) in kernel rows [row_first, row_last). The kernel takes
// zeros, the padding's values, for the rest and reads no memory there: a border chunk
// needs no zero-padded copy of its windows, and gets the same bits as from one.
struct WindowClip {
  int first, last, row_first, row_last;
};

struct KernelTable {
  Isa isa;

  // C[kMR][kNR] (+)= sum_{p<k} A[p][kMR] * B[p][kNR]; A, B packed panels.
  void (*gemm_packed)(int64_t k, const float* a, const float* b, float* c, int64_t ldc,
                      bool accumulate);

  // Direct (im2col-free) form: A row i, tap t, channel p is rows[i][tap_off[t] + p].
  // C[kMR][kNR] (+)= sum_t sum_{p<kc} A(i,t,p) * B[t*kc + p][kNR].
  void (*gemm_direct)(const float* const* rows, const int64_t* tap_off, int ntaps, int64_t kc,
                      const float* b, float* c, int64_t ldc, bool accumulate);

  // Depthwise: out[j][ch] (+)= sum_t pix[j][tap_off[t] + ch] * w[t][ch], j < npix, ch < channels.
  void (*depthwise)(const float* const* pix, int npix, const int64_t* tap_off, int ntaps,
                    int64_t channels, const float* w, float* out, int64_t ld_out, bool accumulate);

  // Output stage: out = act((C + bias) + residual), rounded once to bf16 if `bf16`
  // (stored as c10::BFloat16 bits) or kept fp32. Row i, column j goes to
  // out[i * row_stride + j * col_stride] (elements).
  void (*epilogue)(const float* c, int64_t ldc, int64_t rows, int64_t cols, const float* bias,
                   Activation act, Residual res, void* out, bool bf16, int64_t row_stride,
                   int64_t col_stride);

  // dst[i] = rounding(src[i]).
  void (*round_f32)(const float* src, float* dst, int64_t n, Rounding mode);

  // Depthwise over one planar output row: out[j] (+)= sum_t src[tap_off[t] + j] * w[t * w_stride]
  // for j < n, taps in order (the same FMA chain per element as `depthwise`).
  void (*depthwise_row)(const float* src, const int64_t* tap_off, int ntaps, const float* w,
                        int64_t w_stride, float* out, int64_t n, bool accumulate);

  // Output stage of a channel-rows tile (planar outputs): row i holds one output
  // channel's pixels; out[i * ld_out + j] = act((C[i][j] + bias[i]) + residual),
  // rounded once to bf16 if `bf16`. Same per-element arithmetic as `epilogue`.
  void (*epilogue_rows)(const float* c, int64_t ldc, int64_t rows, int64_t cols, const float* bias,
                        Activation act, Residual res, void* out, bool bf16, int64_t ld_out);

  // dst[i] = the bf16 bits of rounding(src[i]) (the native-bf16 kernels' operand
  // form, bf16_gemm.h); the same values round_f32 gives, stored in half the bytes.
  void (*round_bits)(const float* src, uint16_t* dst, int64_t n, Rounding mode);

  // dst[w * C + c] = bits of mode(src[w * C + c] * scale[c]) for w < W, c < C: pixel rows
  // scaled per channel (a squeeze-excite gate) by one IEEE multiply, as ATen's mul
  // computes x * s, then rounded as round_bits rounds.
  void (*scale_round_bits)(const float* src, const float* scale, int64_t C, int64_t W, uint16_t* dst,
                           Rounding mode);
  // The same for bf16 pixel rows (bits): each product rounded once to bf16, as ATen's
  // bf16 mul rounds it.
  void (*scale_round_bits_bf16)(const uint16_t* src, const float* scale, int64_t C, int64_t W, uint16_t* dst);

  // Smallest biased exponent field (0..255) among the non-zero bf16 values p[0..n)
  // (0 for a denormal), 255 if none: the input of bf16_products_normal().
  int (*min_exponent)(const uint16_t* p, int64_t n);
  // The same over the bf16 roundings (RNE) of fp32 values: the exponent field the
  // staged hi variant of p[0..n) would have.
  int (*min_exponent_rounded)(const float* p, int64_t n);

  // pack_b_runs for the native-bf16 kernels: `npanels` VNNI-2 panels (bf16_gemm.h) of
  // kNR pixels from planar fp32 activations, panel jp at out + jp * kp * kNR with the
  // runs runs[jp * kNR ..] (nruns[jp] of them): panel[p / 2][j][p % 2] = bits of
  // mode(src[k_off[p] + run base + ...]) for p < k, zero for p in [k, kp) and in
  // columns no run covers (Rounding::None: the values are bf16 values already).
  void (*pack_b_runs_vnni)(const float* src, const int64_t* k_off, int64_t k, int64_t kp,
                           const PixelRun* runs, const int* nruns, int npanels, Rounding mode,
                           uint16_t* out);

  // dst[w * C + c] = bits of mode(src[c * ld_src + w]) for c < C, w < W: planar rows
  // staged as pixel rows (a transpose with the rounding of round_bits).
  void (*round_transpose_bits)(const float* src, int64_t ld_src, int64_t C, int64_t W, uint16_t* dst,
                               Rounding mode);

  // dst[w * C + c] = mode(src[c * ld_src + w]): the same transpose with round_f32's
  // fp32 results (planar rows staged as pixel rows for the float kernels).
  void (*round_transpose)(const float* src, int64_t ld_src, int64_t C, int64_t W, float* dst, Rounding mode);

  // gemm_packed whose finished kMR x kNR tile goes straight to a planar fp32 output
  // through the channel-rows output stage: out[i * ld_out + j] = act((acc[i][j] +
  // bias[i]) + residual) (bias null: none), acc starting from C when `accumulate`.
  // Bit-identical to gemm_packed followed by epilogue_rows.
  void (*gemm_packed_rows_out)(int64_t k, const float* a, const float* b, const float* c, int64_t ldc,
                               bool accumulate, const float* bias, Activation act, Residual res, float* out,
                               int64_t ld_out);

  // Max pooling over one planar output row: out[j] = max over taps t (in order) of
  // src[tap_off[t] + j], j < n, by ATen's CPU rule: a value replaces the running max
  // if greater or NaN (the first of equal values stays; any NaN in the window comes
  // out). Exact on every ISA: no rounding happens.
  void (*max_row)(const float* src, const int64_t* tap_off, int ntaps, float* out, int64_t n);

  // Sum of src[0 .. n) for a spatial mean: fp32 vector chains over blocks of kSumBlock
  // elements from src, each block's partial sums added into a double. The same n values
  // give the same result on one ISA (vector widths differ across ISAs), and so does
  // summing the row's kSumBlock pieces one call each, adding their sums in order.
  double (*sum_row)(const float* src, int64_t n);

  // out[r] = the fp32 sum of row r (n <= kShortRow elements at src + r * ld), r < rows:
  // the planes of a small spatial mean. A row's result depends on its values and n only
  // (not on rows or its position), on one ISA.
  void (*sum_short_rows)(const float* src, int64_t ld, int64_t rows, int64_t n, float* out);

  // acc[j] += src[j] for j < n, in fp32: one pixel row of an NHWC spatial mean.
  void (*add_row)(const float* src, int64_t n, float* acc);

  // dst[j] = the bf16 value with bits src[j], as fp32 (exact), j < n.
  void (*widen_bf16)(const uint16_t* src, int64_t n, float* dst);

  // dst[i] = rounding(the bf16 value with bits src[i]): widen_bf16 then round_f32 in one
  // pass (the staging of bfloat16 tensors), the same values.
  void (*round_bf16_f32)(const uint16_t* src, float* dst, int64_t n, Rounding mode);

  // `depthwise` (accumulate false) on bf16 pixels: pix[j] holds bf16 bits, each
  // widened exactly, so the results equal `depthwise` on the widened values.
  void (*depthwise_bf16)(const uint16_t* const* pix, int npix, const int64_t* tap_off, int ntaps,
                         int64_t channels, const float* w, float* out, int64_t ld_out);

  // depthwise_bf16 for up to kChunkPixels consecutive outputs of one row, dilation 1,
  // with the output stage fused: output j's window row kh starts at base + row_off[kh]
  // + j * stride * pix_stride (input pixels pix_stride elements apart), kh_count x
  // kw_count taps; its finished channels go to `out` at element j * out.pix_stride.
  // Writes outputs j < npix, but reads the windows of all kChunkPixels (the caller
  // makes them readable), or with `clip` only the pixels it names (base + offset may
  // then lie outside the tensor: the clipped ones are never read). Loads each input
  // pixel once per kernel row; the bits of depthwise_bf16 then `epilogue`. False
  // (nothing done) for the window shapes it has no form for (kw_count x stride other
  // than 3x1, 3x2, 5x1, 5x2, 7x1).
  bool (*depthwise_bf16_rows)(const uint16_t* base, const int64_t* row_off, int kh_count, int kw_count,
                              int stride, int64_t pix_stride, const float* w, const DepthwiseOut& out, int npix,
                              const WindowClip* clip);
};

// Output pixels per depthwise_bf16_rows call.
constexpr int kChunkPixels = 8;

// sum_row's block (a multiple of every ISA's vector chains); sum_short_rows' longest row.
constexpr int64_t kSumBlock = 1024;
constexpr int64_t kShortRow = 256;

const KernelTable& kernel_table(Isa isa);

// Packs the im2col rows of the direct addressing into a kernel panel:
// panel[p - k0][i] = A(i, p) for p in [k0, k0 + kc), where reduction index
// p = t * channels + ch. Rows beyond `nrows` are zero.
void pack_a_panel(const float* const* rows, int nrows, const int64_t* tap_off, int64_t channels,
                  int64_t k0, int64_t kc, float* panel);

// Packs B (row n of `w` holds the K reduction values of output channel n, already
// rounded) into kNR-wide panels: out[np][p][kNR], zero-padded past n_count.
void pack_b_panels(const float* w, int64_t n_count, int64_t k, float* out);

// Packs one kNR-wide B panel from planar activations, as a DMA with a
// (reduction row, pixel run) access pattern would: panel[k][j] for k < kc.
// Columns no run covers are zero.
void pack_b_runs(const float* src, const int64_t* k_off, int64_t kc, const PixelRun* runs,
                 int nruns, float* panel);

}  // namespace aie_kernels
