// Host ISA detection through PyTorch's cpuinfo-backed capability table.
#include <ATen/cpu/Utils.h>

#include <cstdlib>
#include <string>
#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include "aie_kernels/isa.h"

namespace aie_kernels {

namespace {

bool has(const std::unordered_map<std::string, c10::IValue>& caps, const char* key) {
  auto it = caps.find(key);
  return it != caps.end() && it->second.isBool() && it->second.toBool();
}

// Linux hands a process the AMX tile state only on request (arch_prctl
// ARCH_REQ_XCOMP_PERM for XFEATURE_XTILEDATA); the grant is process-wide and
// permanent, so asking once suffices. Returns "" or why it was refused.
std::string request_amx_tiles() {
#if defined(__linux__) && defined(SYS_arch_prctl)
  constexpr long kArchReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;
  if (syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0) return "";
  return "AMX tiles refused by the kernel (arch_prctl ARCH_REQ_XCOMP_PERM failed); using avx512_bf16";
#else
  return "AMX tile permission cannot be requested on this OS; using avx512_bf16";
#endif
}

struct Detected {
  Isa isa = Isa::Scalar;
  Isa hardware = Isa::Scalar;  // before the TORCH_AIE_ISA cap
  std::string reason;
};

Detected detect() {
  const auto caps = at::cpu::get_cpu_capabilities();
  Detected d;
  if (has(caps, "avx2") && has(caps, "fma3")) d.isa = Isa::Avx2;
  if (has(caps, "avx512_f") && has(caps, "avx512_bw") && has(caps, "avx512_vl") &&
      has(caps, "avx512_dq"))
    d.isa = Isa::Avx512;
  // The native-bf16 ISAs only where the compiler built their kernel files too.
#if TORCH_AIE_KERNELS_HAVE_AVX512BF16
  if (d.isa == Isa::Avx512 && has(caps, "avx512_bf16")) d.isa = Isa::Avx512Bf16;
#endif
#if TORCH_AIE_KERNELS_HAVE_AMX
  const bool amx = d.isa == Isa::Avx512Bf16 && has(caps, "amx_tile") && has(caps, "amx_bf16");
#else
  const bool amx = false;
#endif
  Isa cap = Isa::AmxBf16;
  if (const char* env = std::getenv("TORCH_AIE_ISA")) {
    const std::string s(env);
    cap = s == "scalar"        ? Isa::Scalar
          : s == "avx2"        ? Isa::Avx2
          : s == "avx512"      ? Isa::Avx512
          : s == "avx512_bf16" ? Isa::Avx512Bf16
                               : Isa::AmxBf16;
  }
  if (amx && cap == Isa::AmxBf16) {
    d.reason = request_amx_tiles();
    if (d.reason.empty()) d.isa = Isa::AmxBf16;
  } else if (static_cast<int>(cap) < static_cast<int>(amx ? Isa::AmxBf16 : d.isa)) {
    d.reason = std::string("capped by TORCH_AIE_ISA=") + std::getenv("TORCH_AIE_ISA");
  }
  d.hardware = d.isa;  // AMX only once the tiles were granted
  if (static_cast<int>(cap) < static_cast<int>(d.isa)) d.isa = cap;
  return d;
}

const Detected& detected() {
  static const Detected d = detect();
  return d;
}

}  // namespace

Isa detect_host_isa() { return detected().isa; }

Isa host_hardware_isa() { return detected().hardware; }

const char* isa_downgrade_reason() { return detected().reason.c_str(); }

}  // namespace aie_kernels
