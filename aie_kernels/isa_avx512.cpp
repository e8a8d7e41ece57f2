// The kernels compiled for the avx512 host ISA (flags set per file in CMakeLists.txt).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>
#include <utility>
#if defined(__AVX2__) || defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "aie_kernels/bf16.h"
#include "aie_kernels/kernel_table.h"
#include "aie_kernels/window_forms.h"

namespace aie_kernels {
namespace isa_avx512 {
#include "aie_kernels/vec.h"
using V = VecAvx512;
#include "aie_kernels/kernels_impl.h"
}  // namespace isa_avx512

KernelTable make_table_avx512() { return isa_avx512::make_table(Isa::Avx512); }
}  // namespace aie_kernels
