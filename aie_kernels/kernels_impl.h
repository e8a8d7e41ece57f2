// Kernel bodies, written once against the Vec abstraction and compiled once per
// ISA (isa_*.cpp). Include only from those files, inside their own namespace, so
// that the per-ISA instantiations never merge at link time.
//
// Numerics: every output element starts at +0 and accumulates its reduction terms
// in order with one fused multiply-add each. The inputs are bf16 values held in
// fp32, so each product is exact and the FMA equals the AIE's bf16 MAC into an
// fp32 accumulator. Lanes never exchange data, so the vector width (the ISA)
// cannot change a result.

constexpr int NV = kNR / V::N;

// Copies len <= kNR floats with a few fixed-size moves; the two moves of a size
// class overlap instead of looping over a tail.
inline void copy_run(float* dst, const float* src, int32_t len) {
  static_assert(kNR == 16, "copy_run covers runs of up to 16 floats");
  if (len == kNR) {
    std::memcpy(dst, src, kNR * sizeof(float));
  } else if (len >= 8) {
    std::memcpy(dst, src, 8 * sizeof(float));
    std::memcpy(dst + len - 8, src + len - 8, 8 * sizeof(float));
  } else if (len >= 4) {
    std::memcpy(dst, src, 4 * sizeof(float));
    std::memcpy(dst + len - 4, src + len - 4, 4 * sizeof(float));
  } else {
    for (int32_t q = 0; q < len; ++q) dst[q] = src[q];
  }
}

inline void load_or_zero(V (&acc)[kMR][NV], const float* c, int64_t ldc, bool accumulate) {
  for (int i = 0; i < kMR; ++i)
    for (int j = 0; j < NV; ++j)
      acc[i][j] = V::load_or_zero(c + i * ldc + j * V::N, accumulate);
}

inline void store_tile(const V (&acc)[kMR][NV], float* c, int64_t ldc) {
  for (int i = 0; i < kMR; ++i)
    for (int j = 0; j < NV; ++j) acc[i][j].store(c + i * ldc + j * V::N);
}

// The packed micro-kernel's reduction: acc[i][j] += a[p][i] * b[p][j] for p < k, one
// in-order FMA chain per element (every packed-GEMM form shares it).
inline void fma_packed(V (&acc)[kMR][NV], int64_t k, const float* a, const float* b) {
  for (int64_t p = 0; p < k; ++p) {
    V bv[NV];
    for (int j = 0; j < NV; ++j) bv[j] = V::load(b + j * V::N);
    for (int i = 0; i < kMR; ++i) {
      V av = V::broadcast(a[i]);
      for (int j = 0; j < NV; ++j) acc[i][j] = V::fma(av, bv[j], acc[i][j]);
    }
    a += kMR;
    b += kNR;
  }
}

void gemm_packed(int64_t k, const float* a, const float* b, float* c, int64_t ldc,
                 bool accumulate) {
  V acc[kMR][NV];
  load_or_zero(acc, c, ldc, accumulate);
  fma_packed(acc, k, a, b);
  store_tile(acc, c, ldc);
}

void gemm_direct(const float* const* rows, const int64_t* tap_off, int ntaps, int64_t kc,
                 const float* b, float* c, int64_t ldc, bool accumulate) {
  V acc[kMR][NV];
  load_or_zero(acc, c, ldc, accumulate);
  for (int t = 0; t < ntaps; ++t) {
    const float* r[kMR];
    for (int i = 0; i < kMR; ++i) r[i] = rows[i] + tap_off[t];
    for (int64_t p = 0; p < kc; ++p) {
      V bv[NV];
      for (int j = 0; j < NV; ++j) bv[j] = V::load(b + j * V::N);
      for (int i = 0; i < kMR; ++i) {
        V av = V::broadcast(r[i][p]);
        for (int j = 0; j < NV; ++j) acc[i][j] = V::fma(av, bv[j], acc[i][j]);
      }
      b += kNR;
    }
  }
  store_tile(acc, c, ldc);
}

// A pixel vector as fp32: fp32 storage loaded, bf16 bits widened (exactly).
inline V load_pixels(const float* p) { return V::load(p); }
inline V load_pixels(const uint16_t* p) { return V::load_bits(p); }
inline VecScalar load_pixel(const float* p) { return VecScalar::load(p); }
inline VecScalar load_pixel(const uint16_t* p) { return VecScalar::load_bits(p); }

// P pixels at once: one FMA chain per pixel in registers, each tap's weight vector
// loaded once for all of them; every element keeps its own tap order. Returns the
// channels done (whole vectors).
template <int P, class T>
int64_t depthwise_pixels(const T* const* pix, const int64_t* tap_off, int ntaps, int64_t channels,
                         const float* w, float* out, int64_t ld_out, bool accumulate) {
  int64_t ch = 0;
  for (; ch + V::N <= channels; ch += V::N) {
    V acc[P];
    for (int j = 0; j < P; ++j) acc[j] = accumulate ? V::load(out + j * ld_out + ch) : V::zero();
    for (int t = 0; t < ntaps; ++t) {
      const V wt = V::load(w + t * channels + ch);
      const int64_t off = tap_off[t] + ch;
      for (int j = 0; j < P; ++j) acc[j] = V::fma(load_pixels(pix[j] + off), wt, acc[j]);
    }
    for (int j = 0; j < P; ++j) acc[j].store(out + j * ld_out + ch);
  }
  return ch;
}

