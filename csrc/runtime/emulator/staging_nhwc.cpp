// NHWC staging (pixel-row tiles): padded [N][Hp][Wp][C] rows, the shim DMA's job.
#include <ATen/Parallel.h>

#include "csrc/runtime/emulator/staging_common.h"

namespace torch_aie::runtime {

StagedInput stage_input_nhwc(const at::Tensor& x, const ConvShape& s, Numerics numerics) {
  StagedInput st;
  st.Hp = s.Hp();
  st.Wp = s.Wp();
  st.C = s.C;
  const int64_t row = st.Wp * s.C, plane = st.Hp * row, total = s.N * plane;
  const StagingTargets dst = claim_staging(numerics, total, st);
  if (total == 0) return st;

  const auto& kt = host_kernels();
  const StagingSource src(x);
  const bool planar_rows = !src.bf16 && src.sW == 1 && s.C > 1;
  // Pieces of rows, as in stage_input_bf16 (bf16_staging.cpp): a Linear's rows are one wide row.
  const int64_t pieces = row_pieces(s.W * s.C), piece_px = aie_kernels::ceil_div(s.W, pieces);
  at::parallel_for(0, s.N * st.Hp * pieces, 1, [&](int64_t begin, int64_t end) {
    for (int64_t u = begin; u < end; ++u) {
      const int64_t r = u / pieces, piece = u % pieces;
      const int64_t n = r / st.Hp, hp = r % st.Hp, h = hp - s.pad_h;
      const int64_t off = n * plane + hp * row;
      const int64_t w0 = piece * piece_px, w1 = std::min(s.W, w0 + piece_px), px = w1 - w0;
      if (h < 0 || h >= s.H) {
        if (piece == 0) zero_run(dst, off, row);
        continue;
      }
      if (px <= 0) continue;
      // This piece's padding: the row's leading zeros go with its first piece, the trailing with its last.
      const int64_t lead = w0 == 0 ? s.pad_w * s.C : 0, trail = w1 == s.W ? s.pad_w * s.C : 0;
      const int64_t at = off + (w0 == 0 ? 0 : (s.pad_w + w0) * s.C);
      const char* line = src.at(n, 0, h) + w0 * src.sW * src.esize;
      if (planar_rows) {  // NCHW rows: transposed and rounded in one pass
        for (aie_kernels::Rounding m : dst.modes) {
          float* d = dst[m] + at;
          std::memset(d, 0, lead * sizeof(float));
          kt.round_transpose(reinterpret_cast<const float*>(line), src.sC, s.C, px, d + lead, m);
          std::memset(d + lead + px * s.C, 0, trail * sizeof(float));
        }
        continue;
      }
      const RowValues vals = gather_row(src, line, px, s.C, src.sW, src.sC, thread_buffer<float>(kRowTmp, px * s.C));
      for (aie_kernels::Rounding m : dst.modes) pad_round(kt, vals, dst[m] + at, lead, px * s.C, trail, m);
    }
  });
  return st;
}

}  // namespace torch_aie::runtime
