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

template <class W>
inline W activate(W v, Activation act) {
  switch (act) {
    case Activation::None: return v;
    case Activation::Relu: return W::relu(v);
    case Activation::Relu6: return W::min(W::broadcast(6.f), W::relu(v));
    case Activation::Hardswish:
      return W::div(W::mul(v, W::min(W::broadcast(6.f), W::relu(W::add(v, W::broadcast(3.f))))),
                    W::broadcast(6.f));
    case Activation::Silu:
      return W::div(v, W::add(W::broadcast(1.f), exp_poly(W::sub(W::zero(), v))));
  }
  return v;
}