// `depthwise` on pixels of either storage (fp32, or bf16 bits widened as loaded: the
// same FMA chain per element as on the widened values).
template <class T>
void depthwise_of(const T* const* pix, int npix, const int64_t* tap_off, int ntaps, int64_t channels, const float* w,
                  float* out, int64_t ld_out, bool accumulate) {
  int64_t ch = 0;
  switch (npix) {  // the pixel-row emulator's chunks: up to 8 pixels (short rows: fewer)
#define TORCH_AIE_DW_CASE(P) \
  case P: ch = depthwise_pixels<P>(pix, tap_off, ntaps, channels, w, out, ld_out, accumulate); break;
    TORCH_AIE_DW_CASE(1) TORCH_AIE_DW_CASE(2) TORCH_AIE_DW_CASE(3) TORCH_AIE_DW_CASE(4)
    TORCH_AIE_DW_CASE(5) TORCH_AIE_DW_CASE(6) TORCH_AIE_DW_CASE(7) TORCH_AIE_DW_CASE(8)
#undef TORCH_AIE_DW_CASE
    default: break;
  }
  for (; ch + V::N <= channels; ch += V::N) {
    for (int j = 0; j < npix; ++j) {
      V acc = accumulate ? V::load(out + j * ld_out + ch) : V::zero();
      for (int t = 0; t < ntaps; ++t)
        acc = V::fma(load_pixels(pix[j] + tap_off[t] + ch), V::load(w + t * channels + ch), acc);
      acc.store(out + j * ld_out + ch);
    }
  }
  for (; ch < channels; ++ch) {  // channel tail: the same FMA chain, one lane
    for (int j = 0; j < npix; ++j) {
      VecScalar acc{accumulate ? out[j * ld_out + ch] : 0.f};
      for (int t = 0; t < ntaps; ++t)
        acc = VecScalar::fma(load_pixel(pix[j] + tap_off[t] + ch), VecScalar{w[t * channels + ch]}, acc);
      out[j * ld_out + ch] = acc.v;
    }
  }
}

void depthwise(const float* const* pix, int npix, const int64_t* tap_off, int ntaps,
               int64_t channels, const float* w, float* out, int64_t ld_out, bool accumulate) {
  depthwise_of(pix, npix, tap_off, ntaps, channels, w, out, ld_out, accumulate);
}

void depthwise_bf16(const uint16_t* const* pix, int npix, const int64_t* tap_off, int ntaps, int64_t channels,
                    const float* w, float* out, int64_t ld_out) {
  depthwise_of(pix, npix, tap_off, ntaps, channels, w, out, ld_out, false);
}

void depthwise_row(const float* src, const int64_t* tap_off, int ntaps, const float* w,
                   int64_t w_stride, float* out, int64_t n, bool accumulate) {
  // kRowVecs independent FMA chains at a time, so that FMA latency is hidden and each
  // tap's broadcast weight is shared; every element keeps its own tap order.
  constexpr int kRowVecs = 4;
  int64_t j = 0;
  for (; j + kRowVecs * V::N <= n; j += kRowVecs * V::N) {
    V acc[kRowVecs];
    for (int u = 0; u < kRowVecs; ++u) acc[u] = accumulate ? V::load(out + j + u * V::N) : V::zero();
    for (int t = 0; t < ntaps; ++t) {
      const V wt = V::broadcast(w[t * w_stride]);
      const float* s = src + tap_off[t] + j;
      for (int u = 0; u < kRowVecs; ++u) acc[u] = V::fma(V::load(s + u * V::N), wt, acc[u]);
    }
    for (int u = 0; u < kRowVecs; ++u) acc[u].store(out + j + u * V::N);
  }
  for (; j + V::N <= n; j += V::N) {
    V acc = accumulate ? V::load(out + j) : V::zero();
    for (int t = 0; t < ntaps; ++t)
      acc = V::fma(V::load(src + tap_off[t] + j), V::broadcast(w[t * w_stride]), acc);
    acc.store(out + j);
  }
  // The tail as one vector ending at n, overlapping the last one: each element's FMA
  // chain is its own, so the overlap rewrites the same values. (Not when accumulating:
  // the overlap would add twice.)
  if (j < n && n >= V::N && !accumulate) {
    j = n - V::N;
    V acc = V::zero();
    for (int t = 0; t < ntaps; ++t)
      acc = V::fma(V::load(src + tap_off[t] + j), V::broadcast(w[t * w_stride]), acc);
    acc.store(out + j);
    return;
  }
  for (; j < n; ++j) {
    float acc = accumulate ? out[j] : 0.f;
    for (int t = 0; t < ntaps; ++t) acc = std::fma(src[tap_off[t] + j], w[t * w_stride], acc);
    out[j] = acc;
  }
}

// Max pooling over one planar output row: out[j] = the ATen CPU rule (V::max_or_nan)
// folded over src[tap_off[t] + j] for t in order, from -inf. Padding is staged as -inf,
// which never wins, so the result is the same as skipping out-of-bounds taps.
void max_row(const float* src, const int64_t* tap_off, int ntaps, float* out, int64_t n) {
  constexpr int kRowVecs = 4;  // independent chains, as in depthwise_row
  const float lowest = -std::numeric_limits<float>::infinity();
  int64_t j = 0;
  for (; j + kRowVecs * V::N <= n; j += kRowVecs * V::N) {
    V acc[kRowVecs];
    for (int u = 0; u < kRowVecs; ++u) acc[u] = V::broadcast(lowest);
    for (int t = 0; t < ntaps; ++t)
      for (int u = 0; u < kRowVecs; ++u) acc[u] = V::max_or_nan(V::load(src + tap_off[t] + j + u * V::N), acc[u]);
    for (int u = 0; u < kRowVecs; ++u) acc[u].store(out + j + u * V::N);
  }
  // Then single vectors, the last one ending at n (an overlap recomputes the same values).
  for (; j < n && n >= V::N; j += V::N) {
    j = std::min(j, n - V::N);
    V acc = V::broadcast(lowest);
    for (int t = 0; t < ntaps; ++t) acc = V::max_or_nan(V::load(src + tap_off[t] + j), acc);
    acc.store(out + j);
  }
  for (; j < n; ++j) {
    VecScalar acc{lowest};
    for (int t = 0; t < ntaps; ++t) acc = VecScalar::max_or_nan(VecScalar{src[tap_off[t] + j]}, acc);
    out[j] = acc.v;
  }
}

