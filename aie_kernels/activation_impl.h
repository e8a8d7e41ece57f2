// The epilogue's per-vector arithmetic, written against a Vec W (vec.h): the fused
// activations. Shared by kernels_impl.h and the bf16 GEMM's fused output
// (bf16_gemm_avx512bf16.cpp), so that both give the same bits. Include only inside an
// isa_* or kernel namespace, after vec.h.

// exp(y) for the SiLU: y clamped to [-87.33, 88.73] (so 2^n stays a normal number or
// +inf), y = n ln2 + r with n = floor(y log2e + 1/2), exp(r) by a degree-6 Taylor
// polynomial in Horner form. Only IEEE add/mul/fma/floor: the same value in every ISA.
template <class W>
inline W exp_poly(W y) {
  y = W::min(W::broadcast(88.7228f), W::max(W::broadcast(-87.3365f), y));
  const W n = W::floor(W::fma(y, W::broadcast(1.44269504f), W::broadcast(0.5f)));
  W r = W::fma(n, W::broadcast(-0.693145752f), y);  // ln2 split: hi (exact in n * hi) and lo
  r = W::fma(n, W::broadcast(-1.42860677e-6f), r);
  W p = W::broadcast(1.f / 720.f);
  for (float c : {1.f / 120.f, 1.f / 24.f, 1.f / 6.f, 0.5f, 1.f, 1.f}) p = W::fma(p, r, W::broadcast(c));
  return W::mul(p, W::pow2i(n));
}

// erf(z) for GELU: Eigen's rational fit (generic_fast_erf_float), z clamped to [-4, 4]
// (erf is +-1 in fp32 beyond): an odd degree-13 numerator over an even degree-8
// denominator, absolute error under 4e-7 in fp32 (the accuracy of ATen's vectorised
// erf). One division and no exp: at a GEMM's output an exp-based erfc doubled the
// cost of a 128 -> 512 Linear.
template <class W>
inline W erf_rational(W z) {
  z = W::min(W::broadcast(4.f), W::max(W::broadcast(-4.f), z));
  const W z2 = W::mul(z, z);
  W p = W::broadcast(-2.72614225801306e-10f);
  for (float c : {2.77068142495902e-08f, -2.10102402082508e-06f, -5.69250639462346e-05f, -7.34990630326855e-04f,
                  -2.95459980854025e-03f, -1.60960333262415e-02f})
    p = W::fma(z2, p, W::broadcast(c));
  W q = W::broadcast(-1.45660718464996e-05f);
  for (float c : {-2.13374055278905e-04f, -1.68282697438203e-03f, -7.37332916720468e-03f, -1.42647390514189e-02f})
    q = W::fma(z2, q, W::broadcast(c));
  return W::div(W::mul(z, p), q);
}

// The activation A, fixed at compile time: a loop that finishes many vectors
// dispatches once (with_activation) and inlines only A's arithmetic.
template <Activation A, class W>
__attribute__((always_inline)) inline W activate(W v) {
  if constexpr (A == Activation::Relu) return W::relu(v);
  if constexpr (A == Activation::Relu6) return W::min(W::broadcast(6.f), W::relu(v));
  if constexpr (A == Activation::Hardswish)
    return W::div(W::mul(v, W::min(W::broadcast(6.f), W::relu(W::add(v, W::broadcast(3.f))))), W::broadcast(6.f));
  if constexpr (A == Activation::Silu) return W::div(v, W::add(W::broadcast(1.f), exp_poly(W::sub(W::zero(), v))));
  if constexpr (A == Activation::Gelu) {  // 0.5 v (1 + erf(v / sqrt 2)), ATen's order
    const W e = erf_rational(W::mul(v, W::broadcast(0.707106781f)));
    return W::mul(W::mul(W::broadcast(0.5f), v), W::add(W::broadcast(1.f), e));
  }
  return v;
}

// f(std::integral_constant<Activation, act>{}).
template <class F>
__attribute__((always_inline)) inline void with_activation(Activation act, F&& f) {
  using A = Activation;
  switch (act) {
    case A::None: return f(std::integral_constant<A, A::None>{});
    case A::Relu: return f(std::integral_constant<A, A::Relu>{});
    case A::Relu6: return f(std::integral_constant<A, A::Relu6>{});
    case A::Hardswish: return f(std::integral_constant<A, A::Hardswish>{});
    case A::Silu: return f(std::integral_constant<A, A::Silu>{});
    case A::Gelu: return f(std::integral_constant<A, A::Gelu>{});
  }
}

// The run-time form. A switch, not with_activation: GCC inlines this into the
// epilogues' loops, where a call per vector doubled a thin GEMM's output stage.
template <class W>
inline W activate(W v, Activation act) {
  switch (act) {
    case Activation::None: return v;
    case Activation::Relu: return activate<Activation::Relu>(v);
    case Activation::Relu6: return activate<Activation::Relu6>(v);
    case Activation::Hardswish: return activate<Activation::Hardswish>(v);
    case Activation::Silu: return activate<Activation::Silu>(v);
    case Activation::Gelu: return activate<Activation::Gelu>(v);
  }
  return v;
}
