"""Whole models on aie: every conv layer of ResNet-50 and MobileNetV2 held to the
numeric contract's bound given the input it actually received, plus end-to-end
agreement with CPU fp32."""
import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import torch_aie
from conv_bounds import conv_error_bound
from torch_aie import models


@pytest.mark.parametrize("name", ["resnet50", "mobilenet_v2"])
def test_every_conv_layer_within_bound(name):
    model = models.build(name)
    aie_model = copy.deepcopy(model).to("aie")
    seen = []

    def hook(mod, inputs, output):
        seen.append((mod, inputs[0].cpu(), output.cpu()))

    for m in aie_model.modules():
        if isinstance(m, nn.Conv2d):
            m.register_forward_hook(hook)
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    torch_aie.reset_conv_stats()
    with torch.no_grad():
        out = aie_model(x.to("aie")).cpu()
        ref = model(x)
    assert len(seen) == len(models.conv_layers(model))
    stats = torch_aie.conv_stats()
    assert sum(v for k, v in stats.items() if k.startswith("npu:")) == len(seen)
    assert not any(k.startswith("cpu_fallback") and v for k, v in stats.items()), stats
    for mod, inp, got in seen:
        w = mod.weight.cpu().double()
        args = (mod.stride, mod.padding, mod.dilation, mod.groups)
        exact = F.conv2d(inp.double(), w, None, *args)
        mag = F.conv2d(inp.double().abs(), w.abs(), None, *args)
        k = w.shape[1] * w.shape[2] * w.shape[3]
        excess = ((got.double() - exact).abs() - conv_error_bound("bf16", k, mag, exact)).max().item()
        assert excess <= 0, f"{mod}: error exceeds the bf16 bound by {excess}"
    # End to end: the classification agrees with CPU fp32.
    assert (out.argmax(1) == ref.argmax(1)).all()