template <Rounding kMode, class W>
inline W round_one(W x) {
  if constexpr (kMode == Rounding::None) {
    return x;
  } else if constexpr (kMode == Rounding::Bf16Lo) {
    W r = W::zero_if_nonfinite(W::sub(x, W::round_bf16(x)));
    return W::round_bf16(r);
  } else if constexpr (kMode == Rounding::Bf16Finite) {
    return W::zero_if_nonfinite(W::round_bf16(x));
  } else {
    return W::round_bf16(x);
  }
}

template <Rounding kMode>
void round_loop(const float* src, float* dst, int64_t n) {
  int64_t i = 0;
  for (; i + V::N <= n; i += V::N) round_one<kMode, V>(V::load(src + i)).store(dst + i);
  for (; i < n; ++i) dst[i] = round_one<kMode, VecScalar>(VecScalar{src[i]}).v;
}

// f(integral_constant<Rounding, mode>): a run-time rounding mode as the template
// argument of the kernel bodies that are compiled per mode.
template <class F>
inline void with_rounding(Rounding mode, F&& f) {
  switch (mode) {
    case Rounding::Bf16: return f(std::integral_constant<Rounding, Rounding::Bf16>{});
    case Rounding::Bf16Finite: return f(std::integral_constant<Rounding, Rounding::Bf16Finite>{});
    case Rounding::Bf16Lo: return f(std::integral_constant<Rounding, Rounding::Bf16Lo>{});
    case Rounding::None: return f(std::integral_constant<Rounding, Rounding::None>{});
  }
}

template <Rounding kMode>
void round_bf16_loop(const uint16_t* src, float* dst, int64_t n) {
  int64_t i = 0;
  for (; i + V::N <= n; i += V::N) round_one<kMode, V>(V::load_bits(src + i)).store(dst + i);
  for (; i < n; ++i) dst[i] = round_one<kMode, VecScalar>(VecScalar::load_bits(src + i)).v;
}

void round_bf16_f32(const uint16_t* src, float* dst, int64_t n, Rounding mode) {
  with_rounding(mode, [&](auto m) { round_bf16_loop<m.value>(src, dst, n); });
}

void round_f32(const float* src, float* dst, int64_t n, Rounding mode) {
  with_rounding(mode, [&](auto m) { round_loop<m.value>(src, dst, n); });
}

#include "aie_kernels/activation_impl.h"

inline void store_bf16(float v, uint16_t* dst) { VecScalar{v}.store_bits(dst); }

inline float load_bf16(const uint16_t* p) { return VecScalar::load_bits(p).v; }

// Residual element at element offset `off` from its base, as fp32.
inline float residual_at(const Residual& r, int64_t off) {
  return r.bf16 ? load_bf16(static_cast<const uint16_t*>(r.data) + off)
                : static_cast<const float*>(r.data)[off];
}

// V::N consecutive residual elements from element offset `off`, as fp32.
inline V residual_vec(const Residual& r, int64_t off) {
  return r.bf16 ? V::load_bits(static_cast<const uint16_t*>(r.data) + off)
                : V::load(static_cast<const float*>(r.data) + off);
}

// One contiguous run of outputs: a channels-last row (bias per element) or a planar
// channel row (bias_stride 0: the channel's bias for every pixel).
__attribute__((always_inline)) inline void epilogue_contiguous(const float* c, int64_t cols, const float* bias, int bias_stride,
                         Activation act, const Residual& res, void* out, bool bf16) {
  float* of = static_cast<float*>(out);
  uint16_t* ob = static_cast<uint16_t*>(out);
  auto vector_at = [&](int64_t j) {
    V v = V::load(c + j);
    if (bias) v = V::add(v, bias_stride ? V::load(bias + j) : V::broadcast(*bias));
    if (res.data) v = V::add(v, residual_vec(res, j));
    v = activate(v, act);
    if (bf16)
      V::round_bf16(v).store_bits(ob + j);
    else
      v.store(of + j);
  };
  int64_t j = 0;
  for (; j + V::N <= cols; j += V::N) vector_at(j);
  // The tail as one more vector ending at `cols`, overlapping the previous one: out is
  // a function of c element by element, so the overlap rewrites the same values.
  if (j < cols && cols >= V::N) {
    vector_at(cols - V::N);
    return;
  }
  for (; j < cols; ++j) {
    VecScalar v{c[j]};
    if (bias) v = VecScalar::add(v, VecScalar{bias_stride ? bias[j] : *bias});
    if (res.data) v = VecScalar::add(v, VecScalar{residual_at(res, j)});
    v = activate(v, act);
    if (bf16)
      store_bf16(VecScalar::round_bf16(v).v, ob + j);
    else
      of[j] = v.v;
  }
}

inline Residual offset(const Residual& r, int64_t elements) {
  if (!r.data) return r;
  const char* p = static_cast<const char*>(r.data) + elements * (r.bf16 ? 2 : 4);
  return Residual{p, r.bf16};
}

