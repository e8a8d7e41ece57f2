// Host ISA detection through PyTorch's cpuinfo-backed capability table.
#include <ATen/cpu/Utils.h>

#include <cstdlib>
#include <string>

#include "aie_kernels/isa.h"

namespace aie_kernels {

static bool has(const std::unordered_map<std::string, c10::IValue>& caps, const char* key) {
  auto it = caps.find(key);
  return it != caps.end() && it->second.isBool() && it->second.toBool();
}

Isa detect_host_isa() {
  const auto caps = at::cpu::get_cpu_capabilities();
  Isa best = Isa::Scalar;
  if (has(caps, "avx2") && has(caps, "fma3")) best = Isa::Avx2;
  if (has(caps, "avx512_f") && has(caps, "avx512_bw") && has(caps, "avx512_vl") &&
      has(caps, "avx512_dq"))
    best = Isa::Avx512;
  if (const char* cap = std::getenv("TORCH_AIE_ISA")) {
    const std::string s(cap);
    Isa want = s == "scalar" ? Isa::Scalar : s == "avx2" ? Isa::Avx2 : Isa::Avx512;
    if (static_cast<int>(want) < static_cast<int>(best)) best = want;
  }
  return best;
}

}  // namespace aie_kernels
