"""torch.autocast("aie"): CUDA's policy, with bfloat16 (the NPU's float type).

The kernels are registered for the AutocastPrivateUse1 key in csrc/device/autocast.cpp
from ATen's own op lists (the ones CUDA's autocast uses): convolutions (also transposed,
1-3-D, and torch.ops.aie.conv2d), linear, matmul, mm, bmm, addmm, baddbmm, ... run in
bfloat16; exp, log, layer_norm, group_norm, losses, upsampling ... in float32; softmax,
log_softmax, sum, cumsum, prod, norms in float32 unless a dtype is given; mixed-dtype
ops (addcmul, addcdiv, ...) in the widest input dtype; everything else in its input
dtypes. The device's autocast dtype defaults to float16 in ATen (thread-local, for every
PrivateUse1 backend); importing torch_aie makes it bfloat16 on the importing thread, so
``torch.autocast("aie")`` works there without ``dtype=``. On other threads pass
``dtype=torch.bfloat16`` (or call ``torch.set_autocast_dtype("aie", torch.bfloat16)``).
"""
import torch


def set_default_dtype() -> None:
    if torch.get_autocast_dtype("aie") not in torch.aie.get_amp_supported_dtype():
        torch.set_autocast_dtype("aie", torch.bfloat16)
