"""Loads the native library once; its static initialisers register the aie kernels."""
import os
from pathlib import Path

import torch

# TORCH_AIE_LIBRARY selects another build of the library (scripts/sanitize.sh uses it).
_LIB = Path(os.environ.get("TORCH_AIE_LIBRARY", Path(__file__).resolve().parent / "lib" / "libtorch_aie.so"))


def load() -> None:
    if not _LIB.exists():
        raise ImportError(
            f"torch_aie's native library is missing ({_LIB}); build it with "
            "`pip install --no-build-isolation -e .` (scripts/setup_env.sh does this)"
        )
    torch.ops.load_library(str(_LIB))
    # Structured ops' functional / in-place overloads straight to their CPU kernels
    # (csrc/device/fallback.cpp says why); needs every aie kernel registered first.
    torch.ops._aie.route_structured_ops_to_cpu()


def host_isa() -> str:
    """The host instruction set the emulator's kernels run with (e.g. 'avx2+fma')."""
    return torch.ops._aie.host_isa()
