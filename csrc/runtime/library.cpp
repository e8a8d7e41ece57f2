// The `_aie` operator namespace: torch_aie's internal control surface (stats,
// settings, introspection), reached from Python as torch.ops._aie.<name>.
// Each component adds its functions with TORCH_LIBRARY_FRAGMENT(_aie, m).
#include <torch/library.h>

#include "aie_kernels/isa.h"

namespace torch_aie {

static std::string host_isa() { return aie_kernels::isa_name(aie_kernels::detect_host_isa()); }

TORCH_LIBRARY(_aie, m) {
  m.def("host_isa() -> str", &host_isa);
}

}  // namespace torch_aie
