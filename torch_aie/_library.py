"""Loads the native library once; its static initialisers register the aie kernels."""
from pathlib import Path

import torch

_LIB = Path(__file__).resolve().parent / "lib" / "libtorch_aie.so"


def load() -> None:
    if not _LIB.exists():
        raise ImportError(
            f"torch_aie's native library is missing ({_LIB}); build it with "
            "`pip install --no-build-isolation -e .` (scripts/setup_env.sh does this)"
        )
    torch.ops.load_library(str(_LIB))


def host_isa() -> str:
    """The host instruction set the emulator's kernels run with (e.g. 'avx2+fma')."""
    return torch.ops._aie.host_isa()