// One finished output vector of a channels-last pixel: epilogue_contiguous's steps.
template <Activation A>
__attribute__((always_inline)) inline void finish_store(V v, const DepthwiseOut& o, int64_t e, int64_t ch) {
  if (o.bias) v = V::add(v, V::load(o.bias + ch));
  if (o.res.data) v = V::add(v, residual_vec(o.res, e));
  v = activate<A>(v);
  if (o.bf16)
    V::round_bf16(v).store_bits(static_cast<uint16_t*>(o.data) + e);
  else
    v.store(static_cast<float*>(o.data) + e);
}

inline void finish_store_scalar(float acc, const DepthwiseOut& o, int64_t e, int64_t ch) {
  VecScalar v{acc};
  if (o.bias) v = VecScalar::add(v, VecScalar{o.bias[ch]});
  if (o.res.data) v = VecScalar::add(v, VecScalar{residual_at(o.res, e)});
  v = activate(v, o.act);
  if (o.bf16)
    store_bf16(VecScalar::round_bf16(v).v, static_cast<uint16_t*>(o.data) + e);
  else
    static_cast<float*>(o.data)[e] = v.v;
}

// Whether window pixel p of kernel row kh is read (inside the image), given a clip.
inline bool window_reads(const WindowClip* clip, int kh, int p) {
  return !clip || (kh >= clip->row_first && kh < clip->row_last && p >= clip->first && p < clip->last);
}

// depthwise_bf16_rows for windows KW wide at stride SW: each input pixel of a kernel
// row is loaded and widened once and feeds every output whose window holds it (the
// pointer form loads it once per tap). For each output the taps still go kernel row
// by kernel row, left to right: the same FMA chain. Outputs are finished in registers.
// Clipped: `clip` names the pixels read, zeros stand for the others.
template <int KW, int SW, bool Clipped>
void depthwise_bf16_window(const uint16_t* base, const int64_t* row_off, int kh_count, int64_t pix_stride,
                           const float* w, const DepthwiseOut& o, int npix, const WindowClip* clip) {
  constexpr int P = kChunkPixels, span = (P - 1) * SW + KW;
  const int64_t channels = o.channels;
  int64_t ch = 0;
  for (; ch + V::N <= channels; ch += V::N) {
    V acc[P];
    static_for<P>([&](auto j) { acc[j] = V::zero(); });
    for (int kh = 0; kh < kh_count; ++kh) {
      V wv[KW];
      static_for<KW>([&](auto kw) { wv[kw] = V::load(w + (kh * KW + kw) * channels + ch); });
      const uint16_t* row = base + row_off[kh] + ch;
      static_for<span>([&](auto p) {
        const V v = !Clipped || window_reads(clip, kh, p) ? V::load_bits(row + p * pix_stride) : V::zero();
        static_for<KW>([&](auto kw) {
          constexpr int q = p - kw;
          if constexpr (q >= 0 && q % SW == 0 && q / SW < P) acc[q / SW] = V::fma(v, wv[kw], acc[q / SW]);
        });
      });
    }
    with_activation(o.act, [&](auto a) {
      static_for<P>([&](auto j) {
        if (j < npix) finish_store<decltype(a)::value>(acc[j], o, j * o.pix_stride + ch, ch);
      });
    });
  }
  for (; ch < channels; ++ch)  // the channel tail, one lane: the same chain
    for (int j = 0; j < npix; ++j) {
      VecScalar a = VecScalar::zero();
      for (int kh = 0; kh < kh_count; ++kh)
        for (int kw = 0; kw < KW; ++kw) {
          const int p = j * SW + kw;
          const VecScalar x = window_reads(clip, kh, p)
                                  ? VecScalar::load_bits(base + row_off[kh] + p * pix_stride + ch)
                                  : VecScalar::zero();
          a = VecScalar::fma(x, VecScalar{w[(kh * KW + kw) * channels + ch]}, a);
        }
      finish_store_scalar(a.v, o, j * o.pix_stride + ch, ch);
    }
}

bool depthwise_bf16_rows(const uint16_t* base, const int64_t* row_off, int kh_count, int kw_count, int stride,
                         int64_t pix_stride, const float* w, const DepthwiseOut& out, int npix,
                         const WindowClip* clip) {
  return with_window_form(kw_count, stride, [&](auto kw, auto sw) {
    constexpr int KW = decltype(kw)::value, SW = decltype(sw)::value;
    if (clip)
      depthwise_bf16_window<KW, SW, true>(base, row_off, kh_count, pix_stride, w, out, npix, clip);
    else
      depthwise_bf16_window<KW, SW, false>(base, row_off, kh_count, pix_stride, w, out, npix, nullptr);
  });
}

