// Compile-time shapes of the bf16 depthwise window kernels (KernelTable::depthwise_bf16_rows,
// kernels_impl.h and depthwise_window_avx512bf16.cpp): the window forms they have, and
// (static_for.h) the unrolling that keeps their accumulators in registers. Header-only templates,
// instantiated with each ISA file's own lambdas, so no instantiation is shared
// between files compiled for different ISAs.
#pragma once

#include <type_traits>

#include "aie_kernels/static_for.h"

namespace aie_kernels {

// f(integral_constant KW, integral_constant SW) for a window kw_count wide at stride
// `stride`, if it is one of the forms (3x1, 3x2, 5x1, 5x2, 7x1); false otherwise.
template <class F>
bool with_window_form(int kw_count, int stride, F&& f) {
  using std::integral_constant;
  if (kw_count == 3 && stride == 1) return f(integral_constant<int, 3>{}, integral_constant<int, 1>{}), true;
  if (kw_count == 3 && stride == 2) return f(integral_constant<int, 3>{}, integral_constant<int, 2>{}), true;
  if (kw_count == 5 && stride == 1) return f(integral_constant<int, 5>{}, integral_constant<int, 1>{}), true;
  if (kw_count == 5 && stride == 2) return f(integral_constant<int, 5>{}, integral_constant<int, 2>{}), true;
  if (kw_count == 7 && stride == 1) return f(integral_constant<int, 7>{}, integral_constant<int, 1>{}), true;
  return false;
}

}  // namespace aie_kernels
