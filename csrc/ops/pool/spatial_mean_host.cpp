// Two layouts, each read in its own memory order: planar (NCHW) inputs sum each
// plane as one row (short planes several at once); NHWC inputs add whole pixel rows
// into per-channel accumulators. Tasks are fixed pieces of the work, so the split over
// threads never changes a result. ATen's CPU mean is a sum kernel and then a division
// kernel, each with its own TensorIterator set-up.
#include "csrc/ops/pool/spatial_mean_host.h"

#include <ATen/Parallel.h>
#include <c10/util/BFloat16.h>

#include <algorithm>
#include <type_traits>
#include <vector>

#include "aie_kernels/kernel_table.h"

namespace torch_aie::pool {

namespace {

using aie_kernels::kSumBlock;

// Short planes per task; NHWC pixels per task, and pixels summed in fp32 before they
// are folded into double.
constexpr int64_t kChannelSlice = 64;
constexpr int64_t kPixelBlock = 256;
constexpr int64_t kFoldPixels = 32;
// Elements a thread should have before ATen's pool splits work (at::internal::GRAIN_SIZE).
constexpr int64_t kGrainElements = 32768;

const aie_kernels::KernelTable& kernels() {
  static const aie_kernels::KernelTable& kt = aie_kernels::kernel_table(aie_kernels::detect_host_isa());
  return kt;
}

template <class T>
const float* as_float(const T* src, int64_t n, float* staged) {
  if constexpr (std::is_same_v<T, float>) {
    return src;
  } else {
    kernels().widen_bf16(reinterpret_cast<const uint16_t*>(src), n, staged);  // exact
    return staged;
  }
}

template <class T>
T mean_of(double sum, int64_t count) {
  return static_cast<T>(static_cast<float>(sum / static_cast<double>(count)));
}

// One plane per output: sum_row over the plane, a kSumBlock piece at a time for bf16.
template <class T>
void long_planar_means(const at::Tensor& x, T* out) {
  const int64_t C = x.size(1), HW = x.size(2) * x.size(3);
  const T* xp = x.const_data_ptr<T>();
  const int64_t sN = x.stride(0), sC = x.stride(1);
  const int64_t grain = std::max<int64_t>(1, kGrainElements / HW);
  at::parallel_for(0, x.size(0) * C, grain, [&](int64_t begin, int64_t end) {
    std::vector<float> staged(std::is_same_v<T, float> ? 0 : kSumBlock);
    for (int64_t i = begin; i < end; ++i) {
      const T* plane = xp + (i / C) * sN + (i % C) * sC;
      double sum = 0.0;
      for (int64_t b = 0; b < HW; b += kSumBlock) {
        const int64_t n = std::min(kSumBlock, HW - b);
        sum += kernels().sum_row(as_float(plane + b, n, staged.data()), n);
      }
      out[i] = mean_of<T>(sum, HW);
    }
  });
}

// Planes of at most kShortRow pixels: kChannelSlice planes of one image per task, in
// one sum_short_rows call (bf16 staged as fp32 rows first).
template <class T>
void short_planar_means(const at::Tensor& x, T* out) {
  const int64_t C = x.size(1), HW = x.size(2) * x.size(3);
  const T* xp = x.const_data_ptr<T>();
  const int64_t sN = x.stride(0), sC = x.stride(1);
  const int64_t slices = (C + kChannelSlice - 1) / kChannelSlice;
  const int64_t grain = std::max<int64_t>(1, kGrainElements / (HW * std::min(C, kChannelSlice)));
  at::parallel_for(0, x.size(0) * slices, grain, [&](int64_t begin, int64_t end) {
    std::vector<float> staged(std::is_same_v<T, float> ? 0 : kChannelSlice * HW);
    float sums[kChannelSlice];
    for (int64_t task = begin; task < end; ++task) {
      const int64_t n = task / slices, c0 = (task % slices) * kChannelSlice;
      const int64_t planes = std::min(kChannelSlice, C - c0);
      const T* first = xp + n * sN + c0 * sC;
      if constexpr (std::is_same_v<T, float>) {
        kernels().sum_short_rows(first, sC, planes, HW, sums);
      } else {
        for (int64_t p = 0; p < planes; ++p) as_float(first + p * sC, HW, staged.data() + p * HW);
        kernels().sum_short_rows(staged.data(), HW, planes, HW, sums);
      }
      for (int64_t p = 0; p < planes; ++p) out[n * C + c0 + p] = mean_of<T>(sums[p], HW);
    }
  });
}

// NHWC: each task adds the pixel rows (all C channels) of one fixed block of
// kPixelBlock pixels of one image into fp32 accumulators, folded into the block's
// double partial sums every kFoldPixels pixels; the blocks' partials are then added in
// block order.
template <class T>
void nhwc_means(const at::Tensor& x, T* out) {
  const int64_t N = x.size(0), C = x.size(1), HW = x.size(2) * x.size(3);
  const T* xp = x.const_data_ptr<T>();
  const int64_t sN = x.stride(0);
  const int64_t blocks = (HW + kPixelBlock - 1) / kPixelBlock;
  std::vector<double> partial(N * blocks * C);
  const int64_t grain = std::max<int64_t>(1, kGrainElements / (std::min(HW, kPixelBlock) * C));
  at::parallel_for(0, N * blocks, grain, [&](int64_t begin, int64_t end) {
    std::vector<float> acc(C), staged(std::is_same_v<T, float> ? 0 : C);
    for (int64_t task = begin; task < end; ++task) {
      const T* image = xp + (task / blocks) * sN;
      const int64_t p_end = std::min(HW, (task % blocks + 1) * kPixelBlock);
      double* sums = partial.data() + task * C;
      for (int64_t p0 = (task % blocks) * kPixelBlock; p0 < p_end; p0 += kFoldPixels) {
        std::fill(acc.begin(), acc.end(), 0.f);
        for (int64_t p = p0; p < std::min(p_end, p0 + kFoldPixels); ++p)
          kernels().add_row(as_float(image + p * C, C, staged.data()), C, acc.data());
        for (int64_t c = 0; c < C; ++c) sums[c] += acc[c];
      }
    }
  });
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c) {
      double total = 0.0;
      for (int64_t b = 0; b < blocks; ++b) total += partial[(n * blocks + b) * C + c];
      out[n * C + c] = mean_of<T>(total, HW);
    }
}

// Element (h, w) of each plane at h * W + w.
bool planar(const at::Tensor& x) {
  const int64_t H = x.size(2), W = x.size(3);
  return (W == 1 || x.stride(3) == 1) && (H == 1 || x.stride(2) == W);
}

// Element (c, h, w) of each image at (h * W + w) * C + c.
bool pixel_vectors(const at::Tensor& x) {
  const int64_t C = x.size(1), W = x.size(3);
  return (C == 1 || x.stride(1) == 1) && (W == 1 || x.stride(3) == C) && (x.size(2) == 1 || x.stride(2) == W * C);
}

template <class T>
void spatial_means(const at::Tensor& x, const at::Tensor& out) {
  T* o = out.data_ptr<T>();
  if (planar(x) && x.size(2) * x.size(3) <= aie_kernels::kShortRow)
    short_planar_means<T>(x, o);
  else if (planar(x))
    long_planar_means<T>(x, o);
  else
    nhwc_means<T>(x, o);
}

}  // namespace

bool spatial_mean_layout_ok(const at::Tensor& x) {
  const auto dtype = x.scalar_type();
  return x.dim() == 4 && (dtype == at::kFloat || dtype == at::kBFloat16) && (planar(x) || pixel_vectors(x));
}

void spatial_mean_host(const at::Tensor& x, const at::Tensor& out) {
  TORCH_CHECK(spatial_mean_layout_ok(x) && x.size(2) * x.size(3) > 0 && out.scalar_type() == x.scalar_type() &&
                  out.is_contiguous() && out.numel() == x.size(0) * x.size(1),
              "spatial_mean_host: needs a 4-D float32 or bfloat16 input with contiguous planes or pixels, and a "
              "contiguous output of N * C elements in its dtype");
  if (out.numel() == 0) return;
  if (x.scalar_type() == at::kFloat)
    spatial_means<float>(x, out);
  else
    spatial_means<c10::BFloat16>(x, out);
}

}  // namespace torch_aie::pool
