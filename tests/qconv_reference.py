"""Independent integer reference of the int8 convolution contract (torch.ops.aie.qconv2d).

This pins the semantics every int8 kernel must reproduce bit for bit. It is written
without any of torch_aie's code: the accumulation is a float64 ATen convolution of
integer-valued tensors, which is exact because every partial sum is an integer far
below 2^53 (|x| <= 255, |w| <= 128, K <= 2^17), then everything else runs in int64.

    acc[n, oc, p] = bias[oc] + sum_{c, kh, kw} x * w              (exact; int32 range)
    y             = SRS(acc * multiplier[oc], shift[oc], rounding)
    y            += SRS(skip * skip_multiplier, skip_shift, rounding)   (if skip given)
    y            += out_zero_point
    out           = clamp(y, out_min, out_max) as out_dtype (int8 or uint8)

x is int8 (symmetric, zero point 0) or uint8 (e.g. after a fused ReLU, zero point 0);
w is int8 symmetric; bias int32 at scale s_x * s_w[oc]. SRS = shift-round-saturate,
with the AIE's rounding modes:
    floor          round toward -inf                     (v >> s)
    positive_inf   round half toward +inf                ((v + 2^(s-1)) >> s)
    symmetric_inf  round half away from zero
    conv_even      round half to even (PyTorch's quantize; the default)
"""
import torch
import torch.nn.functional as F

ROUNDINGS = ("floor", "positive_inf", "symmetric_inf", "conv_even")


def srs(v: torch.Tensor, shift: torch.Tensor, rounding: str = "conv_even") -> torch.Tensor:
    """Shift-round of int64 `v` right by `shift` (int64, broadcastable, each in [0, 62])."""
    v = v.to(torch.int64)
    shift = torch.as_tensor(shift, dtype=torch.int64)
    assert bool((shift >= 0).all()) and bool((shift <= 62).all()), shift
    one = torch.ones_like(shift)
    half = torch.where(shift > 0, one << (shift - 1).clamp(min=0), torch.zeros_like(shift))
    q = v >> shift  # floor
    if rounding == "floor":
        return q
    r = v - (q << shift)  # remainder in [0, 2^shift)
    if rounding == "positive_inf":
        return q + ((r >= half) & (shift > 0)).to(torch.int64)
    if rounding == "symmetric_inf":
        a = v.abs()
        qa = a >> shift
        ra = a - (qa << shift)
        qa = qa + ((ra >= half) & (shift > 0)).to(torch.int64)
        return torch.where(v < 0, -qa, qa)
    if rounding == "conv_even":
        up = (r > half) | ((r == half) & (q % 2 != 0))
        return q + (up & (shift > 0)).to(torch.int64)
    raise ValueError(f"unknown rounding {rounding!r}")


def qconv2d_reference(x, w, bias, multiplier, shift, stride=(1, 1), padding=(0, 0), dilation=(1, 1),
                      groups=1, out_zero_point=0, out_min=-128, out_max=127, out_dtype=torch.int8,
                      rounding="conv_even", skip=None, skip_multiplier=1, skip_shift=0):
    """The contract above on CPU tensors; returns an out_dtype tensor (contiguous NCHW)."""
    assert x.dtype in (torch.int8, torch.uint8) and w.dtype == torch.int8, (x.dtype, w.dtype)
    acc = F.conv2d(x.double(), w.double(), None, stride, padding, dilation, groups)
    acc = acc.round().to(torch.int64)  # exact: integers below 2^53
    oc_view = (1, -1, 1, 1)
    if bias is not None:
        acc = acc + bias.to(torch.int64).view(oc_view)
    assert bool((acc.abs() < 2**31).all()), "int32 accumulator range exceeded"
    y = srs(acc * multiplier.to(torch.int64).view(oc_view), shift.to(torch.int64).view(oc_view), rounding)
    if skip is not None:
        y = y + srs(skip.to(torch.int64) * int(skip_multiplier), torch.tensor(int(skip_shift)), rounding)
    y = (y + int(out_zero_point)).clamp(int(out_min), int(out_max))
    return y.to(out_dtype)