// Rows [i_begin, i_end) x columns [j_begin, j_end) of a pixel-row tile written to
// channel-planar outputs: each channel's run of pixels gathered, finished as vectors, stored.
void epilogue_planar_columns(const float* c, int64_t ldc, int64_t i_begin, int64_t i_end, int64_t j_begin,
                             int64_t j_end, const float* bias, Activation act, const Residual& res, char* o,
                             bool bf16, int64_t row_stride, int64_t col_stride) {
  const int64_t esize = bf16 ? 2 : 4;
  float col[kMC_MAX], rcol[kMC_MAX];
  for (int64_t i0 = i_begin; i0 < i_end; i0 += kMC_MAX) {
    const int64_t n = std::min<int64_t>(kMC_MAX, i_end - i0);
    for (int64_t j = j_begin; j < j_end; ++j) {
      for (int64_t i = 0; i < n; ++i) col[i] = c[(i0 + i) * ldc + j];
      if (res.data)
        for (int64_t i = 0; i < n; ++i) rcol[i] = residual_at(res, j * col_stride + (i0 + i) * row_stride);
      const float b = bias ? bias[j] : 0.f;
      int64_t i = 0;
      for (; i + V::N <= n; i += V::N) {
        V v = V::load(col + i);
        if (bias) v = V::add(v, V::broadcast(b));
        if (res.data) v = V::add(v, V::load(rcol + i));
        v = activate(v, act);
        if (bf16) v = V::round_bf16(v);
        v.store(col + i);
      }
      for (; i < n; ++i) {
        VecScalar v{col[i]};
        if (bias) v = VecScalar::add(v, VecScalar{b});
        if (res.data) v = VecScalar::add(v, VecScalar{rcol[i]});
        v = activate(v, act);
        if (bf16) v = VecScalar::round_bf16(v);
        col[i] = v.v;
      }
      char* dst = o + (j * col_stride + i0 * row_stride) * esize;
      if (bf16) {
        for (int64_t q = 0; q < n; ++q) store_bf16(col[q], reinterpret_cast<uint16_t*>(dst) + q * row_stride);
      } else {
        for (int64_t q = 0; q < n; ++q) reinterpret_cast<float*>(dst)[q * row_stride] = col[q];
      }
    }
  }
}

// The first `rows` x `cols` (multiples of V::N) of a pixel-row tile written to
// channel-planar outputs whose pixels are contiguous: each element sees the same
// operations, in the same order, as in epilogue_planar_columns.
void epilogue_planar_blocks(const float* c, int64_t ldc, int64_t rows, int64_t cols, const float* bias,
                            Activation act, const Residual& res, char* o, bool bf16, int64_t col_stride) {
  const int64_t esize = bf16 ? 2 : 4;
  for (int64_t j0 = 0; j0 < cols; j0 += V::N)
    for (int64_t i0 = 0; i0 < rows; i0 += V::N) {
      V r[V::N];
      for (int q = 0; q < V::N; ++q) r[q] = V::load(c + (i0 + q) * ldc + j0);
      V::transpose_square(r);  // r[q]: channel j0 + q, pixels i0 ..
      for (int q = 0; q < V::N; ++q) {
        const int64_t off = (j0 + q) * col_stride + i0;
        V v = r[q];
        if (bias) v = V::add(v, V::broadcast(bias[j0 + q]));
        if (res.data) v = V::add(v, residual_vec(res, off));
        v = activate(v, act);
        if (bf16)
          V::round_bf16(v).store_bits(reinterpret_cast<uint16_t*>(o) + off);
        else
          v.store(reinterpret_cast<float*>(o + off * esize));
      }
    }
}

void epilogue(const float* c, int64_t ldc, int64_t rows, int64_t cols, const float* bias,
              Activation act, Residual res, void* out, bool bf16, int64_t row_stride,
              int64_t col_stride) {
  const int64_t esize = bf16 ? 2 : 4;
  char* o = static_cast<char*>(out);
  if (col_stride == 1) {
    for (int64_t i = 0; i < rows; ++i)
      epilogue_contiguous(c + i * ldc, cols, bias, 1, act, offset(res, i * row_stride),
                          o + i * row_stride * esize, bf16);
    return;
  }
  if (rows < V::N) {
    // Few pixels (depthwise chunks): vectors across the channels of each pixel, then the
    // channel-planar stores. Each element sees the same operations as below.
    float tmp[kMC_MAX * 16];
    for (int64_t j0 = 0; j0 < cols; j0 += 16) {
      const int64_t nj = std::min<int64_t>(16, cols - j0);
      for (int64_t i = 0; i < rows; ++i) {
        int64_t j = 0;
        for (; j + V::N <= nj; j += V::N) {
          V v = V::load(c + i * ldc + j0 + j);
          if (bias) v = V::add(v, V::load(bias + j0 + j));
          if (res.data) {
            float r[V::N];
            for (int q = 0; q < V::N; ++q) r[q] = residual_at(res, (j0 + j + q) * col_stride + i * row_stride);
            v = V::add(v, V::load(r));
          }
          v = activate(v, act);
          if (bf16) v = V::round_bf16(v);
          v.store(tmp + i * 16 + j);
        }
        for (; j < nj; ++j) {
          VecScalar v{c[i * ldc + j0 + j]};
          if (bias) v = VecScalar::add(v, VecScalar{bias[j0 + j]});
          if (res.data) v = VecScalar::add(v, VecScalar{residual_at(res, (j0 + j) * col_stride + i * row_stride)});
          v = activate(v, act);
          if (bf16) v = VecScalar::round_bf16(v);
          tmp[i * 16 + j] = v.v;
        }
      }
      for (int64_t j = 0; j < nj; ++j) {
        char* dst = o + (j0 + j) * col_stride * esize;
        if (bf16) {
          for (int64_t i = 0; i < rows; ++i) store_bf16(tmp[i * 16 + j], reinterpret_cast<uint16_t*>(dst) + i * row_stride);
        } else {
          for (int64_t i = 0; i < rows; ++i) reinterpret_cast<float*>(dst)[i * row_stride] = tmp[i * 16 + j];
        }
      }
    }
    return;
  }
  // Channel-planar outputs (NCHW) with each channel's pixels contiguous: V::N x V::N
  // blocks transposed in registers, then whole vectors per channel; the edges by columns.
  int64_t rows_done = 0, cols_done = 0;
  if (row_stride == 1 && V::N > 1) {
    rows_done = rows / V::N * V::N;
    cols_done = cols / V::N * V::N;
    epilogue_planar_blocks(c, ldc, rows_done, cols_done, bias, act, res, o, bf16, col_stride);
  }
  epilogue_planar_columns(c, ldc, 0, rows, cols_done, cols, bias, act, res, o, bf16, row_stride, col_stride);
  epilogue_planar_columns(c, ldc, rows_done, rows, 0, cols_done, bias, act, res, o, bf16, row_stride, col_stride);
}

