// Host instruction sets the emulator's kernels are compiled for.
#pragma once

namespace aie_kernels {

enum class Isa { Scalar = 0, Avx2 = 1, Avx512 = 2 };

const char* isa_name(Isa isa);

// Best ISA this host runs, from PyTorch's cpuinfo-backed capability table.
// TORCH_AIE_ISA=scalar|avx2|avx512 caps it (for testing the other variants).
Isa detect_host_isa();

}  // namespace aie_kernels
