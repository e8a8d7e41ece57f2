"""The output layout of an aie convolution, as fake tensors see it.

PyTorch's fake convolution (torch._subclasses.fake_impls.conv, used by torch.compile,
torch.export and opcheck) asks `torch._C._conv_determine_backend_memory_format` for the
output's memory format. For a PrivateUse1 device ATen's answer is "contiguous" (its
"Overrideable" backend), while aie's kernel follows ATen's eager CPU rule
(csrc/ops/conv/conv_params.cpp): channels_last out when a 2-D conv's input or weight is
channels_last. Inductor asserts the fake layout against the real output, so a
channels-last model failed to compile; this module gives fake tensors the kernel's rule
for aie tensors and leaves every other device to ATen.
"""
import torch
from torch._prims_common import suggest_memory_format

_aten_rule = torch._C._conv_determine_backend_memory_format


def _rule(input, weight, backend):
    if input.device.type != "aie":
        return _aten_rule(input, weight, backend)
    if input.dim() == 4 and torch.channels_last in (suggest_memory_format(input), suggest_memory_format(weight)):
        return torch.channels_last
    return torch.contiguous_format


def install() -> None:
    """Idempotent."""
    torch._C._conv_determine_backend_memory_format = _rule
