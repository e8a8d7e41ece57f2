"""torch.ops.aie.conv2d's Python side (fake impl, autograd) and the conv settings.

The op is defined in C++ (csrc/ops/conv/conv_registration.cpp), which points
the dispatcher here for its fake implementation.
"""
import contextlib

import torch

from . import _conv_counters

__all__ = [
    "conv2d",
    "set_conv_precision",
    "get_conv_precision",
    "conv_precision",
    "set_conv_algorithm",
    "get_conv_algorithm",
    "conv_algorithm",
    "explain_conv",
    "conv_stats",
    "reset_conv_stats",
    "set_conv_autotune",
    "conv_autotuned_shapes",
    "set_array",
    "get_array",
    "conv_array_plan",
    "gemm_array_model",
]


ACTIVATIONS = ("none", "relu", "relu6", "hardswish", "silu", "gelu")


@torch.library.register_fake("aie::conv2d")
def _conv2d_fake(input, weight, bias=None, stride=(1, 1), padding=(0, 0), dilation=(1, 1),
                 groups=1, algorithm="auto", relu=False, activation="none", residual=None):
    # ATen's own rules on fake tensors; the memory format is the kernel's (_conv_layout).
    return torch.ops.aten.convolution(input, weight, bias, stride, padding, dilation, False,
                                      [0] * (input.dim() - 2), groups)


@torch.library.register_fake("aie::conv2d_scaled")
def _conv2d_scaled_fake(input, scale, weight, bias=None, stride=(1, 1), padding=(0, 0), dilation=(1, 1),
                        groups=1, activation="none", residual=None):
    # conv2d of input * scale: ATen's broadcast, promotion and memory format for the product.
    return _conv2d_fake(input * scale, weight, bias, stride, padding, dilation, groups)


# Autograd: csrc/ops/conv/conv2d_autograd.cpp (a C++ kernel, so that inference calls skip Python).


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1,
           algorithm="auto", relu=False, activation="none", residual=None):
    """`torch.ops.aie.conv2d` with `F.conv2d`-style int-or-pair arguments; also takes
    1-D convs (3-D input). The epilogue computes act((conv + bias) + residual) in fp32
    and rounds once: `activation` is "none", "relu", "relu6", "hardswish", "silu" or
    "gelu" (erf form);
    `residual` (optional) is broadcast to the output's shape."""
    n = input.dim() - 2
    seq = lambda v: [v] * n if isinstance(v, int) else list(v)  # noqa: E731
    return torch.ops.aie.conv2d(input, weight, bias, seq(stride), seq(padding), seq(dilation),
                                groups, algorithm, relu, activation, residual)


def set_conv_precision(precision: str) -> None:
    """Float32 convs on aie: "bf16" (default, one bf16 pass), "bf16x3" (hi/lo split,
    close to fp32), or "ieee" (exact fp32: the convolution runs on the host CPU)."""
    torch.ops._aie.set_conv_precision(precision)


def get_conv_precision() -> str:
    return torch.ops._aie.get_conv_precision()


@contextlib.contextmanager
def conv_precision(precision: str):
    """Temporarily set the float32 conv precision (process-wide)."""
    old = get_conv_precision()
    set_conv_precision(precision)
    try:
        yield
    finally:
        set_conv_precision(old)


def set_conv_algorithm(algorithm: str) -> None:
    """Force "im2col_gemm", "gemm_1x1", "direct" or "depthwise" where it applies
    (the planner's choice elsewhere), or "auto"."""
    torch.ops._aie.set_conv_algorithm(algorithm)


def get_conv_algorithm() -> str:
    return torch.ops._aie.get_conv_algorithm()


@contextlib.contextmanager
def conv_algorithm(algorithm: str):
    old = get_conv_algorithm()
    set_conv_algorithm(algorithm)
    try:
        yield
    finally:
        set_conv_algorithm(old)


def explain_conv(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1,
                 transposed=False, algorithm="auto") -> str:
    """The planner's decision for this convolution: algorithm and reason, or why it
    runs on the CPU. Tensors may be on any device, including "meta"."""
    dims = input.dim() - 2
    seq = lambda v: [v] * dims if isinstance(v, int) else list(v)  # noqa: E731
    return torch.ops._aie.explain_conv(input, weight, bias, seq(stride), seq(padding),
                                       seq(dilation), transposed, groups, algorithm)


def conv_stats() -> dict:
    """Calls served on the NPU path per algorithm ("npu:<alg>"), CPU fallbacks per reason
    ("cpu_fallback:<reason>"), and convs of a quantised graph that torch_aie.quantization.lower
    left in float ("int8_not_lowered:<reason>")."""
    keys, values = torch.ops._aie.conv_stats()
    stats = dict(zip(keys, values))
    stats.update(_conv_counters.snapshot())
    return stats


def reset_conv_stats() -> None:
    torch.ops._aie.reset_conv_stats()
    _conv_counters.reset()


def set_array(name: str) -> None:
    """The AIE array plans are made for: "phoenix" (XDNA, 4x4 cores, default) or
    "strix" (XDNA2, 8x4). A conv whose plan does not fit its memories runs on the CPU."""
    torch.ops._aie.set_array(name)


def get_array() -> str:
    return torch.ops._aie.get_array()


def conv_array_plan(input, weight, stride=1, padding=0, dilation=1, groups=1, algorithm="auto",
                    dtype="bf16") -> dict:
    """The planner's algorithm and its AIE array plan: cores used, per-core tile, core
    and memtile bytes vs capacity, modelled cycles / microseconds / utilisation (a cycle
    *model* of the NPU, not a measurement). Tensors may be on "meta". `dtype` is the
    operand type the NPU multiplies: "bf16" (what aie convs run today) or "int8"
    (quantised convs: int8 MAC tile and MAC rate, one-byte operands)."""
    dims = input.dim() - 2
    seq = lambda v: [v] * dims if isinstance(v, int) else list(v)  # noqa: E731
    summary, keys, values = torch.ops._aie.conv_array_plan(input, weight, seq(stride), seq(padding),
                                                           seq(dilation), groups, algorithm, dtype)
    return {"algorithm": summary, **dict(zip(keys, values))}


def gemm_array_model(M: int, N: int, K: int, array: str = "phoenix", dtype: str = "bf16") -> dict:
    """Modelled whole-array time of an M x N x K GEMM (bf16 or int8 operands)."""
    us, util, cores, comp, dma = torch.ops._aie.gemm_array_model(M, N, K, array, 1 if dtype == "int8" else 2)
    return {"modelled_us": us, "utilisation": util, "cores_used": cores, "compute_cycles": comp,
            "dma_cycles": dma, "ops_per_s": 2.0 * M * N * K / (us * 1e-6)}


def set_conv_autotune(enabled: bool) -> None:
    """cuDNN-benchmark-style: when on (default off), the first call of each conv shape
    times every algorithm that applies and keeps the fastest for that shape. A per-call
    or global algorithm override wins over it."""
    torch.ops._aie.set_conv_autotune(enabled)


def conv_autotuned_shapes() -> int:
    """How many shapes the autotuner has settled."""
    return torch.ops._aie.conv_autotuned_shapes()
