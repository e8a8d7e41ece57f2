#include "csrc/runtime/emulator/passes.h"

#include <algorithm>

namespace torch_aie::runtime {

using aie_kernels::Rounding;

std::vector<Pass> passes_for(Numerics n) {
  switch (n) {
    case Numerics::Bf16Tensor: return {{Rounding::None, Rounding::None}};
    case Numerics::Bf16: return {{Rounding::Bf16, Rounding::Bf16}};
    case Numerics::Bf16x3:
      // Largest term first; inf/NaN enter only through hi*hi (see Rounding::Bf16Finite).
      return {{Rounding::Bf16, Rounding::Bf16},
              {Rounding::Bf16Finite, Rounding::Bf16Lo},
              {Rounding::Bf16Lo, Rounding::Bf16Finite}};
    case Numerics::Int8: break;  // the int8 family (int8/int8_family.cpp) runs no float passes
  }
  return {};
}

std::vector<Rounding> staged_roundings(Numerics numerics) {
  std::vector<Rounding> modes;
  for (const Pass& p : passes_for(numerics))
    if (std::find(modes.begin(), modes.end(), p.a) == modes.end()) modes.push_back(p.a);
  return modes;
}

}  // namespace torch_aie::runtime
