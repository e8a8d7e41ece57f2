"""``torch_aie.backends``: the aie conv settings as attributes, in the style of
``torch.backends.mkldnn.conv.fp32_precision`` and ``torch.backends.cudnn.benchmark``.

    torch_aie.backends.conv.fp32_precision = "bf16x3"   # "bf16" (default) | "bf16x3" | "ieee"
    torch_aie.backends.conv.benchmark = True            # autotune each conv shape once
    torch_aie.backends.conv.algorithm = "direct"        # or "auto", "im2col_gemm", ...
    with torch_aie.backends.flags(fp32_precision="ieee", benchmark=False):
        ...

They read and write the same process-wide state as torch_aie.set_conv_precision(),
set_conv_autotune() and set_conv_algorithm(), which stay as they are.
"""
from __future__ import annotations

import contextlib

import torch

from . import conv_op

__all__ = ["conv", "flags"]


class _ConvSettings:
    __slots__ = ()

    @property
    def fp32_precision(self) -> str:
        """How float32 convs run: "bf16" (one bf16 pass, default), "bf16x3" (hi/lo split,
        close to fp32) or "ieee" (exact fp32, on the host CPU)."""
        return conv_op.get_conv_precision()

    @fp32_precision.setter
    def fp32_precision(self, value: str) -> None:
        conv_op.set_conv_precision(value)

    @property
    def benchmark(self) -> bool:
        """cuDNN-benchmark-style autotuning: time every applicable algorithm on the first
        call of each conv shape and keep the fastest."""
        return torch.ops._aie.get_conv_autotune()

    @benchmark.setter
    def benchmark(self, value: bool) -> None:
        if not isinstance(value, bool):
            raise TypeError(f"torch_aie.backends.conv.benchmark must be a bool, got {value!r}")
        conv_op.set_conv_autotune(value)

    @property
    def algorithm(self) -> str:
        """The forced conv algorithm, or "auto" for the planner's choice."""
        return conv_op.get_conv_algorithm()

    @algorithm.setter
    def algorithm(self, value: str) -> None:
        conv_op.set_conv_algorithm(value)

    def __repr__(self) -> str:
        return (f"torch_aie.backends.conv(fp32_precision={self.fp32_precision!r}, "
                f"benchmark={self.benchmark!r}, algorithm={self.algorithm!r})")


conv = _ConvSettings()


@contextlib.contextmanager
def flags(fp32_precision: str | None = None, benchmark: bool | None = None,
          algorithm: str | None = None):
    """Sets the given conv settings for the block (None leaves one as it is) and restores
    all three on exit, as torch.backends.cudnn.flags() does."""
    saved = (conv.fp32_precision, conv.benchmark, conv.algorithm)
    try:
        if fp32_precision is not None:
            conv.fp32_precision = fp32_precision
        if benchmark is not None:
            conv.benchmark = benchmark
        if algorithm is not None:
            conv.algorithm = algorithm
        yield
    finally:
        conv.fp32_precision, conv.benchmark, conv.algorithm = saved
