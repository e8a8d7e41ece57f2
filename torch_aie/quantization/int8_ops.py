"""Ops between int8 convs that the lowered graph runs on int8 tensors directly.

max_pool2d on int8/uint8: ATen's CPU max_pool2d for integer dtypes is a slow scalar loop
(about 12 ms for ResNet-50's 64x112x112 pool at batch 1 on this host, vs well under 1 ms in
float), and aie has no pool kernel, so the pool runs as a running elementwise maximum over
the kernel's taps, each tap a strided view of the (padded) input: kh*kw vectorised maxima.
Exact: a max of int8 codes is the code of the max.
"""
import torch
import torch.nn.functional as F


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v) if len(v) == 2 else (v[0], v[0])


def int8_max_pool2d(x, kernel_size, stride=(), padding=0, dilation=1, ceil_mode=False):
    if ceil_mode or x.dim() != 4 or x.dtype not in (torch.int8, torch.uint8):
        return torch.ops.aten.max_pool2d.default(x, kernel_size, stride, padding, dilation, ceil_mode)
    (kh, kw), (ph, pw), (dh, dw) = _pair(kernel_size), _pair(padding), _pair(dilation)
    sh, sw = _pair(stride) if stride not in ((), [], None) else (kh, kw)
    h, w = x.shape[2] + 2 * ph, x.shape[3] + 2 * pw
    ho, wo = (h - dh * (kh - 1) - 1) // sh + 1, (w - dw * (kw - 1) - 1) // sw + 1
    if ph or pw:  # padding never wins the max: pad with the dtype's lowest code
        x = F.pad(x, (pw, pw, ph, ph), value=float(torch.iinfo(x.dtype).min))
    out = None
    for i in range(kh):
        for j in range(kw):
            tap = x[:, :, i * dh: i * dh + sh * (ho - 1) + 1: sh, j * dw: j * dw + sw * (wo - 1) + 1: sw]
            out = tap.clone() if out is None else torch.maximum(out, tap, out=out)
    return out
