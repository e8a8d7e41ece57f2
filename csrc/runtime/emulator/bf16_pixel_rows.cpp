// Native-bf16 GEMM-family convs as pixel rows (bf16_family.h): NHWC bf16 staging,
// VNNI-2 weight panels, the host's bf16 GEMM kernel, fp32 accumulation, the shared
// epilogue. Tasks split the output pixels and channels, never the reduction, and the
// kernels' results do not depend on where in a block an output lands, so neither the
// thread count nor the blocking changes a result.
//
// Two ways to feed A, giving identical bits (the reduction order and its zero padding
// are the same: aie_kernels/bf16_gemm.h):
// - direct: stride-1 convs whose group has a multiple of bf16_k_depth() channels, on rows
//   the padding widens by at most an eighth, read A tiles straight from the staged image. An output row's pixels are evenly spaced there,
//   and so are consecutive rows if each is extended by the Wp - OW pixels of the
//   padding ("virtual" pixels, computed and dropped), so one stride covers a block;
// - packed: every other conv packs its block's A rows (im2col) first.
#include <ATen/Parallel.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "csrc/runtime/emulator/bf16_family.h"
#include "csrc/runtime/emulator/host_buffers.h"
#include "csrc/runtime/emulator/host_tasks.h"
#include "csrc/runtime/emulator/passes.h"

