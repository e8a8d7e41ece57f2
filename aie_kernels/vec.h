// The small vector abstraction the kernels are written against: a Vec is N fp32
// lanes with load/store/broadcast, FMA and bf16 rounding. Each ISA picks one as V.
//
// Included only inside an isa_* namespace by isa_*.cpp (after <immintrin.h> and
// <cmath> at global scope), so that every ISA has its own copies of these types.


struct VecScalar {
  static constexpr int N = 1;
  // store_bits: the lanes' top halves (the bits of bf16 values held in fp32) as
  // uint16_t; load_bits: the inverse, bf16 bits widened exactly to fp32.
  void store_bits(uint16_t* p) const {
    uint32_t u;
    std::memcpy(&u, &v, 4);
    *p = static_cast<uint16_t>(u >> 16);
  }
  static VecScalar load_bits(const uint16_t* p) {
    const uint32_t u = uint32_t(*p) << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return {f};
  }
  static constexpr bool kHasTranspose16 = false;
  static void transpose16(VecScalar*) {}
  static void transpose_square(VecScalar*) {}  // N x N with N = 1
  float v;
  static VecScalar zero() { return {0.f}; }
  static VecScalar load(const float* p) { return {*p}; }
  static VecScalar load_or_zero(const float* p, bool load) { return {load ? *p : 0.f}; }
  static VecScalar broadcast(float x) { return {x}; }
  void store(float* p) const { *p = v; }
  static VecScalar fma(VecScalar a, VecScalar b, VecScalar c) { return {std::fma(a.v, b.v, c.v)}; }
  static VecScalar round_bf16(VecScalar x) { return {round_to_bf16(x.v)}; }
  static VecScalar sub(VecScalar a, VecScalar b) { return {a.v - b.v}; }
  static VecScalar add(VecScalar a, VecScalar b) { return {a.v + b.v}; }
  static VecScalar relu(VecScalar x) { return {0.f > x.v ? 0.f : x.v}; }  // = maxps(0, x)
  static VecScalar zero_if_nonfinite(VecScalar x) { return {x.v - x.v == 0.f ? x.v : 0.f}; }
  // Activation helpers. max/min return the second operand when unordered, as maxps/minps do.
  static VecScalar mul(VecScalar a, VecScalar b) { return {a.v * b.v}; }
  static VecScalar div(VecScalar a, VecScalar b) { return {a.v / b.v}; }
  static VecScalar max(VecScalar a, VecScalar b) { return {a.v > b.v ? a.v : b.v}; }
  static VecScalar min(VecScalar a, VecScalar b) { return {a.v < b.v ? a.v : b.v}; }
  // Max pooling's step, ATen's CPU rule: x if x > acc or x is NaN, else acc (so the
  // first of equal values stays, and a NaN anywhere in the window comes out).
  static VecScalar max_or_nan(VecScalar x, VecScalar acc) { return {x.v > acc.v || x.v != x.v ? x.v : acc.v}; }
  static VecScalar floor(VecScalar x) { return {std::floor(x.v)}; }
  // 2^n for an integral n in [-126, 128] (128 gives +inf).
  static VecScalar pow2i(VecScalar n) {
    const uint32_t bits = static_cast<uint32_t>(static_cast<int32_t>(n.v) + 127) << 23;
    float f;
    std::memcpy(&f, &bits, 4);
    return {f};
  }
  // min(acc, |x|) over x that are neither 0 nor NaN (acc starts at +inf).
  static VecScalar min_abs_nonzero(VecScalar x, VecScalar acc) {
    const float a = std::fabs(x.v);
    return {a > 0.f && a < acc.v ? a : acc.v};
  }
};

