"""aten::mean.dim on aie: a mean over (H, W) of a float32 / bfloat16 4-D (or 3-D) tensor
with contiguous planes or pixels (global average pooling) runs the host spatial-mean
kernel; every other mean runs ATen's CPU kernel. The kernel sums in another order than
ATen, so its values are ATen's within fp32 rounding (checked against an fp64 reference);
the same on any thread count; shapes, strides and dtypes exactly ATen's. Both paths are
host work, counted in fallback_stats() under aten::mean.dim."""
import pytest
import torch
import torch.nn.functional as F

import torch_aie


def _input(shape, dtype, channels_last=False, seed=0):
    x = torch.randn(shape, generator=torch.Generator().manual_seed(seed)) * 3 + 1
    x = x.to(dtype)
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


def _by_kernel(fn):
    """fn()'s result and whether it was served (and counted) as host work under aten::mean.dim."""
    torch_aie.reset_fallback_stats()
    out = fn()
    return out, torch_aie.fallback_stats().get("aten::mean.dim", 0) == 1


def _assert_mean_close(a, x, dim, keepdim):
    """a: an aie mean of x over dim; ATen's geometry and dtype, values within fp32
    rounding of the fp64 mean (bf16: the rounding of it to bf16, within one ulp)."""
    c = x.mean(dim, keepdim=keepdim)
    assert a.device.type == "aie" and a.dtype == c.dtype and a.shape == c.shape and a.stride() == c.stride()
    exact = x.double().mean(dim, keepdim=keepdim)
    scale = x.double().abs().mean(dim, keepdim=keepdim)
    err = (a.cpu().double() - exact).abs()
    if x.dtype == torch.float32:
        assert (err <= 1e-6 * scale + 1e-30).all(), err.max()
    else:
        assert (err <= exact.abs() * 2**-8 + 1e-30).all(), err.max()


SHAPES_4D = [
    (1, 96, 56, 56),   # a squeeze-and-excitation mean
    (2, 2048, 7, 7),   # a ResNet-50 head (short planes, several per kernel call)
    (2, 37, 16, 16),   # 256 pixels: the longest short plane
    (1, 3, 40, 45),    # long planes with a tail
    (1, 2, 130, 130),  # planes of several kSumBlock blocks
    (3, 5, 1, 1),
]
# (shape, channels_last): every 4-D shape in both layouts, and a 3-D (C, H, W) one.
CASES = [(s, cl) for s in SHAPES_4D for cl in (False, True)] + [((4, 9, 7), False)]


@pytest.mark.parametrize("shape, channels_last", CASES, ids=lambda v: str(v) if isinstance(v, tuple) else
                         ("nhwc" if v else "nchw"))
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
@pytest.mark.parametrize("keepdim", [True, False])
def test_spatial_mean_runs_the_kernel(shape, channels_last, dtype, keepdim):
    x = _input(shape, dtype, channels_last)
    out, native = _by_kernel(lambda: x.to("aie").mean((-2, -1), keepdim=keepdim))
    assert native
    _assert_mean_close(out, x, (-2, -1), keepdim)


@pytest.mark.parametrize("dim", [(2, 3), (3, 2), (-1, 2), [-2, -1]], ids=str)
def test_any_spelling_of_the_spatial_dims(dim):
    x = _input((2, 6, 5, 9), torch.float32)
    out, native = _by_kernel(lambda: x.to("aie").mean(dim, keepdim=True))
    assert native
    _assert_mean_close(out, x, dim, True)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("shape, channels_last", [((1, 96, 56, 56), False), ((2, 2048, 7, 7), False),
                                                  ((1, 96, 56, 56), True), ((8, 64, 7, 7), True)], ids=str)
def test_same_bits_on_any_thread_count(shape, channels_last, threads):
    x = _input(shape, torch.float32, channels_last).to("aie")
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = x.mean((2, 3)).cpu()
        torch.set_num_threads(threads)
        assert torch.equal(x.mean((2, 3)).cpu(), one)
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("name, fn", [
    ("channel mean", lambda x: x.mean(1)),
    ("all dims", lambda x: x.mean()),
    ("three dims", lambda x: x.mean((1, 2, 3), keepdim=True)),
    ("dtype=float64", lambda x: x.mean((2, 3), dtype=torch.float64)),
    ("non-dense planes", lambda x: x[:, :, ::2, 1:].mean((2, 3))),
    ("2-D", lambda x: x.flatten(2)[0].mean((0, 1))),
    ("empty planes", lambda x: x[:, :, :0].mean((2, 3))),
])
def test_other_means_are_atens(name, fn):
    x = _input((2, 4, 6, 8), torch.float32)
    out, counted = _by_kernel(lambda: fn(x.to("aie")))
    assert counted and out.device.type == "aie"
    expected = fn(x)
    assert out.dtype == expected.dtype and out.shape == expected.shape and out.stride() == expected.stride()
    torch.testing.assert_close(out.cpu(), expected, rtol=0, atol=0, equal_nan=True)


def test_no_images_gives_an_empty_result():
    x = _input((0, 3, 4, 4), torch.float32)
    out = x.to("aie").mean((2, 3), keepdim=True)
    assert out.shape == (0, 3, 1, 1) and out.device.type == "aie"


@pytest.mark.parametrize("channels_last", [False, True], ids=["nchw", "nhwc"])
def test_adaptive_avg_pool_to_one_pixel(channels_last):
    """ATen's adaptive_avg_pool2d(x, 1) is this mean (then re-strided for channels_last)."""
    x = _input((2, 320, 7, 7), torch.float32, channels_last)
    out, native = _by_kernel(lambda: F.adaptive_avg_pool2d(x.to("aie"), 1))
    assert native
    expected = F.adaptive_avg_pool2d(x, 1)
    assert out.shape == expected.shape and out.stride() == expected.stride()
    torch.testing.assert_close(out.cpu(), expected, rtol=1e-6, atol=1e-6)


def test_autograd_through_the_kernel():
    x = _input((2, 8, 5, 5), torch.float32, channels_last=True)
    xa = x.to("aie").requires_grad_()
    xc = x.clone().requires_grad_()
    (xa.mean((2, 3)) * torch.arange(16.0).view(2, 8).to("aie")).sum().backward()
    (xc.mean((2, 3)) * torch.arange(16.0).view(2, 8)).sum().backward()
    torch.testing.assert_close(xa.grad.cpu(), xc.grad, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("bad, error", [
    (lambda x: x.to(torch.int64).mean((2, 3)), "could not infer output dtype"),
    (lambda x: x.mean((2, 4)), "Dimension out of range"),
    (lambda x: x.mean((2, 2)), "appears multiple times"),
])
def test_atens_errors(bad, error):
    x = _input((1, 2, 3, 3), torch.float32)
    with pytest.raises((RuntimeError, IndexError), match=error):
        bad(x)
    xa = x.to("aie")
    with pytest.raises((RuntimeError, IndexError), match=error):
        bad(xa)
    assert torch.equal(xa.cpu(), x)  # the caller's tensor untouched


def test_raise_mode_stops_it_before_it_runs():
    xa = _input((1, 2, 3, 3), torch.float32).to("aie")
    torch_aie.set_fallback_mode("raise")
    try:
        with pytest.raises(RuntimeError, match=r"aten::mean\.dim would run on the host CPU"):
            xa.mean((2, 3))
    finally:
        torch_aie.set_fallback_mode("silent")
