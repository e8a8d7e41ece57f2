// Writing finished fp32 accumulator tiles to the output (bias, ReLU, rounding
// once): the one place pixel-row and channel-row tiles meet the output tensor.
#pragma once
#include "csrc/runtime/emulator/emulator.h"

namespace torch_aie::runtime {

// A [pixel][channel] tile: rows [m0, m0 + rows) x channels [oc0, oc0 + cols), ldc
// floats per row, one run of evenly strided output addresses at a time (a run of
// one output row, or of one image's rows where the output is dense).
void write_pixel_rows(const float* c, int64_t ldc, const ConvShape& s, int64_t m0, int64_t rows, int64_t oc0,
                      int64_t cols, const Epilogue& epi, const OutputView& out);

// A [channel][pixel] tile: channels [oc0, oc0 + noc) x pixels [m0, m0 + npix) of a
// planar output with contiguous pixels, one image at a time.
void write_channel_rows(const float* c, int64_t ldc, const ConvShape& s, int64_t m0, int64_t npix, int64_t oc0,
                        int64_t noc, const Epilogue& epi, const OutputView& out);

// The output element of pixel m, channel oc, in a planar output with contiguous pixels.
char* channel_row_dst(const ConvShape& s, int64_t m, int64_t oc, const OutputView& out);

}  // namespace torch_aie::runtime
