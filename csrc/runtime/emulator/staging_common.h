// What NHWC and planar staging share: reading the source tensor (fp32 or bf16, any
// strides), claiming the per-rounding buffers, and writing one zero-padded,
// rounded run. Internal to staging_*.cpp.
#pragma once
#include <ATen/core/Tensor.h>
#include <c10/util/BFloat16.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <vector>

#include "csrc/runtime/emulator/emulator.h"
#include "csrc/runtime/emulator/host_buffers.h"
#include "csrc/runtime/emulator/passes.h"

namespace torch_aie::runtime {

// The tensor being staged, as raw strided memory.
struct StagingSource {
  const char* base;
  int64_t esize;
  bool bf16;
  int64_t sN, sC, sH, sW;
  explicit StagingSource(const at::Tensor& x)
      : base(static_cast<const char*>(x.const_data_ptr())), esize(x.element_size()),
        bf16(x.scalar_type() == at::kBFloat16), sN(x.stride(0)), sC(x.stride(1)), sH(x.stride(2)),
        sW(x.stride(3)) {}
  const char* at(int64_t n, int64_t c, int64_t h) const { return base + (n * sN + c * sC + h * sH) * esize; }
};

// The staging buffers of one call: `total` fp32 elements per A rounding.
struct StagingTargets {
  std::vector<aie_kernels::Rounding> modes;
  std::array<float*, 4> dst{};  // indexed by rounding
  float* operator[](aie_kernels::Rounding m) const { return dst[static_cast<int>(m)]; }
};
// Claims this thread's staging slots for `numerics`' roundings and records them in `st`.
StagingTargets claim_staging(Numerics numerics, int64_t total, StagedInput& st);

// A row of source values in [w][c] order: fp32 values, or the bits of bf16 ones.
struct RowValues {
  const float* f32 = nullptr;
  const uint16_t* bf16 = nullptr;
};

// dst[w * C + c] = convert(src[w * sW + c * sC]) for w < W, c < C: the [w][c] gather of
// every staging path. Contiguous channels go pixel by pixel; strided ones (planar rows)
// a band of 16 channels per pass, so that each pixel's writes fill whole lines. Channel
// by channel, every write touched another line: (1,512,1,49) bf16 planar depthwise
// spent 41 % of its time in the gather.
template <class T, class U, class Convert>
void gather_pixels(const T* src, int64_t W, int64_t C, int64_t sW, int64_t sC, U* dst, Convert convert) {
  if (sC == 1) {
    for (int64_t w = 0; w < W; ++w)
      for (int64_t c = 0; c < C; ++c) dst[w * C + c] = convert(src[w * sW + c]);
    return;
  }
  constexpr int64_t kBand = 16;
  for (int64_t c0 = 0; c0 < C; c0 += kBand) {
    const int64_t c1 = std::min(C, c0 + kBand);
    for (int64_t w = 0; w < W; ++w)
      for (int64_t c = c0; c < c1; ++c) dst[w * C + c] = convert(src[w * sW + c * sC]);
  }
}

// Values of W pixels x C channels (element [w][c] at src + (w * sW + c * sC) elements)
// in [w][c] order: in place where the source already is that (fp32 or bf16), else
// gathered into `tmp` as fp32.
RowValues gather_row(const StagingSource& x, const char* src, int64_t W, int64_t C, int64_t sW, int64_t sC,
                     float* tmp);

// d = [lead zeros][round(vals[0..n))][trail zeros]; bf16 values widened in the same pass
// (KernelTable::round_bf16_f32: the values round_f32 gives their fp32 form).
inline void pad_round(const aie_kernels::KernelTable& kt, RowValues vals, float* d, int64_t lead, int64_t n,
                      int64_t trail, aie_kernels::Rounding m) {
  std::memset(d, 0, lead * sizeof(float));
  if (vals.bf16)
    kt.round_bf16_f32(vals.bf16, d + lead, n, m);
  else
    kt.round_f32(vals.f32, d + lead, n, m);
  std::memset(d + lead + n, 0, trail * sizeof(float));
}

// Pieces a staged row of `elems` values is cut into for the threads: one for rows of a
// few thousand values (every ResNet row), more for the few very wide rows of a Linear's
// input, which optimize.py's AieLinear passes as one image row: ConvNeXt's
// (1,3136,256)->64 Linear staged its 800k values on one thread while the other waited.
inline int64_t row_pieces(int64_t elems) {
  constexpr int64_t kPieceElems = int64_t(1) << 15;
  return std::max<int64_t>(1, elems / kPieceElems);
}

inline void zero_run(const StagingTargets& t, int64_t off, int64_t n) {
  for (aie_kernels::Rounding m : t.modes) std::memset(t[m] + off, 0, n * sizeof(float));
}

}  // namespace torch_aie::runtime
