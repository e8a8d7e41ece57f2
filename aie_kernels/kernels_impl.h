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

inline void load_or_zero(V (&acc)[kMR][NV], const float* c, int64_t ldc, bool accumulate) {
  for (int i = 0; i < kMR; ++i)
    for (int j = 0; j < NV; ++j)
      acc[i][j] = accumulate ? V::load(c + i * ldc + j * V::N) : V::zero();
}

inline void store_tile(const V (&acc)[kMR][NV], float* c, int64_t ldc) {
  for (int i = 0; i < kMR; ++i)
    for (int j = 0; j < NV; ++j) acc[i][j].store(c + i * ldc + j * V::N);
}

void gemm_packed(int64_t k, const float* a, const float* b, float* c, int64_t ldc,
                 bool accumulate) {
  V acc[kMR][NV];
  load_or_zero(acc, c, ldc, accumulate);
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

void depthwise(const float* const* pix, int npix, const int64_t* tap_off, int ntaps,
               int64_t channels, const float* w, float* out, int64_t ld_out, bool accumulate) {
  int64_t ch = 0;
  for (; ch + V::N <= channels; ch += V::N) {
    for (int j = 0; j < npix; ++j) {
      V acc = accumulate ? V::load(out + j * ld_out + ch) : V::zero();
      for (int t = 0; t < ntaps; ++t)
        acc = V::fma(V::load(pix[j] + tap_off[t] + ch), V::load(w + t * channels + ch), acc);
      acc.store(out + j * ld_out + ch);
    }
  }
  for (; ch < channels; ++ch) {  // channel tail: the same FMA chain, one lane
    for (int j = 0; j < npix; ++j) {
      float acc = accumulate ? out[j * ld_out + ch] : 0.f;
      for (int t = 0; t < ntaps; ++t)
        acc = std::fma(pix[j][tap_off[t] + ch], w[t * channels + ch], acc);
      out[j * ld_out + ch] = acc;
    }
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

void round_f32(const float* src, float* dst, int64_t n, Rounding mode) {
  switch (mode) {
    case Rounding::Bf16: return round_loop<Rounding::Bf16>(src, dst, n);
    case Rounding::Bf16Finite: return round_loop<Rounding::Bf16Finite>(src, dst, n);
    case Rounding::Bf16Lo: return round_loop<Rounding::Bf16Lo>(src, dst, n);
    case Rounding::None: return round_loop<Rounding::None>(src, dst, n);
  }
}

KernelTable make_table(Isa isa) {
  return KernelTable{isa, &gemm_packed, &gemm_direct, &depthwise, &round_f32};
}
