"""Convolutions the NPU path sends to the host: they obey the fallback mode like every
other CPU fallback, and complex ones run exactly in fp32 on the CPU."""
import pytest
import torch
import torch.nn.functional as F

import torch_aie


@pytest.fixture
def silent_after():
    yield
    torch_aie.set_fallback_mode("silent")
    torch_aie.reset_fallback_stats()


def test_raise_mode_stops_convs_sent_to_the_host(silent_after):
    x = torch.randn(1, 2, 5, 5).to("aie")
    w = torch.randn(2, 2, 3, 3).to("aie")
    torch_aie.set_fallback_mode("raise")
    F.conv2d(x, w)  # the NPU path: not a fallback
    torch_aie.reset_conv_stats()
    with pytest.raises(RuntimeError, match=r"aten::convolution would run on the host CPU \(transposed.*'raise'"):
        F.conv_transpose2d(x, w)
    with pytest.raises(RuntimeError, match=r"aten::convolution would run on the host CPU \(3-D.*'raise'"):
        F.conv3d(x.unsqueeze(2), w.unsqueeze(2))
    with torch_aie.conv_precision("ieee"), pytest.raises(RuntimeError, match="'ieee'.*'raise'"):
        F.conv2d(x, w)
    xg = x.clone().requires_grad_()
    y = F.conv2d(xg, w)
    with pytest.raises(RuntimeError, match=r"aten::convolution_backward would run on the host"):
        y.backward(torch.ones_like(y))  # ones_like has aie kernels; sum would be a fallback
    assert not any(k.startswith("cpu_fallback") and v for k, v in torch_aie.conv_stats().items())


def test_host_convs_are_counted_and_warned(silent_after):
    x = torch.randn(1, 2, 5, 5).to("aie")
    w = torch.randn(2, 2, 3, 3).to("aie")
    torch_aie.reset_fallback_stats()
    torch_aie.set_fallback_mode("warn")
    with pytest.warns(UserWarning, match="aten::convolution runs on the host CPU: transposed"):
        F.conv_transpose2d(x, w)
    assert torch_aie.fallback_stats()["aten::convolution"] == 1


@pytest.mark.parametrize("fn", ["conv1d", "conv2d", "conv_transpose2d"])
def test_complex_convs_run_exactly_on_the_cpu(fn):
    g = torch.Generator().manual_seed(0)
    dims = 1 if fn == "conv1d" else 2
    x = torch.randn(2, 3, *[6] * dims, dtype=torch.complex64, generator=g)
    w = torch.randn(3 if fn.startswith("conv_t") else 4, 3 if not fn.startswith("conv_t") else 4,
                    *[3] * dims, dtype=torch.complex64, generator=g)
    b = torch.randn(4, dtype=torch.complex64, generator=g)
    f = getattr(F, fn)
    torch_aie.reset_conv_stats()
    got = f(x.to("aie"), w.to("aie"), b.to("aie"), padding=1)
    assert got.device.type == "aie" and got.dtype == torch.complex64
    torch.testing.assert_close(got.cpu(), f(x, w, b, padding=1), rtol=0, atol=0)
    stats = torch_aie.conv_stats()
    assert not any(v for k, v in stats.items() if k.startswith("npu:")), stats
    assert any("ComplexFloat" in k and v == 1 for k, v in stats.items()), stats


def test_complex_conv_gradients_match_cpu():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(1, 2, 5, 5, dtype=torch.complex64, generator=g)
    w = torch.randn(3, 2, 3, 3, dtype=torch.complex64, generator=g)
    xa, wa = x.to("aie").requires_grad_(), w.to("aie").requires_grad_()
    F.conv2d(xa, wa).abs().sum().backward()
    xc, wc = x.clone().requires_grad_(), w.clone().requires_grad_()
    F.conv2d(xc, wc).abs().sum().backward()
    torch.testing.assert_close(xa.grad.cpu(), xc.grad, rtol=0, atol=0)
    torch.testing.assert_close(wa.grad.cpu(), wc.grad, rtol=0, atol=0)


_REDUCED_HOST_CONVS = {
    "conv_transpose2d": (lambda x, w: F.conv_transpose2d(x, w, stride=2), (2, 3, 6, 6), (3, 4, 3, 3)),
    "conv3d": (lambda x, w: F.conv3d(x, w, padding=1), (1, 3, 4, 5, 5), (4, 3, 3, 3, 3)),
}


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("name", list(_REDUCED_HOST_CONVS))
def test_reduced_precision_host_convs_accumulate_in_fp32(name, dtype):
    """The numeric contract holds off the NPU path too: fp32 accumulation of the given
    values, rounded once (never ATen's CPU bf16/fp16 conv, which differs by host)."""
    fn, xs, ws = _REDUCED_HOST_CONVS[name]
    x, w = torch.randn(*xs).to(dtype), torch.randn(*ws).to(dtype)
    xa, wa = x.to("aie").requires_grad_(), w.to("aie").requires_grad_()
    y = fn(xa, wa)
    assert y.dtype == dtype
    torch.testing.assert_close(y.cpu(), fn(x.float(), w.float()).to(dtype), rtol=0, atol=0)
    g = torch.randn(y.shape).to(dtype)
    y.backward(g.to("aie"))
    xf, wf = x.float().requires_grad_(), w.float().requires_grad_()
    fn(xf, wf).backward(g.float())
    torch.testing.assert_close(xa.grad.cpu(), xf.grad.to(dtype), rtol=0, atol=0)
    torch.testing.assert_close(wa.grad.cpu(), wf.grad.to(dtype), rtol=0, atol=0)
