"""Scale arithmetic of the int8 conv: float requantisation factors as integer
multiplier/shift pairs for torch.ops.aie.qconv2d's SRS (shift-round-saturate).

A conv's accumulator acc (int32, at scale s_x * s_w[oc]) is requantised to the output
scale s_y by M[oc] = s_x * s_w[oc] / s_y:  y = SRS(acc * multiplier[oc], shift[oc]).

- M an exact power of two 2^-k (always under "xint8"): multiplier 1, shift k, a pure shift
  like the AIE's SRS; for k < 0 (M > 1) multiplier 2^-k, shift 0. Exact.
- otherwise ("a8w8"), gemmlowp/TFLite's fixed point: M = f * 2^e with f in [0.5, 1),
  multiplier = round(f * 2^31) in [2^30, 2^31), shift = 31 - e. M > 1 needs no special case
  (shift = 31 - e stays >= 0 up to M < 2^31); the relative error of M is below 2^-31. A
  factor so small that shift would exceed 62 (M < 2^-32, every output rounds to 0 or the
  zero point anyway) keeps shift 62 and a multiplier shifted down accordingly.
acc * multiplier stays below 2^62 in magnitude, so the product is exact in int64.
"""
import math

import torch

INT32_MAX = 2**31 - 1
MAX_SHIFT = 62


def is_power_of_two(v: float) -> bool:
    if not (v > 0 and math.isfinite(v)):
        return False
    m, _ = math.frexp(v)
    return m == 0.5


def multiplier_shift(factor: float):
    """(multiplier, shift) with multiplier * 2^-shift == factor (powers of two) or within
    2^-31 relative."""
    if not (factor > 0 and math.isfinite(factor)):
        raise ValueError(f"torch_aie.quantization: requantisation factor {factor!r} must be positive and finite")
    m, e = math.frexp(factor)  # factor = m * 2^e, m in [0.5, 1)
    if m == 0.5:  # exact power of two: 2^(e-1)
        k = 1 - e  # factor = 2^-k
        if k >= 0:
            return (1, k) if k <= MAX_SHIFT else (0, MAX_SHIFT)
        if -k > 30:
            raise ValueError(f"torch_aie.quantization: requantisation factor {factor!r} >= 2^31 is out of range")
        return 1 << -k, 0
    mult = round(m * 2**31)
    if mult == 2**31:
        mult //= 2
        e += 1
    shift = 31 - e
    if shift < 0:
        raise ValueError(f"torch_aie.quantization: requantisation factor {factor!r} >= 2^31 is out of range")
    if shift > MAX_SHIFT:
        drop = shift - MAX_SHIFT
        mult = (mult + (1 << (drop - 1))) >> drop if drop < 63 else 0
        shift = MAX_SHIFT
    return mult, shift


def multipliers_shifts(factors: torch.Tensor):
    """Per output channel (multiplier, shift) as int32 tensors."""
    pairs = [multiplier_shift(float(f)) for f in factors.double().reshape(-1).tolist()]
    mult = torch.tensor([p[0] for p in pairs], dtype=torch.int32)
    shift = torch.tensor([p[1] for p in pairs], dtype=torch.int32)
    return mult, shift


def check_power_of_two(scale, what: str) -> None:
    """"xint8" demands power-of-two scales; name the first offending value."""
    for v in torch.as_tensor(scale, dtype=torch.float64).reshape(-1).tolist():
        if not is_power_of_two(v):
            raise ValueError(
                f"torch_aie.quantization: scheme 'xint8' needs power-of-two scales, but {what} has "
                f"scale {v!r} (log2 = {math.log2(v) if v > 0 else float('nan'):.4f}); quantise with "
                f"AieQuantizer('xint8') or lower with scheme='a8w8'")


def quantize_value(v: float, scale: float, zero_point: int, qmin: int, qmax: int) -> int:
    """PyTorch's quantize_per_tensor of one value (float32 arithmetic, half to even)."""
    t = torch.tensor([v], dtype=torch.float32)
    inv = 1.0 / scale  # a Python float, as quantized_decomposed.quantize_per_tensor computes it
    q = torch.clamp(torch.round(t * inv) + zero_point, qmin, qmax)
    return int(q.item())