#if defined(__AVX2__)
struct VecAvx2 {
  static constexpr int N = 8;
  void store_bits(uint16_t* p) const {
    const __m256i hi = _mm256_srli_epi32(_mm256_castps_si256(v), 16);  // <= 0xFFFF: packus keeps it
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p),
                     _mm_packus_epi32(_mm256_castsi256_si128(hi), _mm256_extracti128_si256(hi, 1)));
  }
  static VecAvx2 load_bits(const uint16_t* p) {
    const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    return {_mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(b), 16))};
  }
  static constexpr bool kHasTranspose16 = false;
  static void transpose16(VecAvx2*) {}
  // In-register transpose of an 8 x 8 block (r[i] = row i): unpacks and shuffles
  // within 128-bit lanes, then one round of lane permutes.
  static void transpose_square(VecAvx2* r) {
    __m256 t[8], u[8];
    for (int i = 0; i < 8; i += 2) {
      t[i] = _mm256_unpacklo_ps(r[i].v, r[i + 1].v);
      t[i + 1] = _mm256_unpackhi_ps(r[i].v, r[i + 1].v);
    }
    for (int i = 0; i < 8; i += 4) {
      u[i] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
      u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
      u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
      u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    for (int i = 0; i < 4; ++i) {
      r[i].v = _mm256_permute2f128_ps(u[i], u[i + 4], 0x20);
      r[i + 4].v = _mm256_permute2f128_ps(u[i], u[i + 4], 0x31);
    }
  }
  __m256 v;
  static VecAvx2 zero() { return {_mm256_setzero_ps()}; }
  static VecAvx2 load(const float* p) { return {_mm256_loadu_ps(p)}; }
  static VecAvx2 load_or_zero(const float* p, bool load) { return load ? VecAvx2::load(p) : zero(); }
  static VecAvx2 broadcast(float x) { return {_mm256_set1_ps(x)}; }
  void store(float* p) const { _mm256_storeu_ps(p, v); }
  static VecAvx2 fma(VecAvx2 a, VecAvx2 b, VecAvx2 c) { return {_mm256_fmadd_ps(a.v, b.v, c.v)}; }
  static VecAvx2 sub(VecAvx2 a, VecAvx2 b) { return {_mm256_sub_ps(a.v, b.v)}; }
  static VecAvx2 add(VecAvx2 a, VecAvx2 b) { return {_mm256_add_ps(a.v, b.v)}; }
  static VecAvx2 relu(VecAvx2 x) { return {_mm256_max_ps(_mm256_setzero_ps(), x.v)}; }
  static VecAvx2 mul(VecAvx2 a, VecAvx2 b) { return {_mm256_mul_ps(a.v, b.v)}; }
  static VecAvx2 div(VecAvx2 a, VecAvx2 b) { return {_mm256_div_ps(a.v, b.v)}; }
  static VecAvx2 max(VecAvx2 a, VecAvx2 b) { return {_mm256_max_ps(a.v, b.v)}; }
  static VecAvx2 min(VecAvx2 a, VecAvx2 b) { return {_mm256_min_ps(a.v, b.v)}; }
  static VecAvx2 max_or_nan(VecAvx2 x, VecAvx2 acc) {
    const __m256 take = _mm256_or_ps(_mm256_cmp_ps(x.v, acc.v, _CMP_GT_OQ), _mm256_cmp_ps(x.v, x.v, _CMP_UNORD_Q));
    return {_mm256_blendv_ps(acc.v, x.v, take)};
  }
  static VecAvx2 floor(VecAvx2 x) { return {_mm256_floor_ps(x.v)}; }
  static VecAvx2 pow2i(VecAvx2 n) {
    __m256i e = _mm256_add_epi32(_mm256_cvttps_epi32(n.v), _mm256_set1_epi32(127));
    return {_mm256_castsi256_ps(_mm256_slli_epi32(e, 23))};
  }
  static VecAvx2 zero_if_nonfinite(VecAvx2 x) {
    __m256 finite = _mm256_cmp_ps(_mm256_sub_ps(x.v, x.v), _mm256_setzero_ps(), _CMP_EQ_OQ);
    return {_mm256_and_ps(x.v, finite)};
  }
  static VecAvx2 min_abs_nonzero(VecAvx2 x, VecAvx2 acc) {
    const __m256 a = _mm256_andnot_ps(_mm256_set1_ps(-0.f), x.v);
    const __m256 keep = _mm256_cmp_ps(a, _mm256_setzero_ps(), _CMP_GT_OQ);  // false for 0 and NaN
    return {_mm256_min_ps(acc.v, _mm256_blendv_ps(acc.v, a, keep))};
  }
  // Round to nearest even bf16, as c10::BFloat16 does (NaN -> 0x7FC0 quiet NaN).
  // Written with integer ops: AVX2 has no bf16 conversion instruction.
  static VecAvx2 round_bf16(VecAvx2 x) {
    __m256i u = _mm256_castps_si256(x.v);
    __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
    __m256i r = _mm256_add_epi32(u, _mm256_add_epi32(lsb, _mm256_set1_epi32(0x7FFF)));
    r = _mm256_and_si256(r, _mm256_set1_epi32(static_cast<int>(0xFFFF0000u)));
    __m256 nan_mask = _mm256_cmp_ps(x.v, x.v, _CMP_UNORD_Q);
    __m256 qnan = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FC00000));
    return {_mm256_blendv_ps(_mm256_castsi256_ps(r), qnan, nan_mask)};
  }
};
#endif

