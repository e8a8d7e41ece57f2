"""torch.compile (default backend and mode) on small conv nets with what real conv nets
contain (tests/compile_zoo.py): BN + activations, squeeze-excite, depthwise, hardswish /
SiLU / GELU, padded max-pool, concatenated branches, layer_norm over channels, Conv1d,
residual adds. Compiled graphs keep their convs on the aie kernels (the same conv_stats()
as eager) and match eager aie: bit for bit where every op between convs is exact, else
within what one flipped bf16 rounding of a conv operand can change."""
import os
import tempfile

import pytest
import torch
from torch import nn

import compile_zoo
import torch_aie
from conv_bounds import U8


@pytest.fixture(scope="module", autouse=True)
def _fresh_inductor_cache():
    # A per-session cache: compiled code from other trees or sessions is never reused.
    with tempfile.TemporaryDirectory(prefix="torch_aie_inductor_") as d:
        old = os.environ.get("TORCHINDUCTOR_CACHE_DIR")
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = d
        yield
        if old is None:
            os.environ.pop("TORCHINDUCTOR_CACHE_DIR")
        else:
            os.environ["TORCHINDUCTOR_CACHE_DIR"] = old
        torch._dynamo.reset()


def _npu_counts(stats):
    return {k: v for k, v in stats.items() if v}


@pytest.mark.parametrize("name", list(compile_zoo.ZOO))
def test_compiled_matches_eager_on_aie(name):
    model = compile_zoo.build(name).to("aie")
    x = compile_zoo.example_input(name).to("aie")
    n_convs = sum(isinstance(m, (nn.Conv1d, nn.Conv2d)) for m in model.modules())
    torch._dynamo.reset()
    with torch.no_grad():
        torch_aie.reset_conv_stats()
        eager = model(x)
        eager_stats = _npu_counts(torch_aie.conv_stats())
        compiled = torch.compile(model)
        compiled(x)  # compiles
        torch_aie.reset_conv_stats()
        out = compiled(x)
        compiled_stats = _npu_counts(torch_aie.conv_stats())
    # Every conv runs on the aie kernels, as in eager mode, none on the host.
    assert sum(v for k, v in eager_stats.items() if k.startswith("npu:")) == n_convs, eager_stats
    assert compiled_stats == eager_stats
    assert out.device.type == "aie" and out.dtype == eager.dtype and out.shape == eager.shape
    if compile_zoo.ZOO[name][2]:
        torch.testing.assert_close(out.cpu(), eager.cpu(), rtol=0, atol=0)
    else:
        scale = eager.abs().max().item()
        torch.testing.assert_close(out.cpu(), eager.cpu(), rtol=0, atol=2 * U8 * scale)


@pytest.mark.parametrize("name", ["mbconv_se", "resnet_stem"])
def test_compiled_channels_last_bf16_model_matches_eager(name):
    """A bf16 channels_last model: its aie convs return channels_last (ATen's CPU rule),
    and fake tensors must say so (torch_aie/_conv_layout.py); Inductor asserted the
    difference before. The output keeps eager's layout."""
    cl = torch.channels_last
    model = compile_zoo.build(name).to(torch.bfloat16).to(memory_format=cl).to("aie")
    x = compile_zoo.example_input(name).to(torch.bfloat16).contiguous(memory_format=cl).to("aie")
    torch._dynamo.reset()
    with torch.no_grad():
        eager = model(x)
        out = torch.compile(model)(x)
    assert out.shape == eager.shape and out.stride() == eager.stride() and out.dtype == eager.dtype
    torch.testing.assert_close(out.cpu().float(), eager.cpu().float(), rtol=0,
                               atol=4 * U8 * eager.abs().max().item())


def test_issue_repro_bn_relu_pool():
    # The first graph that failed (InductorError from _try_reindex_pointwise_for_reduction).
    m = nn.Sequential(nn.BatchNorm2d(8), nn.ReLU(), nn.AdaptiveAvgPool2d(1)).eval().to("aie")
    x = torch.randn(2, 8, 8, 8).to("aie")
    torch._dynamo.reset()
    with torch.no_grad():
        torch.testing.assert_close(torch.compile(m)(x).cpu(), m(x).cpu(), rtol=1e-6, atol=1e-6)


def test_inductor_sees_aie_as_a_cpp_codegen_device():
    from torch._inductor.codegen.cpp import CppScheduling
    from torch._inductor.utils import get_current_backend

    torch_aie.compile.register()
    # PyTorch's PrivateUse1 hook: Inductor asks the device module for its code generators.
    assert torch.aie.Scheduling is CppScheduling
    assert get_current_backend("aie") == "cpp"
    assert get_current_backend("cuda") == torch._inductor.config.cuda_backend  # others untouched


class _LayerNormDown(nn.Module):
    """ConvNeXt's downsampling: a channels-first LayerNorm (through permutes, so the conv's
    input is channels_last) and a 2x2 stride-2 conv, then a block."""

    def __init__(self):
        super().__init__()
        from torch_aie import models
        self.norm, self.down, self.block = models.LayerNorm2d(16, eps=1e-6), nn.Conv2d(16, 32, 2, 2), models.ConvNeXtBlock(32)

    def forward(self, x):
        return self.block(self.down(self.norm(x)))


@pytest.mark.parametrize("dtype,fmt", [(torch.float32, torch.contiguous_format),
                                       (torch.bfloat16, torch.channels_last)])
def test_compiled_optimized_model_matches_eager(dtype, fmt):
    """optimize()'d graphs call torch.ops.aie.conv2d, Linears included (channels-last row
    views): the op's fake must give the kernel's output layout, which Inductor asserts."""
    torch.manual_seed(0)
    model = _LayerNormDown().eval().to(dtype)
    x = torch.randn(2, 16, 16, 16).to(dtype).contiguous(memory_format=fmt).to("aie")
    torch._dynamo.reset()
    with torch.no_grad():
        opt = torch_aie.optimize(model.to("aie"))
        assert opt.aie_optimize_stats["linears"] == 2
        eager = opt(x)
        out = torch.compile(opt)(x)
    assert out.shape == eager.shape and out.stride() == eager.stride() and out.dtype == eager.dtype
    torch.testing.assert_close(out.cpu(), eager.cpu(), rtol=0, atol=2 * U8 * eager.abs().max().item())
