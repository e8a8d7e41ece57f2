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
  at::parallel_for(0, s.N * st.Hp, 1, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const int64_t n = r / st.Hp, hp = r % st.Hp, h = hp - s.pad_h;
      const int64_t off = n * plane + hp * row;
      if (h < 0 || h >= s.H) {
        zero_run(dst, off, row);
        continue;
      }
      if (planar_rows) {  // NCHW rows: transposed and rounded in one pass
        for (aie_kernels::Rounding m : dst.modes) {
          float* d = dst[m] + off;
          std::memset(d, 0, s.pad_w * s.C * sizeof(float));
          kt.round_transpose(reinterpret_cast<const float*>(src.at(n, 0, h)), src.sC, s.C, s.W, d + s.pad_w * s.C, m);
          std::memset(d + (s.pad_w + s.W) * s.C, 0, s.pad_w * s.C * sizeof(float));
        }
        continue;
      }
      const RowValues vals = gather_row(src, src.at(n, 0, h), s.W, s.C, src.sW, src.sC,
                                     thread_buffer<float>(kRowTmp, s.W * s.C));
      for (aie_kernels::Rounding m : dst.modes)
        pad_round(kt, vals, dst[m] + off, s.pad_w * s.C, s.W * s.C, s.pad_w * s.C, m);
    }
  });
  return st;
}

}  // namespace torch_aie::runtime
