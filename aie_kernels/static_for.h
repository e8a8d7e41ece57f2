// static_for<N>(f): f(integral_constant<int, i>) for i < N, unrolled. The kernels index
// their accumulator arrays with compile-time indices so that the arrays stay in
// registers (the bf16 GEMM's row blocks, the depthwise window kernels' pixels).
#pragma once

#include <type_traits>
#include <utility>

namespace aie_kernels {

// always_inline on the inner lambda too, or GCC may leave a loop body as a call with
// the accumulators in memory.
template <int N, class F>
[[gnu::always_inline]] inline void static_for(F&& f) {
  [&]<int... I>(std::integer_sequence<int, I...>) __attribute__((always_inline)) {
    (f(std::integral_constant<int, I>{}), ...);
  }(std::make_integer_sequence<int, N>());
}

}  // namespace aie_kernels
