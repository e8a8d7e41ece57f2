// The host emulator's int8 convolution: stage the activations as the shim DMA would
// deliver them (padded NHWC bytes in the kernels' u8 form), then run output tiles on
// ATen's threads: int8 GEMM (gemm_1x1, direct, im2col_gemm) or depthwise into int32
// accumulators, then the SRS epilogue straight into the output's strides.
// Integer sums are exact, so neither the tiling nor the thread count nor the ISA
// variant can change a result.
#include "csrc/runtime/emulator/int8/int8_conv.h"

#include <c10/util/Exception.h>
#include <torch/library.h>

#include <algorithm>
#include <atomic>
#include <cstring>

#include "aie_kernels/tile_shapes.h"
#include "csrc/runtime/emulator/host_tasks.h"

namespace torch_aie::runtime {

namespace q = aie_kernels::qs8;
using aie_kernels::ceil_div;
using aie_kernels::round_up;

namespace {

constexpr int64_t kOcChunkBlocks = 8;  // 256 output channels per GEMM task
constexpr int64_t kDwPixels = 16;      // output pixels per depthwise task step
constexpr int64_t kSlack = 64;         // readable bytes past every staged pixel run

std::atomic<int> g_isa{-1};

template <class T>
T* thread_vec(std::vector<T>& v, size_t n) {
  if (v.size() < n) v.resize(n);
  return v.data();
}

// Channel layout of the staged buffer: group g's channel c sits at g * cgs + c of a
// pixel's cst bytes. Tap-major GEMMs pad each group to 4 bytes (cgs = kc), im2col
// packs from unpadded runs, depthwise keeps channels dense and pads the pixel to cpad.
struct Staging {
  int64_t cgs = 0, cst = 0;
};

Staging staging_for(const ConvShape& s, const QPackedWeights& w) {
  switch (w.algorithm) {
    case ConvAlgorithm::Depthwise: return {1, w.cpad};
    case ConvAlgorithm::Im2colGemm: return {s.Cg(), s.groups * s.Cg()};
    default: return {w.kc, s.groups * w.kc};
  }
}

// x [N][C][H][W] (any strides) -> [N][Hp][Wp][cst] raw bytes (the kernels apply the
// u8-form flip), padding = the zero point 0. Only the border (and channel padding) is
// cleared; interiors are copied, whole rows at a time where the layouts agree.
const uint8_t* stage(const at::Tensor& x, const ConvShape& s, const Staging& st) {
  thread_local std::vector<uint8_t> buf;
  const int64_t Hp = s.Hp(), Wp = s.Wp();
  const size_t total = size_t(s.N * Hp * Wp * st.cst) + kSlack;
  uint8_t* dst = thread_vec(buf, total);
  const auto* src = static_cast<const uint8_t*>(x.const_data_ptr());
  const int64_t sN = x.stride(0), sC = x.stride(1), sH = x.stride(2), sW = x.stride(3);
  const int64_t Cg = s.Cg(), C = s.C, W = s.W, cst = st.cst, row = Wp * cst;
  const bool dense = st.cgs == Cg && cst == C;  // staged pixel = the input pixel's channels
  if (!dense) std::memset(dst, 0, total);
  std::memset(dst + total - kSlack, 0, kSlack);
  run_tasks(s.N * Hp, [&](int64_t r) {
    const int64_t n = r / Hp, hp = r % Hp, h = hp - s.pad_h;
    uint8_t* drow = dst + (n * Hp + hp) * row;
    if (h < 0 || h >= s.H) {
      if (dense) std::memset(drow, 0, row);
      return;
    }
    if (dense) {
      std::memset(drow, 0, s.pad_w * cst);
      std::memset(drow + (s.pad_w + W) * cst, 0, (Wp - s.pad_w - W) * cst);
    }
    const uint8_t* srow = src + n * sN + h * sH;
    drow += s.pad_w * cst;
    if (sC == 1 && dense && sW == C) {  // channels_last: the row is one run
      std::memcpy(drow, srow, W * C);
    } else if (sC == 1 && st.cgs == Cg) {  // channels_last, pixels padded (depthwise): a run per pixel
      for (int64_t w = 0; w < W; ++w) std::memcpy(drow + w * cst, srow + w * sW, C);
    } else if (sC == 1) {
      for (int64_t w = 0; w < W; ++w)
        for (int64_t g = 0; g < s.groups; ++g)
          std::memcpy(drow + w * cst + g * st.cgs, srow + w * sW + g * Cg, Cg);
    } else if (sW == 1 && st.cgs == Cg) {  // planar: a [C][W] -> [W][cst] byte transpose
      q::transpose_bytes(srow, sC, C, W, drow, cst);
    } else {  // planar, strided or group-padded: element by element, each channel's row in turn
      for (int64_t c = 0; c < C; ++c) {
        const uint8_t* sp = srow + c * sC;
        uint8_t* dp = drow + (c / Cg) * st.cgs + c % Cg;
        for (int64_t w = 0; w < W; ++w) dp[w * cst] = sp[w * sW];
      }
    }
  });
  return dst;
}

// gemm_1x1 reads a channels_last input in place when every pixel's channels are one
// run whose groups need no padding: no staging copy at all.
bool reads_input_in_place(const ConvShape& s, const QPackedWeights& w, const at::Tensor& x) {
  return w.algorithm == ConvAlgorithm::Gemm1x1 && x.stride(1) == 1 && w.kc == s.Cg() &&
         (s.W == 1 || x.stride(3) >= s.C) && (s.H == 1 || x.stride(2) >= s.C);
}

// Per-channel epilogue tables of one call (O(OC), rebuilt per call: the requant
// parameters are separate tensors the weight cache does not key on).
struct EpilogueTables {
  std::vector<int32_t> bias;
  std::vector<int64_t> mult, shift, half, halfm1, sbit;
  q::QEpilogue e{};
};

void build_epilogue(const QRequantArgs& rq, const QPackedWeights& w, int64_t OC, bool flip, EpilogueTables& t) {
  const size_t n = size_t(OC) + 16;
  t.bias.assign(n, 0);
  for (auto* v : {&t.mult, &t.shift, &t.half, &t.halfm1, &t.sbit}) v->assign(n, 0);
  for (int64_t oc = 0; oc < OC; ++oc) {
    // bias - 128 * colsum, wrapping: the true accumulator fits int32, so the sum is exact.
    uint32_t b = rq.bias ? static_cast<uint32_t>(rq.bias[oc]) : 0u;
    if (flip) b -= 128u * static_cast<uint32_t>(w.colsum[oc]);
    t.bias[oc] = static_cast<int32_t>(b);
    const int64_t s = rq.shift[oc];
    t.mult[oc] = rq.multiplier[oc];
    t.shift[oc] = s;
    t.half[oc] = s > 0 ? int64_t(1) << (s - 1) : 0;
    t.halfm1[oc] = s > 0 ? t.half[oc] - 1 : 0;
    t.sbit[oc] = s > 0 ? 1 : 0;
  }
  t.e = q::QEpilogue{t.bias.data(), t.mult.data(), t.shift.data(), t.half.data(), t.halfm1.data(),
                     t.sbit.data(), rq.rounding, rq.zero_point, rq.out_min, rq.out_max, rq.out_u8,
                     rq.skip != nullptr, rq.skip_u8, rq.skip_multiplier, rq.skip_shift};
}

// Requantises a tile of `rows` output pixels x n channels (from oc0) into the output.
// Channels-last rows go straight out; planar outputs whose pixels are consecutive in
// memory (one image, unit pixel stride) go through a byte transpose of the whole tile
// (the skip input is transposed in the same way), others element by element.
void store_tile(const q::Qs8KernelTable& kt, const q::QEpilogue& e, const QRequantArgs& rq, const QOutputView& out,
                const int32_t* acc, int64_t ldc, int64_t rows, int64_t n, int64_t oc0, const int64_t* pix_off) {
  q::QStoreRow dst[q::kQMB];
  const bool consecutive = out.sC != 1 && pix_off[rows - 1] - pix_off[0] == rows - 1;
  if (!consecutive) {
    for (int64_t i = 0; i < rows; ++i) {
      const int64_t off = pix_off[i] + oc0 * out.sC;
      dst[i] = q::QStoreRow{out.data + off, rq.skip ? rq.skip + off : nullptr, out.sC};
    }
    kt.requant_rows(acc, ldc, rows, n, oc0, e, dst);
    return;
  }
  thread_local std::vector<uint8_t> tile, skip_tile;
  const int64_t ld = round_up(n, 16), base = pix_off[0] + oc0 * out.sC;
  uint8_t* t = thread_vec(tile, size_t(rows * ld));
  uint8_t* st = rq.skip ? thread_vec(skip_tile, size_t(rows * ld)) : nullptr;
  if (st) q::transpose_bytes(rq.skip + base, out.sC, n, rows, st, ld);  // [channel][pixel] -> [pixel][channel]
  for (int64_t i = 0; i < rows; ++i) dst[i] = q::QStoreRow{t + i * ld, st ? st + i * ld : nullptr, 1};
  kt.requant_rows(acc, ldc, rows, n, oc0, e, dst);
  q::transpose_bytes(t, ld, rows, n, out.data + base, out.sC);
}

// Where the kernels read the activations: element strides (bytes) of pixel (n, h, w)
// and the group's channel offset, in the staged buffer or in the input itself.
struct ASource {
  const uint8_t* base;
  int64_t sN, sH, sW, cgs;
  uint8_t flip;  // 0x80 for int8 activations
};

void run_gemm(const ConvShape& s, const QPackedWeights& w, const ASource& src,
              const q::QEpilogue& e, const QRequantArgs& rq, const QOutputView& out, const q::Qs8KernelTable& kt) {
  const int64_t M = s.M(), OHW = s.OH * s.OW;
  // Reduction rows read in place: one per tap (run 1) or per kernel row (run KW); the
  // flat im2col (grouped or dilated rows) gathers each pixel's taps into one run.
  const bool merged_rows = w.algorithm == ConvAlgorithm::Im2colGemm && s.dil_w == 1 && s.groups == 1;
  const bool im2col = w.algorithm == ConvAlgorithm::Im2colGemm && !merged_rows;
  std::vector<int64_t> taps;
  for (int64_t kh = 0; kh < s.KH; ++kh)
    for (int64_t kw = 0; kw < s.KW; ++kw)
      if (!merged_rows || kw == 0) taps.push_back(kh * s.dil_h * src.sH + kw * s.dil_w * src.sW);
  const int64_t mblocks = ceil_div(M, q::kQMB), ochunks = ceil_div(w.nblk, kOcChunkBlocks);
  const int64_t gstride = w.nblk * w.kp * q::kQNR;  // packed bytes per group
  run_tasks(s.groups * mblocks * ochunks, [&](int64_t task) {
    const int64_t g = task / (mblocks * ochunks), mb = (task / ochunks) % mblocks, oc_chunk = task % ochunks;
    const int64_t m0 = mb * q::kQMB, rows = std::min<int64_t>(q::kQMB, M - m0);
    const int64_t blk0 = oc_chunk * kOcChunkBlocks, nb = std::min(kOcChunkBlocks, w.nblk - blk0);
    thread_local std::vector<int32_t> cbuf;
    thread_local std::vector<uint8_t> scratch, im2col_buf;
    const int64_t ldc = nb * q::kQNR;
    int32_t* c = thread_vec(cbuf, size_t(q::kQMB * ldc));
    const uint8_t* rowp[q::kQMB];
    int64_t out_off[q::kQMB];
    for (int64_t i = 0; i < rows; ++i) {
      const int64_t m = m0 + i, n = m / OHW, oh = (m % OHW) / s.OW, ow = m % s.OW;
      rowp[i] = src.base + n * src.sN + oh * s.stride_h * src.sH + ow * s.stride_w * src.sW + g * src.cgs;
      out_off[i] = n * out.sN + oh * out.sH + ow * out.sW;
    }
    q::QGemmArgs a{rowp, rows, taps.data(), static_cast<int>(taps.size()), w.kc, w.kp,
                   w.gemm.data() + g * gstride + blk0 * w.kp * q::kQNR, nb, w.kp * q::kQNR, c, ldc,
                   thread_vec(scratch, size_t(q::kQMB * w.kp)), src.flip * 0x01010101u};
    const int64_t zero_off = 0;
    if (im2col) {  // gather each pixel's taps into one padded reduction run
      uint8_t* ib = thread_vec(im2col_buf, size_t(q::kQMB * w.kc));
      const int64_t cg = s.Cg(), kreal = s.taps() * cg;
      for (int64_t i = 0; i < rows; ++i) {
        uint8_t* d = ib + i * w.kc;
        for (int64_t t = 0; t < s.taps(); ++t) std::memcpy(d + t * cg, rowp[i] + taps[t], cg);
        std::memset(d + kreal, 0, w.kc - kreal);
        rowp[i] = d;
      }
      a.tap_off = &zero_off;
      a.ntaps = 1;
    }
    kt.gemm(a);
    const int64_t oc0 = g * s.OCg() + blk0 * q::kQNR;
    const int64_t ncols = std::min<int64_t>(ldc, s.OCg() - blk0 * q::kQNR);
    store_tile(kt, e, rq, out, c, ldc, rows, ncols, oc0, out_off);
  });
}

void run_depthwise(const ConvShape& s, const QPackedWeights& w, const ASource& src,
                   const q::QEpilogue& e, const QRequantArgs& rq, const QOutputView& out, const q::Qs8KernelTable& kt) {
  std::vector<int64_t> taps(s.taps());
  for (int64_t kh = 0; kh < s.KH; ++kh)
    for (int64_t kw = 0; kw < s.KW; ++kw) taps[kh * s.KW + kw] = kh * s.dil_h * src.sH + kw * s.dil_w * src.sW;
  const int64_t wchunks = ceil_div(s.OW, kDwPixels);
  run_tasks(s.N * s.OH * wchunks, [&](int64_t task) {
    const int64_t n = task / (s.OH * wchunks), oh = (task / wchunks) % s.OH, ow0 = (task % wchunks) * kDwPixels;
    const int64_t npix = std::min(kDwPixels, s.OW - ow0);
    thread_local std::vector<int32_t> acc;
    int32_t* a = thread_vec(acc, size_t(kDwPixels * w.cpad));
    const uint8_t* pix[kDwPixels];
    for (int64_t j = 0; j < npix; ++j)
      pix[j] = src.base + n * src.sN + oh * s.stride_h * src.sH + (ow0 + j) * s.stride_w * src.sW;
    kt.depthwise(q::QDepthwiseArgs{pix, npix, taps.data(), static_cast<int>(taps.size()), s.C, w.cpad,
                                   w.dw.data(), a, w.cpad, src.flip});
    int64_t pix_off[kDwPixels];
    for (int64_t j = 0; j < npix; ++j) pix_off[j] = n * out.sN + oh * out.sH + (ow0 + j) * out.sW;
    store_tile(kt, e, rq, out, a, w.cpad, npix, s.C, 0, pix_off);
  });
}

}  // namespace

int64_t reduction_run(const ConvShape& s, ConvAlgorithm algorithm) {
  if (algorithm != ConvAlgorithm::Im2colGemm) return 1;
  return s.dil_w == 1 && s.groups == 1 ? s.KW : s.taps();
}

QPackedWeights pack_qweights(const int8_t* wt, const ConvShape& s, ConvAlgorithm algorithm) {
  QPackedWeights p;
  p.algorithm = algorithm;
  p.groups = s.groups;
  p.ocg = s.OCg();
  p.cg = s.Cg();
  p.taps = s.taps();
  p.colsum.resize(s.OC);
  q::weight_colsums(wt, s.OC, s.K(), p.colsum.data());
  if (algorithm == ConvAlgorithm::Depthwise) {
    p.cpad = round_up(s.C, 32);
    p.dw.resize(q::packed_dw_elems(p.taps, p.cpad));
    q::pack_dw_weights(wt, s.C, p.taps, p.cpad, p.dw.data());
    return p;
  }
  p.run = reduction_run(s, algorithm);
  p.kc = round_up(p.run * p.cg, q::kQK);
  p.kp = round_up(ceil_div(p.taps, p.run) * p.kc, q::kQKP);
  p.nblk = ceil_div(p.ocg, q::kQNR);
  p.gemm.resize(q::packed_gemm_bytes(p.groups, p.ocg, p.kp));
  q::pack_gemm_weights(wt, p.groups, p.ocg, p.cg, p.taps, p.run, p.gemm.data(), p.kp);
  return p;
}

void emulate_qconv(const ConvShape& s, const QPackedWeights& w, const at::Tensor& x, const QRequantArgs& rq,
                   const QOutputView& out, const q::Qs8KernelTable& kt) {
  if (s.N == 0 || s.OC == 0 || s.OH == 0 || s.OW == 0) return;
  const bool flip = x.scalar_type() == at::kChar;  // int8 activations go to the kernels as x + 128
  ASource src{};
  src.flip = flip ? 0x80 : 0x00;
  if (reads_input_in_place(s, w, x)) {
    src.base = static_cast<const uint8_t*>(x.const_data_ptr());
    src.sN = x.stride(0);
    src.sH = x.stride(2);
    src.sW = x.stride(3);
    src.cgs = s.Cg();
  } else {
    const Staging st = staging_for(s, w);
    src.base = stage(x, s, st);
    src.sW = st.cst;
    src.sH = s.Wp() * st.cst;
    src.sN = s.Hp() * src.sH;
    src.cgs = st.cgs;
  }
  thread_local EpilogueTables tables;
  build_epilogue(rq, w, s.OC, flip, tables);
  if (w.algorithm == ConvAlgorithm::Depthwise)
    run_depthwise(s, w, src, tables.e, rq, out, kt);
  else
    run_gemm(s, w, src, tables.e, rq, out, kt);
}

const q::Qs8KernelTable& qs8_kernels() {
  int isa = g_isa.load();
  if (isa < 0) isa = static_cast<int>(q::qs8_host_isa());
  return q::qs8_table(static_cast<q::QIsa>(isa));
}

void set_qs8_isa(q::QIsa isa) {
  const char* why = nullptr;
  TORCH_CHECK_VALUE(q::qs8_can_run(isa, &why), "int8 kernel variant '", q::qisa_name(isa),
                    "' cannot run on this host: ", why);
  g_isa = static_cast<int>(isa);
}

namespace {

// (name, runnable, why not) of every int8 kernel variant.
std::tuple<std::vector<std::string>, std::vector<int64_t>, std::vector<std::string>> qconv_isas() {
  std::vector<std::string> names, why;
  std::vector<int64_t> ok;
  for (int i = 0; i < q::kNumQIsa; ++i) {
    const char* w = nullptr;
    ok.push_back(q::qs8_can_run(static_cast<q::QIsa>(i), &w));
    names.emplace_back(q::qisa_name(static_cast<q::QIsa>(i)));
    why.emplace_back(w ? w : "");
  }
  return {names, ok, why};
}

void set_qconv_isa(c10::string_view name) {
  for (int i = 0; i < q::kNumQIsa; ++i)
    if (name == q::qisa_name(static_cast<q::QIsa>(i))) return set_qs8_isa(static_cast<q::QIsa>(i));
  TORCH_CHECK_VALUE(false, "unknown int8 kernel variant '", std::string(name),
                    "' (scalar, avx2, avx_vnni, avx512_vnni, amx_int8)");
}

}  // namespace

// The host emulator's int8 kernel variants, as torch.ops._aie controls (like host_isa).
TORCH_LIBRARY_FRAGMENT(_aie, m) {
  m.def("qconv_isas() -> (str[], int[], str[])", &qconv_isas);
  m.def("qconv_isa() -> str", [] { return std::string(q::qisa_name(qs8_kernels().isa)); });
  m.def("set_qconv_isa(str name) -> ()", &set_qconv_isa);
}

}  // namespace torch_aie::runtime