void epilogue_rows(const float* c, int64_t ldc, int64_t rows, int64_t cols, const float* bias,
                   Activation act, Residual res, void* out, bool bf16, int64_t ld_out) {
  char* o = static_cast<char*>(out);
  for (int64_t i = 0; i < rows; ++i)
    epilogue_contiguous(c + i * ldc, cols, bias ? bias + i : nullptr, 0, act, offset(res, i * ld_out),
                        o + i * ld_out * (bf16 ? 2 : 4), bf16);
}

// The bf16 values round_one gives are exact in their top 16 bits.
template <Rounding kMode>
void round_bits_loop(const float* src, uint16_t* dst, int64_t n) {
  int64_t i = 0;
  for (; i + V::N <= n; i += V::N) {
    round_one<kMode, V>(V::load(src + i)).store_bits(dst + i);
  }
  for (; i < n; ++i) store_bf16(round_one<kMode, VecScalar>(VecScalar{src[i]}).v, dst + i);
}

void round_bits(const float* src, uint16_t* dst, int64_t n, Rounding mode) {
  with_rounding(mode, [&](auto m) { round_bits_loop<m.value>(src, dst, n); });
}

// fp32 or bf16 (bits) pixel rows, times scale[c], rounded by kMode.
template <Rounding kMode, class T>
void scale_round_bits_loop(const T* src, const float* scale, int64_t C, int64_t W, uint16_t* dst) {
  auto vec = [](const T* p) {
    if constexpr (std::is_same_v<T, uint16_t>) return V::load_bits(p);
    else return V::load(p);
  };
  auto one = [](const T* p) {
    if constexpr (std::is_same_v<T, uint16_t>) return load_bf16(p);
    else return *p;
  };
  for (int64_t w = 0; w < W; ++w) {
    const T* x = src + w * C;
    uint16_t* d = dst + w * C;
    int64_t c = 0;
    for (; c + V::N <= C; c += V::N) round_one<kMode, V>(V::mul(vec(x + c), V::load(scale + c))).store_bits(d + c);
    for (; c < C; ++c)
      store_bf16(round_one<kMode, VecScalar>(VecScalar::mul(VecScalar{one(x + c)}, VecScalar{scale[c]})).v, d + c);
  }
}

void scale_round_bits(const float* src, const float* scale, int64_t C, int64_t W, uint16_t* dst, Rounding mode) {
  with_rounding(mode, [&](auto m) { scale_round_bits_loop<m.value>(src, scale, C, W, dst); });
}

void scale_round_bits_bf16(const uint16_t* src, const float* scale, int64_t C, int64_t W, uint16_t* dst) {
  scale_round_bits_loop<Rounding::Bf16>(src, scale, C, W, dst);
}

// Written as a plain loop the compiler vectorises for the file's ISA.
int min_exponent(const uint16_t* p, int64_t n) {
  uint16_t m = 0xFF;
  for (int64_t i = 0; i < n; ++i) {
    const uint16_t mag = p[i] & 0x7FFF;
    const uint16_t e = mag ? static_cast<uint16_t>(mag >> 7) : uint16_t(0xFF);
    m = e < m ? e : m;
  }
  return m;
}

// The exponent field grows with the magnitude, so the smallest one belongs to the
// smallest non-zero magnitude: a vector min, then its exponent (+inf if none: 255).
int min_exponent_rounded(const float* p, int64_t n) {
  const float inf = std::numeric_limits<float>::infinity();
  V acc = V::broadcast(inf);
  int64_t i = 0;
  for (; i + V::N <= n; i += V::N) acc = V::min_abs_nonzero(V::round_bf16(V::load(p + i)), acc);
  float lanes[V::N];
  acc.store(lanes);
  VecScalar m{inf};
  for (int q = 0; q < V::N; ++q) m = VecScalar::min_abs_nonzero(VecScalar{lanes[q]}, m);
  for (; i < n; ++i) m = VecScalar::min_abs_nonzero(VecScalar::round_bf16(VecScalar{p[i]}), m);
  uint32_t u;
  std::memcpy(&u, &m.v, 4);
  return static_cast<int>(u >> 23);
}

// One 64-byte panel row: pixels j of reduction rows p (low halves) and p + 1 (high),
// rounded by kMode; the bf16 bits are the top halves of the rounded fp32 values.
template <Rounding kMode>
inline void vnni_row(const float* r0, const float* r1, uint16_t* dst) {
  float f0[kNR], f1[kNR];
  for (int j = 0; j < kNR; j += V::N) {
    round_one<kMode, V>(V::load(r0 + j)).store(f0 + j);
    round_one<kMode, V>(V::load(r1 + j)).store(f1 + j);
  }
  uint32_t u0[kNR], u1[kNR], out[kNR];
  std::memcpy(u0, f0, sizeof(u0));
  std::memcpy(u1, f1, sizeof(u1));
  for (int j = 0; j < kNR; ++j) out[j] = (u0[j] >> 16) | (u1[j] & 0xFFFF0000u);
  std::memcpy(dst, out, sizeof(out));
}

