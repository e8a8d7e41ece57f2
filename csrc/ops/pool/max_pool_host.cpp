// One task per (image, channel) plane: the plane is staged -inf-padded, then one
// max_row call per output row reads every tap at a fixed offset. With a column
// stride the call covers every column between the first and last output column
// (consecutive pixels per tap, no gather) and the outputs are picked from it: twice
// the comparisons at stride 2, all of them vector ones. ATen's CPU kernel walks each
// window pixel by pixel with index bookkeeping (4.4 ms for ResNet-50's 3x3/2 pool of
// a 64x112x112 map on AVX2).
#include "csrc/ops/pool/max_pool_host.h"

#include <ATen/Parallel.h>
#include <c10/util/BFloat16.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#include "aie_kernels/kernel_table.h"

namespace torch_aie::pool {

namespace {

// The padded plane: every row and column a window reaches, input at (pH, pW).
struct PaddedPlane {
  int64_t Hp, Wp;
  int64_t size() const { return Hp * Wp; }
};

PaddedPlane padded_plane(const PoolWindow& w, int64_t OH, int64_t OW) {
  return {(OH - 1) * w.sH + (w.kH - 1) * w.dH + 1, (OW - 1) * w.sW + (w.kW - 1) * w.dW + 1};
}

// Tap (kh, kw) of output (oh, ow) sits at oh * sH * Wp + taps[kh * kW + kw] + ow * sW,
// taps in ATen's order (row-major over the window).
std::vector<int64_t> tap_offsets(const PoolWindow& w, const PaddedPlane& p) {
  std::vector<int64_t> taps(w.kH * w.kW);
  for (int64_t kh = 0; kh < w.kH; ++kh)
    for (int64_t kw = 0; kw < w.kW; ++kw) taps[kh * w.kW + kw] = kh * w.dH * p.Wp + kw * w.dW;
  return taps;
}

// The plane at `src` (elements of T, strides sH, sW) staged -inf-padded as fp32 (bf16
// widens exactly).
template <class T>
void stage_plane(const T* src, int64_t H, int64_t W, int64_t sH, int64_t sW, const PoolWindow& w,
                 const PaddedPlane& p, float* plane) {
  constexpr float kLowest = -std::numeric_limits<float>::infinity();
  const int64_t w_end = std::min(W, p.Wp - w.pW);  // input columns some window reaches
  for (int64_t hp = 0; hp < p.Hp; ++hp) {
    float* d = plane + hp * p.Wp;
    const int64_t h = hp - w.pH;
    if (h < 0 || h >= H) {
      std::fill(d, d + p.Wp, kLowest);
      continue;
    }
    std::fill(d, d + w.pW, kLowest);
    const T* s = src + h * sH;
    if (std::is_same_v<T, float> && sW == 1)
      std::memcpy(d + w.pW, s, w_end * sizeof(float));
    else
      for (int64_t x = 0; x < w_end; ++x) d[w.pW + x] = static_cast<float>(s[x * sW]);
    std::fill(d + w.pW + w_end, d + p.Wp, kLowest);
  }
}

template <class T>
void pool_planes(const at::Tensor& x, const PoolWindow& w, const at::Tensor& out) {
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3), OH = out.size(2), OW = out.size(3);
  static const aie_kernels::KernelTable& kt = aie_kernels::kernel_table(aie_kernels::detect_host_isa());
  const PaddedPlane p = padded_plane(w, OH, OW);
  const std::vector<int64_t> taps = tap_offsets(w, p);
  // One kernel call covers the columns from the first output's window to the last's;
  // the outputs are every sW-th of them.
  const int64_t span = (OW - 1) * w.sW + 1;
  const int ntaps = static_cast<int>(taps.size());
  const T* xp = x.const_data_ptr<T>();
  T* op = out.data_ptr<T>();
  // Planes cost alike, so ATen's static split of them keeps the threads even.
  at::parallel_for(0, N * C, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> plane(p.size()), row(span);
    for (int64_t i = begin; i < end; ++i) {
      const int64_t n = i / C, c = i % C;
      stage_plane(xp + n * x.stride(0) + c * x.stride(1), H, W, x.stride(2), x.stride(3), w, p, plane.data());
      for (int64_t oh = 0; oh < OH; ++oh) {
        T* o = op + (i * OH + oh) * OW;
        const float* in = plane.data() + oh * w.sH * p.Wp;
        if constexpr (std::is_same_v<T, float>) {
          if (w.sW == 1) {  // the output row is the kernel's row itself
            kt.max_row(in, taps.data(), ntaps, o, OW);
            continue;
          }
        }
        kt.max_row(in, taps.data(), ntaps, row.data(), span);
        for (int64_t ow = 0; ow < OW; ++ow) o[ow] = static_cast<T>(row[ow * w.sW]);  // bf16: exact
      }
    }
  });
}

}  // namespace

void max_pool2d_host(const at::Tensor& x, const PoolWindow& w, const at::Tensor& out) {
  const auto dtype = x.scalar_type();
  TORCH_CHECK(x.dim() == 4 && (dtype == at::kFloat || dtype == at::kBFloat16) && out.scalar_type() == dtype &&
                  out.is_contiguous() && out.size(0) == x.size(0) && out.size(1) == x.size(1),
              "max_pool2d_host: needs a 4-D float32 or bfloat16 input and a contiguous output of its planes "
              "in the same dtype");
  if (out.numel() == 0) return;
  if (dtype == at::kFloat)
    pool_planes<float>(x, w, out);
  else
    pool_planes<c10::BFloat16>(x, w, out);
}

}  // namespace torch_aie::pool
