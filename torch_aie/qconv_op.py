"""torch.ops.aie.qconv2d's Python side: fake impl, the documented wrapper, int8 introspection.

The op is defined in C++ (csrc/ops/qconv/qconv_op.cpp), which points the dispatcher
here for its fake implementation.
"""
import torch
from torch._prims_common import suggest_memory_format

__all__ = ["qconv2d", "explain_qconv", "qconv_array_plan", "qconv_isa", "qconv_isas", "set_qconv_isa"]

_ROUNDINGS = ("floor", "positive_inf", "symmetric_inf", "conv_even")


def _out_size(size, k, s, p, d):
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


@torch.library.register_fake("aie::qconv2d")
def _qconv2d_fake(x, weight, bias, multiplier, shift, stride=(1, 1), padding=(0, 0), dilation=(1, 1),
                  groups=1, out_zero_point=0, out_min=-128, out_max=127, out_dtype=torch.int8,
                  rounding="conv_even", skip=None, skip_multiplier=1, skip_shift=0):
    torch._check(x.dim() == 4 and weight.dim() == 4, lambda: "aie.qconv2d: x and weight must be 4-D")
    torch._check(x.dtype in (torch.int8, torch.uint8), lambda: f"aie.qconv2d: x must be int8 or uint8, got {x.dtype}")
    torch._check(weight.dtype == torch.int8, lambda: f"aie.qconv2d: weight must be int8, got {weight.dtype}")
    torch._check(out_dtype in (torch.int8, torch.uint8), lambda: f"aie.qconv2d: out_dtype must be int8 or uint8")
    stride, padding, dilation = (list(v) * 2 if len(v) == 1 else list(v) for v in (stride, padding, dilation))
    n, oc = x.shape[0], weight.shape[0]
    oh = _out_size(x.shape[2], weight.shape[2], stride[0], padding[0], dilation[0])
    ow = _out_size(x.shape[3], weight.shape[3], stride[1], padding[1], dilation[1])
    channels_last = torch.channels_last in (suggest_memory_format(x), suggest_memory_format(weight))
    return torch.empty((n, oc, oh, ow), dtype=out_dtype, device=x.device,
                       memory_format=torch.channels_last if channels_last else torch.contiguous_format)


def qconv2d(x, weight, bias, multiplier, shift, stride=1, padding=0, dilation=1, groups=1,
            out_zero_point=0, out_min=-128, out_max=127, out_dtype=torch.int8, rounding="conv_even",
            skip=None, skip_multiplier=1, skip_shift=0):
    """int8 convolution with SRS requantisation: `torch.ops.aie.qconv2d` with int-or-pair arguments.

    Schema::

        aie::qconv2d(Tensor x, Tensor weight, Tensor? bias, Tensor multiplier, Tensor shift,
                     int[2] stride=1, int[2] padding=0, int[2] dilation=1, int groups=1,
                     int out_zero_point=0, int out_min=-128, int out_max=127,
                     ScalarType out_dtype=int8, str rounding="conv_even",
                     Tensor? skip=None, int skip_multiplier=1, int skip_shift=0) -> Tensor

    Operands (all on one device, "aie" or "cpu"; the CPU kernel is the same emulator):
      x           int8 or uint8 [N, C, H, W], any strides, zero point 0 (asymmetric activation
                  zero points are folded into `bias` by the lowering). channels_last in, channels_last out.
      weight      int8 [OC, C/groups, KH, KW], symmetric (zero point 0).
      bias        int32 [OC] at scale s_x * s_w[oc], or None.
      multiplier  int32 [OC] per output channel (per tensor: one value repeated).
      shift       int32 [OC], each in [0, 62].
      skip        residual input (int8/uint8, the output's shape), requantised with its own per-tensor
                  skip_multiplier / skip_shift and added before the zero point and clamp.

    Semantics (exact integer arithmetic, identical on every host; tests/qconv_reference.py)::

        acc = bias[oc] + sum_{c, kh, kw} x * w                  (int32, exact)
        y   = SRS(acc * multiplier[oc], shift[oc], rounding)     (int64 product)
            [+ SRS(skip * skip_multiplier, skip_shift, rounding)]
            + out_zero_point
        out = clamp(y, out_min, out_max) as out_dtype (int8 or uint8)

    SRS = shift-round-saturate with the AIE's rounding modes: "floor" (toward -inf), "positive_inf"
    (half up), "symmetric_inf" (half away from zero), "conv_even" (half to even, the default).
    ReLU is out_min = out_zero_point; ReLU6 is out_max = q(6).

    Refused with a RuntimeError naming the value: reductions that could overflow int32
    (K * max|x| * 128 + max|bias| > 2^31 - 1, K = C/groups * KH * KW, max|x| = 128 for int8 and
    255 for uint8), shifts outside [0, 62], out ranges outside out_dtype, mixed float/int operands,
    float weights, weight zero points, and PyTorch quantized tensors (use torch_aie.quantize or
    torch_aie.quantization.AieQuantizer + lower). Inputs are never modified.
    """
    pair = lambda v: [v, v] if isinstance(v, int) else list(v)  # noqa: E731
    return torch.ops.aie.qconv2d(x, weight, bias, multiplier, shift, pair(stride), pair(padding), pair(dilation),
                                 groups, out_zero_point, out_min, out_max, out_dtype, rounding, skip,
                                 skip_multiplier, skip_shift)


def explain_qconv(x, weight, stride=1, padding=0, dilation=1, groups=1) -> str:
    """The int8 planner's decision: algorithm and reason, the AIE array plan with int8 buffers at
    the int8 MAC rate (a model), and the host kernel variant. Tensors may be on "meta"."""
    pair = lambda v: [v, v] if isinstance(v, int) else list(v)  # noqa: E731
    return torch.ops._aie.explain_qconv(x, weight, pair(stride), pair(padding), pair(dilation), groups)


def qconv_array_plan(x, weight, stride=1, padding=0, dilation=1, groups=1) -> dict:
    """The int8 conv's AIE array plan (1-byte elements, int8 MAC rate): cores, tile, memories,
    modelled cycles / microseconds (a cycle *model*, not a measurement)."""
    pair = lambda v: [v, v] if isinstance(v, int) else list(v)  # noqa: E731
    summary, keys, values = torch.ops._aie.qconv_array_plan(x, weight, pair(stride), pair(padding),
                                                            pair(dilation), groups)
    return {"algorithm": summary, **dict(zip(keys, values))}


def qconv_isa() -> str:
    """The int8 host kernel variant in use ("scalar", "avx2", "avx_vnni", "avx512_vnni", "amx_int8")."""
    return torch.ops._aie.qconv_isa()


def qconv_isas() -> dict:
    """Every int8 kernel variant -> "" if this host runs it, else why not (e.g. "host lacks amx_int8")."""
    names, ok, why = torch.ops._aie.qconv_isas()
    return {n: ("" if o else w) for n, o, w in zip(names, ok, why)}


def set_qconv_isa(name: str) -> None:
    """Run the int8 kernels with variant `name` (process-wide; for tests and benchmarks).
    TORCH_AIE_INT8_ISA=<name> caps the variant at start-up instead."""
    torch.ops._aie.set_qconv_isa(name)