#if defined(__AVX512F__)
struct VecAvx512 {
  static constexpr int N = 16;
  void store_bits(uint16_t* p) const {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(p),
                        _mm512_cvtepi32_epi16(_mm512_srli_epi32(_mm512_castps_si512(v), 16)));
  }
  static VecAvx512 load_bits(const uint16_t* p) {
    const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    return {_mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(b), 16))};
  }
  // In-register transpose of a 16 x 16 block (r[i] = row i): unpacks within 128-bit
  // lanes, then two rounds of 128-bit lane shuffles.
  static constexpr bool kHasTranspose16 = true;
  static void transpose16(VecAvx512* r) {
    __m512 t[16], u[16];
    for (int i = 0; i < 16; i += 2) {
      t[i] = _mm512_unpacklo_ps(r[i].v, r[i + 1].v);
      t[i + 1] = _mm512_unpackhi_ps(r[i].v, r[i + 1].v);
    }
    for (int i = 0; i < 16; i += 4) {
      u[i] = _mm512_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
      u[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
      u[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
      u[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    for (int h = 0; h < 16; h += 8)
      for (int i = 0; i < 4; ++i) {
        t[h + i] = _mm512_shuffle_f32x4(u[h + i], u[h + i + 4], 0x88);
        t[h + i + 4] = _mm512_shuffle_f32x4(u[h + i], u[h + i + 4], 0xdd);
      }
    for (int i = 0; i < 8; ++i) {
      r[i].v = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
      r[i + 8].v = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xdd);
    }
  }
  static void transpose_square(VecAvx512* r) { transpose16(r); }  // N x N with N = 16
  __m512 v;
  static VecAvx512 zero() { return {_mm512_setzero_ps()}; }
  static VecAvx512 load(const float* p) { return {_mm512_loadu_ps(p)}; }
  // One masked load, not a branch: with a branch GCC zeroes a tile kept in memory
  // with `rep stos`, whose stores cannot forward to the tile's 64-byte reloads (a
  // stall that was most of a K=16 GEMM tile on an AVX-512 Xeon). Masked-off lanes
  // never fault, so p may be anything when load is false.
  static VecAvx512 load_or_zero(const float* p, bool load) {
    return {_mm512_maskz_loadu_ps(static_cast<__mmask16>(load ? 0xFFFF : 0), p)};
  }
  static VecAvx512 broadcast(float x) { return {_mm512_set1_ps(x)}; }
  void store(float* p) const { _mm512_storeu_ps(p, v); }
  static VecAvx512 fma(VecAvx512 a, VecAvx512 b, VecAvx512 c) {
    return {_mm512_fmadd_ps(a.v, b.v, c.v)};
  }
  static VecAvx512 sub(VecAvx512 a, VecAvx512 b) { return {_mm512_sub_ps(a.v, b.v)}; }
  static VecAvx512 add(VecAvx512 a, VecAvx512 b) { return {_mm512_add_ps(a.v, b.v)}; }
  static VecAvx512 relu(VecAvx512 x) { return {_mm512_max_ps(_mm512_setzero_ps(), x.v)}; }
  static VecAvx512 mul(VecAvx512 a, VecAvx512 b) { return {_mm512_mul_ps(a.v, b.v)}; }
  static VecAvx512 div(VecAvx512 a, VecAvx512 b) { return {_mm512_div_ps(a.v, b.v)}; }
  static VecAvx512 max(VecAvx512 a, VecAvx512 b) { return {_mm512_max_ps(a.v, b.v)}; }
  static VecAvx512 min(VecAvx512 a, VecAvx512 b) { return {_mm512_min_ps(a.v, b.v)}; }
  static VecAvx512 max_or_nan(VecAvx512 x, VecAvx512 acc) {
    const __mmask16 take = _mm512_cmp_ps_mask(x.v, acc.v, _CMP_GT_OQ) | _mm512_cmp_ps_mask(x.v, x.v, _CMP_UNORD_Q);
    return {_mm512_mask_mov_ps(acc.v, take, x.v)};
  }
  static VecAvx512 floor(VecAvx512 x) { return {_mm512_roundscale_ps(x.v, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC)}; }
  static VecAvx512 pow2i(VecAvx512 n) {
    __m512i e = _mm512_add_epi32(_mm512_cvttps_epi32(n.v), _mm512_set1_epi32(127));
    return {_mm512_castsi512_ps(_mm512_slli_epi32(e, 23))};
  }
  static VecAvx512 zero_if_nonfinite(VecAvx512 x) {
    __mmask16 finite = _mm512_cmp_ps_mask(_mm512_sub_ps(x.v, x.v), _mm512_setzero_ps(), _CMP_EQ_OQ);
    return {_mm512_maskz_mov_ps(finite, x.v)};
  }
  static VecAvx512 min_abs_nonzero(VecAvx512 x, VecAvx512 acc) {
    const __m512 a = _mm512_abs_ps(x.v);
    const __mmask16 keep = _mm512_cmp_ps_mask(a, _mm512_setzero_ps(), _CMP_GT_OQ);  // not 0, not NaN
    return {_mm512_mask_min_ps(acc.v, keep, acc.v, a)};
  }
  static VecAvx512 round_bf16(VecAvx512 x) {
    __m512i u = _mm512_castps_si512(x.v);
    __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
    __m512i r = _mm512_add_epi32(u, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7FFF)));
    r = _mm512_and_si512(r, _mm512_set1_epi32(static_cast<int>(0xFFFF0000u)));
    __mmask16 nan = _mm512_cmp_ps_mask(x.v, x.v, _CMP_UNORD_Q);
    return {_mm512_mask_blend_ps(nan, _mm512_castsi512_ps(r),
                                 _mm512_castsi512_ps(_mm512_set1_epi32(0x7FC00000)))};
  }
};
#endif
