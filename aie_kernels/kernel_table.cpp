// Kernel table selection, bf16 rounding and the ISA-independent packers.
#include "aie_kernels/kernel_table.h"

#include <c10/util/BFloat16.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>

#include "aie_kernels/bf16.h"

namespace aie_kernels {

KernelTable make_table_scalar();
KernelTable make_table_avx2();
KernelTable make_table_avx512();
#if TORCH_AIE_KERNELS_HAVE_AVX512BF16
bool depthwise_bf16_rows_avx512bf16(const uint16_t* base, const int64_t* row_off, int kh_count, int kw_count,
                                    int stride, int64_t pix_stride, const float* w, const DepthwiseOut& out,
                                    int npix, const WindowClip* clip);
#endif

float round_to_bf16(float x) { return static_cast<float>(c10::BFloat16(x)); }

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::Scalar: return "scalar";
    case Isa::Avx2: return "avx2+fma";
    case Isa::Avx512: return "avx512f";
    case Isa::Avx512Bf16: return "avx512f+avx512_bf16";
    case Isa::AmxBf16: return "avx512f+avx512_bf16+amx_bf16";
  }
  return "unknown";
}

namespace {

// The native-bf16 ISAs run the fp32 kernels (depthwise, epilogues, rounding) of AVX-512,
// and the bf16 depthwise window kernel that converts with vcvtne2ps2bf16 (same bits).
KernelTable with_isa(KernelTable t, Isa isa) {
  t.isa = isa;
#if TORCH_AIE_KERNELS_HAVE_AVX512BF16
  t.depthwise_bf16_rows = &depthwise_bf16_rows_avx512bf16;
#endif
  return t;
}

}  // namespace

const KernelTable& kernel_table(Isa isa) {
  // Each table is built on first use, and only for an ISA this host executes: a
  // make_table_* is compiled for its ISA, and the compiler may fill the table with that
  // ISA's registers (AVX-512 stores crashed AVX2-only hosts when all were built eagerly).
  if (static_cast<int>(isa) > static_cast<int>(host_hardware_isa()))
    throw std::invalid_argument(std::string("aie_kernels: this host cannot execute ") + isa_name(isa) +
                                " kernels (its best is " + isa_name(host_hardware_isa()) + ")");
  switch (isa) {
    case Isa::Scalar: { static const KernelTable t = make_table_scalar(); return t; }
    case Isa::Avx2: { static const KernelTable t = make_table_avx2(); return t; }
    case Isa::Avx512: { static const KernelTable t = make_table_avx512(); return t; }
    case Isa::Avx512Bf16: { static const KernelTable t = with_isa(make_table_avx512(), isa); return t; }
    case Isa::AmxBf16: { static const KernelTable t = with_isa(make_table_avx512(), isa); return t; }
  }
  throw std::invalid_argument("aie_kernels: unknown ISA");
}

void pack_a_panel(const float* const* rows, int nrows, const int64_t* tap_off, int64_t channels,
                  int64_t k0, int64_t kc, float* panel) {
  // Walk the reduction range tap by tap: within a tap the channels are contiguous.
  int64_t p = k0;
  const int64_t end = k0 + kc;
  while (p < end) {
    const int64_t t = p / channels, ch0 = p % channels;
    const int64_t run = std::min(channels - ch0, end - p);
    float* dst = panel + (p - k0) * kMR;
    for (int i = 0; i < kMR; ++i) {
      if (i < nrows) {
        const float* src = rows[i] + tap_off[t] + ch0;
        for (int64_t q = 0; q < run; ++q) dst[q * kMR + i] = src[q];
      } else {
        for (int64_t q = 0; q < run; ++q) dst[q * kMR + i] = 0.f;
      }
    }
    p += run;
  }
}

void pack_b_panels(const float* w, int64_t n_count, int64_t k, float* out) {
  const int64_t panels = ceil_div(n_count, kNR);
  for (int64_t np = 0; np < panels; ++np) {
    float* dst = out + np * k * kNR;
    for (int j = 0; j < kNR; ++j) {
      const int64_t n = np * kNR + j;
      if (n < n_count) {
        const float* src = w + n * k;
        for (int64_t p = 0; p < k; ++p) dst[p * kNR + j] = src[p];
      } else {
        for (int64_t p = 0; p < k; ++p) dst[p * kNR + j] = 0.f;
      }
    }
  }
}

namespace {

// Copies len <= kNR floats with a few fixed-size (vector) moves; the two moves of
// a size class overlap instead of looping over a tail.
inline void copy_run(float* dst, const float* src, int32_t len) {
  static_assert(kNR == 16, "copy_run covers runs of up to 16 floats");
  if (len >= 8) {
    std::memcpy(dst, src, 8 * sizeof(float));
    std::memcpy(dst + len - 8, src + len - 8, 8 * sizeof(float));
  } else if (len >= 4) {
    std::memcpy(dst, src, 4 * sizeof(float));
    std::memcpy(dst + len - 4, src + len - 4, 4 * sizeof(float));
  } else {
    for (int32_t q = 0; q < len; ++q) dst[q] = src[q];
  }
}

}  // namespace

void pack_b_runs(const float* src, const int64_t* k_off, int64_t kc, const PixelRun* runs,
                 int nruns, float* panel) {
  if (nruns == 1 && runs[0].len == kNR) {  // the common case: one whole row segment
    const float* s0 = src + runs[0].base;
    for (int64_t k = 0; k < kc; ++k) std::memcpy(panel + k * kNR, s0 + k_off[k], kNR * sizeof(float));
    return;
  }
  int covered = 0;
  for (int r = 0; r < nruns; ++r) covered += runs[r].len;
  if (covered < kNR) std::fill(panel, panel + kc * kNR, 0.f);
  for (int64_t k = 0; k < kc; ++k) {
    float* dst = panel + k * kNR;
    for (int r = 0; r < nruns; ++r) copy_run(dst + runs[r].j0, src + k_off[k] + runs[r].base, runs[r].len);
  }
}

}  // namespace aie_kernels
