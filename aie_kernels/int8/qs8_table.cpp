// The int8 kernel tables and which of them this host runs (ATen's cpuinfo table).
#include <ATen/cpu/Utils.h>

#include <cstdlib>
#include <mutex>
#include <stdexcept>
#include <string>
#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include "aie_kernels/int8/qs8.h"
#include "aie_kernels/int8/qs8_variants.h"

// CMake builds a *_<suffix>.cpp only if the compiler takes the suffix's flags and then
// defines TORCH_AIE_KERNELS_HAVE_<SUFFIX>; AVX-VNNI borrows AVX2 pieces, AMX AVX-512 VNNI ones.
#if defined(TORCH_AIE_KERNELS_HAVE_AVX2)
#define QS8_BUILT_AVX2 1
#endif
#if defined(TORCH_AIE_KERNELS_HAVE_AVX2) && defined(TORCH_AIE_KERNELS_HAVE_AVXVNNI)
#define QS8_BUILT_AVXVNNI 1
#endif
#if defined(TORCH_AIE_KERNELS_HAVE_AVX512VNNI)
#define QS8_BUILT_AVX512VNNI 1
#endif
#if defined(TORCH_AIE_KERNELS_HAVE_AVX512VNNI) && defined(TORCH_AIE_KERNELS_HAVE_AMX)
#define QS8_BUILT_AMX 1
#endif

namespace aie_kernels::qs8 {

const char* qisa_name(QIsa isa) {
  switch (isa) {
    case QIsa::Scalar: return "scalar";
    case QIsa::Avx2: return "avx2";
    case QIsa::AvxVnni: return "avx_vnni";
    case QIsa::Avx512Vnni: return "avx512_vnni";
    case QIsa::Amx: return "amx_int8";
  }
  return "unknown";
}

const char* amx_permission_error() {
#if defined(__linux__) && defined(SYS_arch_prctl)
  // Linux hands out AMX tile data only on request (ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA);
  // the grant is per process, so asking once is enough.
  static const char* err = [] () -> const char* {
    constexpr int kArchReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;
    if (syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) != 0)
      return "the kernel refused AMX tile data (arch_prctl ARCH_REQ_XCOMP_PERM failed)";
    return "";
  }();
  return err;
#else
  return "AMX tile data permission is only requested on Linux";
#endif
}

