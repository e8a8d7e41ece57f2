#include "csrc/runtime/emulator/tile_output.h"

#include <algorithm>

#include "csrc/runtime/emulator/conv_geometry.h"

namespace torch_aie::runtime {

void write_pixel_rows(const float* c, int64_t ldc, const ConvShape& s, int64_t m0, int64_t rows, int64_t oc0,
                      int64_t cols, const Epilogue& epi, const OutputView& out) {
  const auto& kt = host_kernels();
  const int64_t esize = out.esize();
  // Where output rows follow each other at the pixel stride (dense planar or NHWC
  // outputs), a run goes on across rows to the end of the image.
  const bool dense_rows = out.sH == s.OW * out.sW;
  for (int64_t i = 0; i < rows;) {
    const Pixel p = split_pixel(s, m0 + i);
    const int64_t run = std::min(rows - i, dense_rows ? (s.OH - p.oh) * s.OW - p.ow : s.OW - p.ow);
    char* dst = static_cast<char*>(out.data) + (p.n * out.sN + p.oh * out.sH + p.ow * out.sW + oc0 * out.sC) * esize;
    kt.epilogue(c + i * ldc, ldc, run, cols, epi.bias ? epi.bias + oc0 : nullptr, epi.act, epi.residual_for(out, dst), dst, out.bf16(),
                out.sW, out.sC);
    i += run;
  }
}

void write_channel_rows(const float* c, int64_t ldc, const ConvShape& s, int64_t m0, int64_t npix, int64_t oc0,
                        int64_t noc, const Epilogue& epi, const OutputView& out) {
  const auto& kt = host_kernels();
  const int64_t ohw = s.OH * s.OW, esize = out.esize();
  for (int64_t j = 0; j < npix;) {
    const Pixel p = split_pixel(s, m0 + j);
    const int64_t r = p.oh * s.OW + p.ow;  // pixel within its image
    const int64_t run = std::min(npix - j, ohw - r);
    char* dst = static_cast<char*>(out.data) + (p.n * out.sN + oc0 * out.sC + r) * esize;
    kt.epilogue_rows(c + j, ldc, noc, run, epi.bias ? epi.bias + oc0 : nullptr, epi.act, epi.residual_for(out, dst), dst, out.bf16(), out.sC);
    j += run;
  }
}

char* channel_row_dst(const ConvShape& s, int64_t m, int64_t oc, const OutputView& out) {
  const Pixel p = split_pixel(s, m);
  return static_cast<char*>(out.data) + (p.n * out.sN + oc * out.sC + p.oh * s.OW + p.ow) * out.esize();
}

}  // namespace torch_aie::runtime