namespace torch_aie::runtime {

using aie_kernels::ceil_div;
using aie_kernels::kB16NR;
using aie_kernels::kB16RowBlock;

namespace {

constexpr int64_t kMB = 64;         // output pixels per task
constexpr int64_t kMaxPanels = 16;  // channel panels per task at most
constexpr int64_t kSubPanels = 4;   // channel panels per kernel call: C (64 x 64 fp32) in L1

struct Bf16Geometry {
  bool direct = false;
  // direct: `segments` runs of `vrows` virtual pixels, segment q's first at element
  // q * seg_stride of the staged image; virtual pixel v of a run is output (row
  // first_row + v / Wp, column v % Wp), dropped when the column is >= OW.
  int64_t segments = 0, vrows = 0, seg_stride = 0, rows_per_seg = 0;
  std::vector<int64_t> taps;  // element offset of each tap from its pixel's first tap
  int64_t mblocks = 0, panels = 0, panels_per_task = 0, nblocks = 0;
};

Bf16Geometry geometry(const ConvShape& s, const Bf16StagedInput& in) {
  Bf16Geometry g;
  for (int64_t kh = 0; kh < s.KH; ++kh)
    for (int64_t kw = 0; kw < s.KW; ++kw) g.taps.push_back((kh * s.dil_h * in.Wp + kw * s.dil_w) * in.C);
  // Direct only where the virtual pixels cost little: at most an eighth more rows. On
  // 14- and 7-pixel rows (ResNet-50's last stages) they are 14% and 29% more GEMM rows,
  // and packing A was faster (2026-12-07, Zen 4, 2 threads, (8,512,7,7) 3x3 bf16cl:
  // 5.65-6.01 -> 4.65-4.77 ms; (8,256,14,14): 5.21-5.27 -> 4.77 ms).
  g.direct = bf16_direct_applies(s) && (in.Wp - s.OW) * 8 <= s.OW;
  if (g.direct) {
    // With no rows between images (Hp == OH: 1-row kernels, no vertical padding) the
    // images are one run; otherwise one run per image.
    const bool merged = in.Hp == s.OH;
    g.segments = merged ? 1 : s.N;
    g.rows_per_seg = merged ? s.N * s.OH : s.OH;
    g.vrows = g.rows_per_seg * in.Wp;
    g.seg_stride = in.Hp * in.Wp * in.C;
    g.mblocks = g.segments * ceil_div(g.vrows, kMB);
  } else {
    g.mblocks = ceil_div(s.M(), kMB);
  }
  g.panels = ceil_div(s.OCg(), kB16NR);
  // Enough tasks for every thread, in whole panel pairs (the kernels' N block).
  const int64_t want = 4 * at::get_num_threads();
  int64_t per = std::min<int64_t>(kMaxPanels, g.panels);
  while (per > 2 && s.groups * g.mblocks * ceil_div(g.panels, per) < want) per = std::max<int64_t>(2, per / 2);
  g.panels_per_task = per;
  g.nblocks = ceil_div(g.panels, per);
  return g;
}

// rp[j] = a + the first tap of output pixel first + j within the staged image
// (channel 0), j < rows: divisions once, then stepped pixel by pixel.
void pixel_rows(const ConvShape& s, const Bf16StagedInput& in, const uint16_t* a, int64_t first, int64_t rows,
                const uint16_t** rp) {
  const int64_t ohw = s.OH * s.OW;
  int64_t n = first / ohw, oh = first % ohw / s.OW, ow = first % s.OW;
  for (int64_t j = 0; j < rows; ++j) {
    rp[j] = a + ((n * in.Hp + oh * s.stride_h) * in.Wp + ow * s.stride_w) * in.C;
    if (++ow == s.OW) {
      ow = 0;
      if (++oh == s.OH) {
        oh = 0;
        ++n;
      }
    }
  }
}

// Writes C rows [0, rows) of a block to the output: rows are consecutive pixels
// (packed) or virtual pixels from `v0` of segment `seg` (direct).
void write_block(const float* c, int64_t ldc, int64_t rows, const ConvShape& s, const Bf16StagedInput& in,
                 const Bf16Geometry& g, int64_t seg, int64_t first, int64_t oc0, int64_t cols,
                 const Epilogue& epi, const OutputView& out) {
  const auto& kt = host_kernels();
  const int64_t esize = out.esize();
  const float* bias = epi.bias ? epi.bias + oc0 : nullptr;
  auto emit = [&](const float* cr, int64_t n, int64_t oh, int64_t ow, int64_t run) {
    char* dst = static_cast<char*>(out.data) + (n * out.sN + oh * out.sH + ow * out.sW + oc0 * out.sC) * esize;
    kt.epilogue(cr, ldc, run, cols, bias, epi.act, epi.residual_for(out, dst), dst, out.bf16(), out.sW, out.sC);
  };
  const int64_t ohw = s.OH * s.OW;
  for (int64_t i = 0; i < rows;) {
    int64_t n, oh, ow, run;
    if (g.direct) {
      const int64_t v = first + i, orow = seg * g.rows_per_seg + v / in.Wp, col = v % in.Wp;
      run = std::min(rows - i, in.Wp - col);
      if (col >= s.OW) {
        i += run;
        continue;
      }
      run = std::min(run, s.OW - col);
      n = orow / s.OH;
      oh = orow % s.OH;
      ow = col;
    } else {
      const int64_t m = first + i, r = m % ohw;
      n = m / ohw;
      oh = r / s.OW;
      ow = r % s.OW;
      run = std::min(rows - i, s.OW - ow);
    }
    emit(c + i * ldc, n, oh, ow, run);
    i += run;
  }
}

// The output element offset (channel 0) of each of a block's rows, -1 for the virtual
// pixels write_block drops; the same mapping, stepped pixel by pixel from the first
// (divisions once per block, not per row).
void row_offsets(int64_t rows, const ConvShape& s, const Bf16StagedInput& in, const Bf16Geometry& g, int64_t seg,
                 int64_t first, const OutputView& out, int64_t* off) {
  // (n, oh, col): the block's first row; a row is `width` columns wide, OW of them real.
  int64_t n, oh, col, width;
  if (g.direct) {
    const int64_t orow = seg * g.rows_per_seg + first / in.Wp;
    n = orow / s.OH;
    oh = orow % s.OH;
    col = first % in.Wp;
    width = in.Wp;
  } else {
    const int64_t ohw = s.OH * s.OW, r = first % ohw;
    n = first / ohw;
    oh = r / s.OW;
    col = r % s.OW;
    width = s.OW;
  }
  for (int64_t i = 0; i < rows; ++i) {
    off[i] = col < s.OW ? n * out.sN + oh * out.sH + col * out.sW : -1;
    if (++col == width) {
      col = 0;
      if (++oh == s.OH) {
        oh = 0;
        ++n;
      }
    }
  }
}

// The fused-output form of a sub-block's last pass (Bf16Gemm::gemm_out): where the
// kernel has one and the output's channels are contiguous. A partial last panel (24 or
// 40 channels) is written by masked stores: through C and the epilogue instead,
// (8,96,56,56)->24 took 0.475 ms against 0.411 for ->32 (2026-12-07, Zen 4, 2 threads).
bool fuse_output(const aie_kernels::Bf16Gemm& k, const OutputView& out) { return k.gemm_out && out.sC == 1; }

// Channel panels per kernel call in a task of npan panels. kSubPanels keeps C in
// L1 from the kernel to the epilogue; a single pass that the kernel finishes itself has
// no C, and then gets all the task's panels at once, so that the kernel can finish each
// output row before the next (Bf16Gemm::gemm_out at thin K): (8,24,56,56)->144 1x1 bf16cl,
// 2 threads, Zen 4: 0.56-0.66 -> 0.53-0.55 ms alone, 0.67-0.70x -> 0.89-0.91x CPU bf16cl.
int64_t panels_per_call(const Bf16PackedWeights& w, const Bf16StagedInput& in, const std::vector<Pass>& passes,
                        const OutputView& out, int64_t npan) {
  if (passes.size() != 1) return kSubPanels;
  const auto& k = bf16_gemm_for(staged_min_exp(in, passes[0].a), w.min_exp[static_cast<int>(passes[0].b)]);
  return fuse_output(k, out) ? npan : kSubPanels;
}

// A task's block of rows: `rows` of them (`padded` with the kernels' row padding) from
// `first` of segment `seg` (direct) or from output pixel `first` (packed).
struct BlockRows {
  int64_t seg, first, rows, padded;
  bool copied = false;  // its A rows are read from a zero-padded copy (split_block)
};

// Per-row tables of a block for gemm_out, filled once per block (all its channel
// sub-blocks share them) where its rows are not evenly spaced.
struct RowTables {
  bool filled = false;
  int64_t off[kMB];
  char* out[kMB];
  const char* res[kMB];
};

// Where gemm_out writes a block's rows of `cols` channels from oc0 (and reads their
// residual): evenly spaced when the output is channels-last contiguous and the block
// has no virtual pixels (the kernel steps from the first row, no table); else per-row
// tables.
aie_kernels::Bf16Out fused_rows(const BlockRows& b, const ConvShape& s, const Bf16StagedInput& in,
                                const Bf16Geometry& g, int64_t oc0, int64_t cols, const Epilogue& epi,
                                const OutputView& out, RowTables& t) {
  const int64_t esize = out.esize(), res_esize = epi.residual_bf16 ? 2 : 4;
  char* data = static_cast<char*>(out.data);
  const char* res = static_cast<const char*>(epi.residual);
  aie_kernels::Bf16Out o{{}, {}, epi.residual_bf16, epi.bias ? epi.bias + oc0 : nullptr, epi.act, out.bf16(), cols};
  const bool no_virtual = !g.direct || in.Wp == s.OW;
  if (no_virtual && out.sH == s.OW * out.sW && out.sN == s.OH * out.sH) {
    int64_t off0;
    row_offsets(1, s, in, g, b.seg, b.first, out, &off0);
    o.rows = {nullptr, data + (off0 + oc0) * esize, out.sW * esize};
    if (res) o.res_rows = {nullptr, res + (off0 + oc0) * res_esize, out.sW * res_esize};
    return o;
  }
  if (!t.filled) row_offsets(b.rows, s, in, g, b.seg, b.first, out, t.off);
  t.filled = true;
  for (int64_t j = 0; j < b.padded && j < kMB; ++j) {
    const bool live = j < b.rows && t.off[j] >= 0;
    t.out[j] = live ? data + (t.off[j] + oc0) * esize : nullptr;
    t.res[j] = live && res ? res + (t.off[j] + oc0) * res_esize : nullptr;
  }
  o.rows.table = t.out;
  if (res) o.res_rows.table = t.res;
  return o;
}

// A raw input (the tensor itself, nhwc_in_place) has no slack after its last pixel,
// where the kernels' row padding reads: a block ending in a partial row group runs its
// whole groups in place and the rest from a zero-padded copy of those rows. Other
// inputs: the block itself. Returns the parts' count.
int split_block(const Bf16StagedInput& in, const Bf16Geometry& g, const BlockRows& b, BlockRows (&parts)[2]) {
  const int64_t whole = g.direct && in.raw ? std::min(b.rows, (g.vrows - b.first) / kB16RowBlock * kB16RowBlock)
                                           : b.rows;
  int n = 0;
  if (whole > 0) parts[n++] = {b.seg, b.first, whole, whole == b.rows ? b.padded : whole};
  if (whole < b.rows) parts[n++] = {b.seg, b.first + whole, b.rows - whole, kB16RowBlock, true};
  return n;
}

// Scratch elements per staged variant for block_a: none for blocks read in place.
int64_t block_scratch(const Bf16StagedInput& in, const Bf16Geometry& g, const BlockRows& b, int64_t kp) {
  return b.copied ? b.padded * in.C : g.direct ? 0 : b.padded * kp;
}

// A's rows of block b for staged variant `ra` of group `grp`, with their stride `lda`:
// read in place (direct); copied with zeros after them to a whole row group (a raw
// input's last rows, split_block), so that they read as if from staging with slack; or
// packed once for all the block's channel sub-blocks. The last two go to `scratch`.
const uint16_t* block_a(const ConvShape& s, const Bf16StagedInput& in, const Bf16Geometry& g, const BlockRows& b,
                        int ra, int64_t grp, int64_t kp, uint16_t* scratch, int64_t& lda) {
  const uint16_t* a = in.bf16[ra] + grp * s.Cg();
  lda = g.direct ? in.C : kp;
  if (b.copied) {
    std::memcpy(scratch, in.bf16[ra] + b.first * in.C, b.rows * in.C * sizeof(uint16_t));
    std::memset(scratch + b.rows * in.C, 0, (kB16RowBlock - b.rows) * in.C * sizeof(uint16_t));
    return scratch + grp * s.Cg();
  }
  if (g.direct) return a + b.seg * g.seg_stride + b.first * in.C;
  const uint16_t* rp[kMB];
  pixel_rows(s, in, a, b.first, b.rows, rp);
  aie_kernels::pack_a_rows_bf16(rp, static_cast<int>(b.rows), static_cast<int>(b.padded), g.taps.data(),
                                static_cast<int>(g.taps.size()), s.Cg(), kp, scratch);
  return scratch;
}

}  // namespace

void emulate_bf16_pixel_rows(const ConvShape& s, const Bf16PackedWeights& w, const Bf16StagedInput& in,
                       const Epilogue& epi, const OutputView& out) {
  TORCH_CHECK(w.layout == HostLayout::PixelRows && in.layout == HostLayout::PixelRows,
              "emulate_bf16_pixel_rows: operands not staged as bf16 pixel rows");
  const auto passes = passes_for(w.numerics);
  const auto a_modes = staged_roundings(w.numerics);
  const Bf16Geometry g = geometry(s, in);
  const int64_t kp = w.kp, per_seg = g.direct ? ceil_div(g.vrows, kMB) : 0;
  const int64_t zero = 0;
  const int ntaps = g.direct ? static_cast<int>(g.taps.size()) : 1;
  const int64_t* taps = g.direct ? g.taps.data() : &zero;
  const int64_t kc = g.direct ? s.Cg() : kp;

  // All the task's channel panels [p0, p0 + npan) for one block of rows.
  auto run_block = [&](const BlockRows& blk, const uint16_t* const (&a_of)[4], int64_t lda, int64_t grp, int64_t p0,
                       int64_t npan) {
    // Channel sub-blocks small enough that C stays in L1 from the kernel to the epilogue.
    const int64_t ldc = kSubPanels * kB16NR;
    float* c = thread_buffer<float>(kTileC, blk.padded * ldc);
    RowTables tables;
    const int64_t sub = panels_per_call(w, in, passes, out, npan);
    for (int64_t q0 = 0; q0 < npan; q0 += sub) {
      const int64_t nq = std::min(sub, npan - q0);
      const int64_t oc0 = grp * s.OCg() + (p0 + q0) * kB16NR;
      const int64_t cols = std::min(nq * kB16NR, s.OCg() - (p0 + q0) * kB16NR);
      bool written = false;
      for (size_t p = 0; p < passes.size(); ++p) {
        const int ra = static_cast<int>(passes[p].a), rb = static_cast<int>(passes[p].b);
        const uint16_t* b = w.for_group(passes[p].b, grp) + (p0 + q0) * kp * kB16NR;
        const auto& k = bf16_gemm_for(staged_min_exp(in, passes[p].a), w.min_exp[rb]);
        if (p + 1 == passes.size() && fuse_output(k, out)) {
          const auto o = fused_rows(blk, s, in, g, oc0, cols, epi, out, tables);
          k.gemm_out(a_of[ra], lda, taps, ntaps, kc, blk.rows, b, kp * kB16NR, nq, c, ldc, p > 0, o);
          written = true;
          break;
        }
        k.gemm(a_of[ra], lda, taps, ntaps, kc, blk.rows, b, kp * kB16NR, nq, c, ldc, p > 0);
      }
      if (!written) write_block(c, ldc, blk.rows, s, in, g, blk.seg, blk.first, oc0, cols, epi, out);
    }
  };

  run_tasks(s.groups * g.mblocks * g.nblocks, [&](int64_t i) {
    // Channel blocks innermost: neighbouring tasks share the same A rows.
    const int64_t grp = i / (g.mblocks * g.nblocks), r = i % (g.mblocks * g.nblocks);
    const int64_t mb = r / g.nblocks, p0 = (r % g.nblocks) * g.panels_per_task;
    const int64_t npan = std::min(g.panels_per_task, g.panels - p0);
    const int64_t seg = g.direct ? mb / per_seg : 0;
    const int64_t first = (g.direct ? mb % per_seg : mb) * kMB;
    const int64_t rows = std::min(kMB, (g.direct ? g.vrows : s.M()) - first);
    BlockRows parts[2];
    const int nparts = split_block(in, g, {seg, first, rows, aie_kernels::round_up(rows, kB16RowBlock)}, parts);
    for (int part = 0; part < nparts; ++part) {
      const BlockRows& blk = parts[part];
      const int64_t per_variant = block_scratch(in, g, blk, kp);
      uint16_t* scratch = per_variant ? thread_buffer<uint16_t>(kPanelA, a_modes.size() * per_variant) : nullptr;
      const uint16_t* a_of[4] = {};
      int64_t lda = 0;
      for (size_t v = 0; v < a_modes.size(); ++v) {
        const int ra = static_cast<int>(a_modes[v]);
        a_of[ra] = block_a(s, in, g, blk, ra, grp, kp, scratch ? scratch + v * per_variant : nullptr, lda);
      }
      run_block(blk, a_of, lda, grp, p0, npan);
    }
  });
}

}  // namespace torch_aie::runtime