// Reduction rows outermost: the panels of one row are neighbouring pixels, so the
// reads of a step are one contiguous stretch per reduction row.
template <Rounding kMode>
void pack_b_runs_vnni_mode(const float* src, const int64_t* k_off, int64_t k, int64_t kp,
                           const PixelRun* runs, const int* nruns, int npanels, uint16_t* out) {
  static const float zeros[kNR] = {};
  float g[2][kNR];
  for (int64_t p = 0; p < kp; p += 2)
    for (int jp = 0; jp < npanels; ++jp) {
      const PixelRun* r = runs + jp * kNR;
      const int nr = nruns[jp];
      const float* rows[2];
      for (int h = 0; h < 2; ++h) {
        const int64_t q = p + h;
        if (q >= k) {
          rows[h] = zeros;
        } else if (nr == 1 && r[0].len == kNR) {
          rows[h] = src + k_off[q] + r[0].base;
        } else {  // gathered from the runs; columns no run covers are zero
          std::memset(g[h], 0, sizeof(g[h]));
          for (int i = 0; i < nr; ++i) copy_run(g[h] + r[i].j0, src + k_off[q] + r[i].base, r[i].len);
          rows[h] = g[h];
        }
      }
      vnni_row<kMode>(rows[0], rows[1], out + jp * kp * kNR + p * kNR);
    }
}

void pack_b_runs_vnni(const float* src, const int64_t* k_off, int64_t k, int64_t kp, const PixelRun* runs,
                      const int* nruns, int npanels, Rounding mode, uint16_t* out) {
  with_rounding(mode, [&](auto m) { pack_b_runs_vnni_mode<m.value>(src, k_off, k, kp, runs, nruns, npanels, out); });
}

// dst[w * C + c] = bits of mode(src[c * ld_src + w]) for c < C, w < W: a planar row
// block staged as pixel rows. 16 x 16 blocks in registers where the ISA has them.
template <Rounding kMode>
void round_transpose_bits_mode(const float* src, int64_t ld_src, int64_t C, int64_t W, uint16_t* dst) {
  int64_t c0 = 0;
  if constexpr (V::kHasTranspose16) {
    for (; c0 + 16 <= C; c0 += 16) {
      int64_t w0 = 0;
      for (; w0 + 16 <= W; w0 += 16) {
        V r[16];
        for (int q = 0; q < 16; ++q) r[q] = round_one<kMode, V>(V::load(src + (c0 + q) * ld_src + w0));
        V::transpose16(r);
        for (int q = 0; q < 16; ++q) r[q].store_bits(dst + (w0 + q) * C + c0);
      }
      for (; w0 < W; ++w0) {  // short rows (7x7, 14x14 maps): gathered, then rounded as one vector
        float g[16];
        for (int q = 0; q < 16; ++q) g[q] = src[(c0 + q) * ld_src + w0];
        round_one<kMode, V>(V::load(g)).store_bits(dst + w0 * C + c0);
      }
    }
  }
  for (int64_t c = c0; c < C; ++c)
    for (int64_t w = 0; w < W; ++w)
      store_bf16(round_one<kMode, VecScalar>(VecScalar{src[c * ld_src + w]}).v, dst + w * C + c);
}

// dst[w * C + c] = mode(src[c * ld_src + w]) for c < C, w < W: round_transpose_bits
// with fp32 results. V::N x V::N blocks in registers.
template <Rounding kMode>
void round_transpose_mode(const float* src, int64_t ld_src, int64_t C, int64_t W, float* dst) {
  int64_t c0 = 0;
  if constexpr (V::N > 1) {
    for (; c0 + V::N <= C; c0 += V::N) {
      int64_t w0 = 0;
      for (; w0 + V::N <= W; w0 += V::N) {
        V r[V::N];
        for (int q = 0; q < V::N; ++q) r[q] = round_one<kMode, V>(V::load(src + (c0 + q) * ld_src + w0));
        V::transpose_square(r);
        for (int q = 0; q < V::N; ++q) r[q].store(dst + (w0 + q) * C + c0);
      }
      for (; w0 < W; ++w0) {  // short rows (7x7 maps): gathered, then rounded as one vector
        float g[V::N];
        for (int q = 0; q < V::N; ++q) g[q] = src[(c0 + q) * ld_src + w0];
        round_one<kMode, V>(V::load(g)).store(dst + w0 * C + c0);
      }
    }
  }
  for (int64_t c = c0; c < C; ++c)
    for (int64_t w = 0; w < W; ++w) dst[w * C + c] = round_one<kMode, VecScalar>(VecScalar{src[c * ld_src + w]}).v;
}

void round_transpose(const float* src, int64_t ld_src, int64_t C, int64_t W, float* dst, Rounding mode) {
  with_rounding(mode, [&](auto m) { round_transpose_mode<m.value>(src, ld_src, C, W, dst); });
}

void round_transpose_bits(const float* src, int64_t ld_src, int64_t C, int64_t W, uint16_t* dst, Rounding mode) {
  with_rounding(mode, [&](auto m) { round_transpose_bits_mode<m.value>(src, ld_src, C, W, dst); });
}

// gemm_packed with the channel-rows output stage applied to the finished tile in
// registers: out[i * ld_out + j] = act((acc[i][j] + bias[i]) + residual), fp32. The
// same per-element operations as gemm_packed followed by epilogue_rows, without the
// round trip through C (the store of C and its reload by the epilogue).
template <Activation kAct>
void gemm_packed_rows_out_act(int64_t k, const float* a, const float* b, const float* c, int64_t ldc,
                              bool accumulate, const float* bias, const Residual& res, float* out,
                              int64_t ld_out) {
  V acc[kMR][NV];
  load_or_zero(acc, c, ldc, accumulate);
  fma_packed(acc, k, a, b);
  for (int i = 0; i < kMR; ++i) {
    const V bi = bias ? V::broadcast(bias[i]) : V::zero();
    for (int j = 0; j < NV; ++j) {
      V v = acc[i][j];
      if (bias) v = V::add(v, bi);
      const int64_t o = i * ld_out + j * V::N;
      if (res.data) v = V::add(v, residual_vec(res, o));
      activate(v, kAct).store(out + o);
    }
  }
}