namespace {

using Caps = std::unordered_map<std::string, c10::IValue>;

bool has(const Caps& caps, const char* key) {
  auto it = caps.find(key);
  return it != caps.end() && it->second.isBool() && it->second.toBool();
}

// Why this build lacks `isa` ("" if it has it).
const char* build_why_not(QIsa isa) {
  switch (isa) {
    case QIsa::Scalar: return "";
#ifndef QS8_BUILT_AVX2
    case QIsa::Avx2: return "not built: the compiler lacks the avx2 flags";
#endif
#ifndef QS8_BUILT_AVXVNNI
    case QIsa::AvxVnni: return "not built: the compiler lacks the avx2 / avxvnni flags";
#endif
#ifndef QS8_BUILT_AVX512VNNI
    case QIsa::Avx512Vnni: return "not built: the compiler lacks the avx512vnni flags";
#endif
#ifndef QS8_BUILT_AMX
    case QIsa::Amx: return "not built: the compiler lacks the avx512vnni / amx flags";
#endif
    default: return "";
  }
}

// Why the host cannot run `isa` ("" if it can), from the capability table.
std::string host_why_not(QIsa isa, const Caps& c) {
  if (const char* b = build_why_not(isa); *b) return b;
  const bool avx2 = has(c, "avx2") && has(c, "fma3");
  const bool avx512 = has(c, "avx512_f") && has(c, "avx512_bw") && has(c, "avx512_vl") && has(c, "avx512_dq");
  switch (isa) {
    case QIsa::Scalar: return "";
    case QIsa::Avx2: return avx2 ? "" : "host lacks avx2";
    case QIsa::AvxVnni: return !avx2 ? "host lacks avx2" : has(c, "avx_vnni") ? "" : "host lacks avx_vnni";
    case QIsa::Avx512Vnni:
      return !avx512 ? "host lacks avx512_f/bw/vl/dq" : has(c, "avx512_vnni") ? "" : "host lacks avx512_vnni";
    case QIsa::Amx: {
      if (!avx512 || !has(c, "avx512_vnni")) return "host lacks avx512_vnni (the AMX variant's epilogue)";
      if (!has(c, "amx_tile") || !has(c, "amx_int8")) return "host lacks amx_int8";
      const char* e = amx_permission_error();
      return e;
    }
  }
  return "unknown variant";
}

struct HostSupport {
  std::string why_not[kNumQIsa];
  QIsa best = QIsa::Scalar;
};

const HostSupport& host_support() {
  static const HostSupport s = [] {
    HostSupport h;
    const Caps caps = at::cpu::get_cpu_capabilities();
    for (int i = 0; i < kNumQIsa; ++i) {
      h.why_not[i] = host_why_not(static_cast<QIsa>(i), caps);
      if (h.why_not[i].empty()) h.best = static_cast<QIsa>(i);
    }
    // AVX-VNNI is chosen below AVX-512 VNNI; a host with AVX-512 VNNI but no AVX-VNNI
    // (Ice Lake) still runs the higher ones: `best` is the highest runnable variant.
    return h;
  }();
  return s;
}

QIsa cap_from_env(QIsa best) {
  if (const char* v = std::getenv("TORCH_AIE_INT8_ISA")) {
    for (int i = 0; i < kNumQIsa; ++i)
      if (std::string(v) == qisa_name(static_cast<QIsa>(i)) && i < static_cast<int>(best)) {
        // The highest runnable variant at or below the requested one.
        for (int j = i; j >= 0; --j)
          if (host_support().why_not[j].empty()) return static_cast<QIsa>(j);
      }
  }
  if (const char* v = std::getenv("TORCH_AIE_ISA")) {  // the bf16 family's cap applies too
    const std::string s(v);
    if (s == "scalar") return QIsa::Scalar;
    if (s == "avx2" && static_cast<int>(best) > static_cast<int>(QIsa::Avx2)) return QIsa::Avx2;
  }
  return best;
}

}  // namespace

bool qs8_can_run(QIsa isa, const char** why_not) {
  const std::string& w = host_support().why_not[static_cast<int>(isa)];
  if (why_not) *why_not = w.c_str();
  return w.empty();
}

QIsa qs8_host_isa() {
  static const QIsa isa = cap_from_env(host_support().best);
  return isa;
}

namespace {

// A variant this build lacks falls back to the scalar table; qs8_can_run refuses it, naming why.
Qs8KernelTable make_table(QIsa isa) {
  switch (isa) {
#ifdef QS8_BUILT_AVX2
    case QIsa::Avx2: return make_qs8_avx2();
#endif
#ifdef QS8_BUILT_AVXVNNI
    case QIsa::AvxVnni: return make_qs8_avx_vnni();
#endif
#ifdef QS8_BUILT_AVX512VNNI
    case QIsa::Avx512Vnni: return make_qs8_avx512_vnni();
#endif
#ifdef QS8_BUILT_AMX
    case QIsa::Amx: return make_qs8_amx();
#endif
    default: return make_qs8_scalar();
  }
}

}  // namespace

const Qs8KernelTable& qs8_table(QIsa isa) {
  // Built on first use and only for a variant the host runs: a make_qs8_* is compiled
  // for its ISA, and the compiler may fill the table with that ISA's registers.
  const char* why_not = nullptr;
  if (!qs8_can_run(isa, &why_not))
    throw std::invalid_argument(std::string("qs8: cannot run the ") + qisa_name(isa) + " kernels: " + why_not);
  static std::once_flag once[kNumQIsa];
  static Qs8KernelTable tables[kNumQIsa];
  const int i = static_cast<int>(isa);
  std::call_once(once[i], [&] { tables[i] = make_table(isa); });
  return tables[i];
}

}  // namespace aie_kernels::qs8
