"""aten::max_pool2d on aie: float32 / bfloat16 NCHW inputs run the host max-pool kernel,
everything else the CPU kernel through the fallback. Either way the values must be the CPU's bit for
bit (max is exact): NaN anywhere in a window comes out, the first of equal values (+0 / -0)
stays, padding never wins; autograd, forward AD and ATen's argument errors as on the CPU.
The NPU has no pooling design, so both paths are host work, counted in fallback_stats()."""
import re

import pytest
import torch
import torch.nn.functional as F

import torch_aie


def _input(shape, seed=0):
    x = torch.randn(shape, generator=torch.Generator().manual_seed(seed))
    flat = x.view(-1)
    n = flat.numel()
    flat[::97] = 0.0      # ties of +0 and -0: the first one must stay
    flat[5::97] = -0.0
    flat[11::389] = float("nan")
    flat[13::211] = float("-inf")
    flat[17::307] = float("inf")
    if n > 40:
        flat[n // 2: n // 2 + 6] = -0.0  # a whole window of -0 next to +0s
    return x


def _assert_exact(a, c):
    assert a.device.type == "aie" and a.dtype == c.dtype and a.shape == c.shape and a.stride() == c.stride()
    a = a.cpu()
    torch.testing.assert_close(a, c, rtol=0, atol=0, equal_nan=True)
    if c.is_floating_point():
        assert torch.equal(torch.signbit(a), torch.signbit(c))


def _pooled_natively(fn):
    """fn()'s result, and whether the host max-pool kernel served it (counted as host
    work under aten::max_pool2d) rather than ATen's CPU kernel (max_pool2d_with_indices)."""
    torch_aie.reset_fallback_stats()
    out = fn()
    stats = torch_aie.fallback_stats()
    native = stats.get("aten::max_pool2d", 0) == 1
    assert native != any(op.startswith("aten::max_pool2d_with_indices") for op in stats), stats
    return out, native


WINDOWS = [  # kernel, stride, padding, dilation, ceil_mode
    (3, 2, 1, 1, False),            # ResNet's stem pool
    (2, 2, 0, 1, False),
    (2, 2, 0, 1, True),
    (3, 1, 1, 1, False),
    (3, 3, 1, 1, True),
    (5, 3, 2, 1, True),
    (3, 2, 1, 2, False),
    ((3, 2), (2, 1), (1, 0), (1, 2), False),
    ((1, 4), (1, 3), (0, 2), 1, True),
    (3, (), 1, 1, False),           # stride omitted: the kernel size
    (1, 1, 0, 1, False),
]


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("shape", [(1, 64, 112, 112), (2, 3, 17, 23), (1, 5, 3, 40), (2, 8, 9, 1 + 8)])
@pytest.mark.parametrize("window", WINDOWS, ids=str)
def test_equals_cpu_bit_for_bit(shape, window, dtype):
    k, s, p, d, ceil = window
    x = _input(shape).to(dtype)
    try:
        want = F.max_pool2d(x, k, s, p, d, ceil_mode=ceil)
    except RuntimeError as e:  # windows too large for the small shapes: the same error
        with pytest.raises(RuntimeError, match=re.escape(str(e)[:40])):
            F.max_pool2d(x.to("aie"), k, s, p, d, ceil_mode=ceil)
        return
    got, native = _pooled_natively(lambda: F.max_pool2d(x.to("aie"), k, s, p, d, ceil_mode=ceil))
    _assert_exact(got, want)
    assert native


@pytest.mark.parametrize("case", ["unbatched", "sliced", "transposed_hw", "offset_storage"])
def test_strided_and_unbatched_inputs(case):
    base = _input((2, 6, 20, 26), seed=3)
    views = {
        "unbatched": lambda t: t[0],
        "sliced": lambda t: t[:, 1:5, 2:18:2, 1:],
        "transposed_hw": lambda t: t.transpose(2, 3),
        "offset_storage": lambda t: t[1:, 3:],
    }
    x = views[case](base)
    want = F.max_pool2d(x, 3, 2, 1)
    got, native = _pooled_natively(lambda: F.max_pool2d(views[case](base.to("aie")), 3, 2, 1))
    _assert_exact(got, want)
    assert native


@pytest.mark.parametrize("dtype", [torch.float16, torch.float64, torch.int8, torch.uint8, torch.int64])
def test_other_dtypes_take_the_cpu_kernel(dtype):
    x = _input((1, 4, 11, 9), seed=4)
    x = x.nan_to_num(0.0).mul(20).to(dtype) if not dtype.is_floating_point else x.to(dtype)
    want = F.max_pool2d(x, 3, 2, 1, ceil_mode=True)
    got, native = _pooled_natively(lambda: F.max_pool2d(x.to("aie"), 3, 2, 1, ceil_mode=True))
    _assert_exact(got, want)
    assert not native


def test_channels_last_keeps_its_format_through_the_cpu_kernel():
    x = _input((2, 16, 12, 12), seed=5).contiguous(memory_format=torch.channels_last)
    want = F.max_pool2d(x, 3, 2, 1)
    got, native = _pooled_natively(lambda: F.max_pool2d(x.to("aie"), 3, 2, 1))
    _assert_exact(got, want)
    assert got.is_contiguous(memory_format=torch.channels_last) and not native


def test_module_under_inference_mode_and_no_grad():
    pool = torch.nn.MaxPool2d(3, 2, 1)
    x = _input((1, 8, 30, 30), seed=6)
    want = pool(x)
    with torch.inference_mode():
        got, native = _pooled_natively(lambda: pool(x.to("aie")))
    _assert_exact(got, want)
    assert native
    with torch.no_grad():
        got, native = _pooled_natively(lambda: pool(x.detach().to("aie").requires_grad_()))
    _assert_exact(got, want)
    assert native and got.grad_fn is None


def test_backward_equals_cpu():
    x = torch.randn(2, 3, 9, 10, generator=torch.Generator().manual_seed(7))
    xc = x.clone().requires_grad_()
    xa = x.to("aie").requires_grad_()
    g = torch.randn(2, 3, 5, 5, generator=torch.Generator().manual_seed(8))
    F.max_pool2d(xc, 3, 2, 1).backward(g)
    out = F.max_pool2d(xa, 3, 2, 1)
    assert out.grad_fn is not None
    out.backward(g.to("aie"))
    torch.testing.assert_close(xa.grad.cpu(), xc.grad, rtol=0, atol=0)


def test_forward_ad_equals_cpu():
    import torch.autograd.forward_ad as fwAD

    x = torch.randn(1, 2, 7, 7, generator=torch.Generator().manual_seed(9))
    t = torch.randn(1, 2, 7, 7, generator=torch.Generator().manual_seed(10))
    results = {}
    for dev in ("cpu", "aie"):
        with fwAD.dual_level():
            out = F.max_pool2d(fwAD.make_dual(x.to(dev), t.to(dev)), 3, 2, 1)
            primal, tangent = fwAD.unpack_dual(out)
            assert tangent is not None, dev
            results[dev] = (primal.cpu(), tangent.cpu())
    torch.testing.assert_close(results["aie"], results["cpu"], rtol=0, atol=0)


BAD = [
    ((0,), (1,), (0,), (1,), "kernel size should be greater than zero"),
    ((3,), (0,), (0,), (1,), "stride should not be zero"),
    ((3,), (1,), (2,), (1,), "pad should be"),
    ((3,), (1,), (-1,), (1,), "pad must be non-negative"),
    ((3,), (1,), (0,), (0,), "dilation should be greater than zero"),
    ((9,), (1,), (0,), (1,), "Output size is too small"),
    ((3, 3, 3), (1,), (0,), (1,), "kernel_size must either be a single int, or a tuple of two ints"),
]


@pytest.mark.parametrize("k,s,p,d,msg", BAD, ids=lambda v: str(v))
def test_bad_arguments_raise_atens_error_and_leave_the_input(k, s, p, d, msg):
    x = _input((1, 2, 6, 6), seed=11)
    with pytest.raises(RuntimeError, match=msg):
        torch.ops.aten.max_pool2d(x, k, s, p, d)
    xa = x.to("aie")
    with pytest.raises(RuntimeError, match=msg):
        torch.ops.aten.max_pool2d(xa, k, s, p, d)
    torch.testing.assert_close(xa.cpu(), x, rtol=0, atol=0, equal_nan=True)


def test_raise_mode_refuses_the_host_kernel_too():
    x = torch.randn(1, 2, 6, 6).to("aie")
    before = torch_aie.get_fallback_mode()
    torch_aie.set_fallback_mode("raise")
    try:
        with pytest.raises(RuntimeError, match=r"aten::max_pool2d.*'raise'"):
            F.max_pool2d(x, 2)
    finally:
        torch_aie.set_fallback_mode(before)


def test_bad_rank_raises():
    for shape in [(6, 6), (1, 1, 2, 6, 6)]:
        x = torch.randn(shape)
        with pytest.raises(RuntimeError) as cpu_err:
            F.max_pool2d(x, 2)
        with pytest.raises(RuntimeError) as aie_err:
            F.max_pool2d(x.to("aie"), 2)
        assert str(aie_err.value).split("\n")[0] == str(cpu_err.value).split("\n")[0]


def test_result_is_the_same_for_any_thread_count():
    x = _input((3, 10, 33, 35), seed=12).to("aie")
    threads = torch.get_num_threads()
    try:
        outs = []
        for n in (1, 2, 3):
            torch.set_num_threads(n)
            outs.append(F.max_pool2d(x, 3, 2, 1).cpu())
    finally:
        torch.set_num_threads(threads)
    for o in outs[1:]:
        torch.testing.assert_close(o, outs[0], rtol=0, atol=0, equal_nan=True)