void gemm_packed_rows_out(int64_t k, const float* a, const float* b, const float* c, int64_t ldc, bool accumulate,
                          const float* bias, Activation act, Residual res, float* out, int64_t ld_out) {
  switch (act) {
#define TORCH_AIE_ROWS_OUT_CASE(A) \
  case A: return gemm_packed_rows_out_act<A>(k, a, b, c, ldc, accumulate, bias, res, out, ld_out);
    TORCH_AIE_ROWS_OUT_CASE(Activation::None) TORCH_AIE_ROWS_OUT_CASE(Activation::Relu)
    TORCH_AIE_ROWS_OUT_CASE(Activation::Relu6) TORCH_AIE_ROWS_OUT_CASE(Activation::Hardswish)
    TORCH_AIE_ROWS_OUT_CASE(Activation::Silu) TORCH_AIE_ROWS_OUT_CASE(Activation::Gelu)
#undef TORCH_AIE_ROWS_OUT_CASE
  }
}

// Spatial means. Within a block, kSumChains vectors accumulate independently (fp32
// adds); the block's lanes then go into the double total in lane order, so a long row
// keeps fp32 error per block only.
constexpr int kSumChains = 4;
static_assert(kSumBlock % (kSumChains * V::N) == 0, "a block is whole vector chains");

double sum_row(const float* src, int64_t n) {
  double total = 0.0;
  for (int64_t begin = 0; begin < n; begin += kSumBlock) {
    const int64_t end = std::min(n, begin + kSumBlock);
    V acc[kSumChains];
    for (int u = 0; u < kSumChains; ++u) acc[u] = V::zero();
    int64_t j = begin;
    for (; j + kSumChains * V::N <= end; j += kSumChains * V::N)
      for (int u = 0; u < kSumChains; ++u) acc[u] = V::add(acc[u], V::load(src + j + u * V::N));
    for (; j + V::N <= end; j += V::N) acc[0] = V::add(acc[0], V::load(src + j));
    const V chains = V::add(V::add(acc[0], acc[1]), V::add(acc[2], acc[3]));
    float lanes[V::N];
    chains.store(lanes);
    float block = 0.f;
    for (float lane : lanes) block += lane;
    for (; j < end; ++j) block += src[j];
    total += block;
  }
  return total;
}

// Short rows (the 7x7 planes of a ResNet head): per-row lane sums would cost more than
// the row, so V::N rows at a time each fill one vector (two chains: even and odd
// vectors) and an in-register transpose adds their lanes side by side.
void sum_short_rows(const float* src, int64_t ld, int64_t rows, int64_t n, float* out) {
  const int64_t nv = n / V::N * V::N;
  for (int64_t r0 = 0; r0 < rows; r0 += V::N) {
    V acc[V::N];
    float tail[V::N];
    for (int r = 0; r < V::N; ++r) {
      const float* row = src + std::min<int64_t>(r0 + r, rows - 1) * ld;  // past the end: row rows-1 again
      V even = V::zero(), odd = V::zero();
      int64_t j = 0;
      for (; j + 2 * V::N <= nv; j += 2 * V::N) {
        even = V::add(even, V::load(row + j));
        odd = V::add(odd, V::load(row + j + V::N));
      }
      if (j < nv) even = V::add(even, V::load(row + j));
      acc[r] = V::add(even, odd);
      float t = 0.f;
      for (j = nv; j < n; ++j) t += row[j];
      tail[r] = t;
    }
    V::transpose_square(acc);  // acc[k], lane r: lane k of row r
    V sum = V::load(tail);
    for (int k = 0; k < V::N; ++k) sum = V::add(sum, acc[k]);
    float sums[V::N];
    sum.store(sums);
    for (int r = 0; r < V::N && r0 + r < rows; ++r) out[r0 + r] = sums[r];
  }
}

// A plain loop: the compiler vectorises it for each ISA (-O3 with its flags).
void widen_bf16(const uint16_t* src, int64_t n, float* dst) {
  for (int64_t j = 0; j < n; ++j) dst[j] = load_bf16(src + j);
}

void add_row(const float* src, int64_t n, float* acc) {
  int64_t j = 0;
  for (; j + kSumChains * V::N <= n; j += kSumChains * V::N)
    for (int u = 0; u < kSumChains; ++u) {
      float* a = acc + j + u * V::N;
      V::add(V::load(a), V::load(src + j + u * V::N)).store(a);
    }
  for (; j + V::N <= n; j += V::N) V::add(V::load(acc + j), V::load(src + j)).store(acc + j);
  for (; j < n; ++j) acc[j] += src[j];
}

KernelTable make_table(Isa isa) {
  return KernelTable{isa,       &gemm_packed,   &gemm_direct,  &depthwise,
                     &epilogue, &round_f32,     &depthwise_row, &epilogue_rows,
                     &round_bits, &scale_round_bits, &scale_round_bits_bf16, &min_exponent, &min_exponent_rounded, &pack_b_runs_vnni, &round_transpose_bits,
                     &round_transpose, &gemm_packed_rows_out, &max_row, &sum_row, &sum_short_rows, &add_row, &widen_bf16, &round_bf16_f32, &depthwise_bf16, &depthwise_bf16_rows};
}
