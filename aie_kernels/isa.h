// Host instruction sets the emulator's kernels are compiled for.
#pragma once

namespace aie_kernels {

// Ordered: each ISA implies the ones before it. Avx512Bf16 and AmxBf16 add the
// native bf16 dot products (vdpbf16ps, tdpbf16ps) that the bf16 GEMM family uses
// (bf16_gemm.h); their fp32 kernels are the AVX-512 ones.
enum class Isa { Scalar = 0, Avx2 = 1, Avx512 = 2, Avx512Bf16 = 3, AmxBf16 = 4 };
constexpr int kNumIsas = 5;

const char* isa_name(Isa isa);

// Best ISA this host runs, from PyTorch's cpuinfo-backed capability table (and, for
// AMX, the kernel's permission to use the tile state). TORCH_AIE_ISA=scalar|avx2|
// avx512|avx512_bf16|amx caps it (for testing the other variants).
Isa detect_host_isa();

// Best ISA this host's CPU executes, ignoring TORCH_AIE_ISA: the limit for building
// a variant's kernel table (tests run every variant up to it).
Isa host_hardware_isa();

// Why the host's best ISA by its CPU flags was not chosen ("" if it was): a cap by
// TORCH_AIE_ISA, or AMX tiles refused by the OS.
const char* isa_downgrade_reason();

}  // namespace aie_kernels
