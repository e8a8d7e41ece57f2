"""The zero-copy CPU fallback: aten ops without an aie kernel run their CPU kernel on CPU
aliases of the aie tensors. Results must equal the same ops on the CPU, in-place and out=
ops must write the aie memory itself, and a failing op must leave its arguments alone."""
import contextlib

import pytest
import torch
import torch.nn.functional as F
from torch._prims_common import is_non_overlapping_and_dense_or_false as is_non_overlapping_and_dense

import torch_aie


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _to_aie(value):
    if isinstance(value, torch.Tensor):
        return value.to("aie")
    if isinstance(value, (list, tuple)):
        return type(value)(_to_aie(v) for v in value)
    return value


def _assert_same(aie_result, cpu_result):
    if isinstance(cpu_result, torch.Tensor):
        assert isinstance(aie_result, torch.Tensor)
        assert aie_result.device.type == "aie", aie_result.device
        assert aie_result.dtype == cpu_result.dtype
        assert aie_result.shape == cpu_result.shape
        if is_non_overlapping_and_dense(cpu_result) and cpu_result.numel() > 1:
            assert aie_result.stride() == cpu_result.stride()
        torch.testing.assert_close(aie_result.cpu(), cpu_result, rtol=0, atol=0, equal_nan=True)
    elif isinstance(cpu_result, (list, tuple)):
        assert len(aie_result) == len(cpu_result)
        for a, c in zip(aie_result, cpu_result):
            _assert_same(a, c)
    else:
        assert aie_result == cpu_result


def _alloc_count():
    return torch.aie.memory_stats()["allocation.all.allocated"]


X = torch.randn(4, 6, generator=_gen(1))
Y = torch.randn(1, 6, generator=_gen(2))
NCHW = torch.randn(2, 3, 5, 4, generator=_gen(3))
IDX = torch.tensor([2, 0, 3])

OPS = {
    # unary
    "erfinv": (lambda x: torch.erfinv(x.clamp(-0.9, 0.9)), [X]),
    "exp_noncontig": (lambda x: x.t().exp(), [X]),
    "abs_int": (lambda x: x.abs(), [torch.randint(-50, 50, (5, 7), generator=_gen(4))]),
    "logical_not": (lambda x: x.logical_not(), [X > 0]),
    "sigmoid_channels_last": (lambda x: torch.sigmoid(x), [NCHW.contiguous(memory_format=torch.channels_last)]),
    # binary with broadcasting
    "add_broadcast": (lambda x, y: x + y, [X, Y]),
    "atan2_broadcast": (lambda x, y: torch.atan2(x, y[0]), [X, Y]),
    "where": (lambda x, y: torch.where(x > 0, x, y), [X, Y]),
    "mul_scalar_tensor": (lambda x: x * torch.tensor(3.0), [X]),  # 0-dim cpu operand
    "matmul": (lambda x, y: x @ y.t().expand(6, 3), [X, torch.randn(3, 6, generator=_gen(5))]),
    "addmm": (lambda b, x, w: torch.addmm(b, x, w), [torch.randn(5, generator=_gen(6)), X,
                                                     torch.randn(6, 5, generator=_gen(7))]),
    # reductions and ops returning tuples
    "sum_dim": (lambda x: x.sum(1), [X]),
    "mean_keepdim": (lambda x: x.mean((0, 1), keepdim=True), [NCHW]),
    "max_dim": (lambda x: torch.max(x, 1), [X]),
    "sort": (lambda x: torch.sort(x, 1, descending=True), [X]),
    "topk": (lambda x: torch.topk(x, 2, 0), [X]),
    "median_dim": (lambda x: torch.median(x, 0), [X]),
    "cumsum": (lambda x: torch.cumsum(x, 0), [X]),
    "nonzero": (lambda x: torch.nonzero(x > 0), [X]),
    "unique": (lambda x: torch.unique(x, return_inverse=True, return_counts=True),
               [torch.randint(0, 5, (20,), generator=_gen(8))]),
    # 0-dim results
    "sum_all": (lambda x: x.sum(), [X]),
    "max_all": (lambda x: x.max(), [X]),
    "zero_dim_input": (lambda x: torch.erfinv(x), [torch.tensor(0.25)]),
    # bf16
    "bf16_exp": (lambda x: x.to(torch.bfloat16).exp(), [X]),
    "bf16_matmul": (lambda x, y: x.bfloat16() @ y.bfloat16(), [X, torch.randn(6, 3, generator=_gen(9))]),
    "bf16_softmax": (lambda x: torch.softmax(x.bfloat16(), 1), [X]),
    # TensorList arguments
    "cat": (lambda x, y: torch.cat([x, y, x[1:]]), [X, Y]),
    "cat_noncontig_dim1": (lambda x, y: torch.cat([x.t(), y.t()], 1), [X, Y]),
    "stack": (lambda x, y: torch.stack([x[0], y[0], x[2]]), [X, Y]),
    # indexing (Tensor?[] arguments) with cpu and aie index tensors
    "index_cpu_idx": (lambda x: x[IDX], [X]),
    "index_cpu_idx_dim1": (lambda x: x[:, IDX], [X]),
    "index_cpu_mask": (lambda x: x[X > 0.5], [X]),
    "index_aie_idx": (lambda x, i: x[i, 1:], [X, IDX]),
    "gather": (lambda x, i: torch.gather(x, 1, i), [X, torch.randint(0, 6, (4, 3), generator=_gen(10))]),
    # functional ops built from several fallbacks
    "softplus": (lambda x: F.softplus(x, beta=2), [X]),
    "max_pool": (lambda x: F.max_pool2d(x, 2, ceil_mode=True), [NCHW]),
    # (to one pixel it is a mean, which the host spatial-mean kernel serves: test_spatial_mean.py)
    "adaptive_avg_pool_channels_last": (lambda x: F.adaptive_avg_pool2d(x, 2),
                                        [NCHW.contiguous(memory_format=torch.channels_last)]),
    "complex_conj": (lambda z: torch.exp(z.conj()), [torch.randn(5, dtype=torch.complex64, generator=_gen(11))]),
}


@pytest.mark.parametrize("name", list(OPS))
def test_fallback_op_matches_cpu(name):
    op, args = OPS[name]
    expected = op(*args)
    aie_args = _to_aie(args)
    before = [a.cpu() for a in aie_args]
    _assert_same(op(*aie_args), expected)
    for a, b in zip(aie_args, before):  # inputs untouched
        assert torch.equal(a.cpu(), b)


def test_factory_with_device_argument():
    _assert_same(torch.tril_indices(4, 3, 1, device="aie"), torch.tril_indices(4, 3, 1))


# ---- in-place ------------------------------------------------------------------------


# (target, other, mask of other > 0)
INPLACE = {
    "add_": lambda t, o, m: t.add_(o, alpha=2),
    "relu_": lambda t, o, m: t.relu_(),
    "mul_broadcast": lambda t, o, m: t.mul_(o[:1]),
    "clamp_": lambda t, o, m: t.clamp_(-0.5, 0.5),
    "masked_fill_": lambda t, o, m: t.masked_fill_(m, 7.0),
    "index_put_cpu_idx": lambda t, o, m: t.index_put_((torch.tensor([0, 1]),), torch.tensor(9.0)),
    "erfinv_": lambda t, o, m: t.clamp_(-0.9, 0.9).erfinv_(),
}

VIEWS = {
    "contiguous": lambda base: base[:4, :6],
    "transposed": lambda base: base.t()[:6, :4],
    "strided": lambda base: base[::2, 1::2],
    "offset_block": lambda base: base[2:6, 3:9],
}


@pytest.mark.parametrize("view", list(VIEWS))
@pytest.mark.parametrize("op", list(INPLACE))
def test_inplace_fallback_writes_the_aie_memory(op, view):
    base = torch.randn(8, 10, generator=_gen(12))
    aie_base = base.to("aie")
    target, aie_target = VIEWS[view](base), VIEWS[view](aie_base)
    other = torch.randn(target.shape, generator=_gen(13))
    aie_other, aie_mask = other.to("aie"), (other > 0).to("aie")
    ptr = aie_base.data_ptr()
    version = aie_base._version
    allocations = _alloc_count()
    result = INPLACE[op](aie_target, aie_other, aie_mask)
    assert _alloc_count() == allocations  # no new device block: no copy in or out
    INPLACE[op](target, other, other > 0)
    assert result is aie_target
    assert aie_base.data_ptr() == ptr
    assert aie_base._version > version
    torch.testing.assert_close(aie_base.cpu(), base, rtol=0, atol=0)


def test_inplace_sees_overlaps_as_cpu_does():
    square = torch.randn(5, 5, generator=_gen(14))
    a = square.to("aie")
    c = square.clone()
    for op in (lambda t: t.add_(t.t()), lambda t: t[1:].sub_(t[:4])):
        with pytest.raises(RuntimeError, match="unsupported operation") as cpu_error:
            op(c)
        with pytest.raises(RuntimeError, match="unsupported operation") as aie_error:
            op(a)
        assert str(aie_error.value) == str(cpu_error.value)
        assert torch.equal(a.cpu(), square)
    a.add_(a)  # full overlap is fine
    a[3:].sub_(a[:2])  # so are disjoint parts of one storage
    c.add_(c)
    c[3:].sub_(c[:2])
    torch.testing.assert_close(a.cpu(), c, rtol=0, atol=0)


# ---- out= ----------------------------------------------------------------------------


def test_out_of_the_right_size_is_written_in_place():
    out = torch.empty(4, 6, device="aie")
    ptr = out.data_ptr()
    a = X.to("aie")
    allocations = _alloc_count()
    result = torch.sigmoid(a, out=out)
    assert result is out and out.data_ptr() == ptr
    assert _alloc_count() == allocations
    torch.testing.assert_close(out.cpu(), torch.sigmoid(X), rtol=0, atol=0)


def test_out_non_contiguous_of_the_right_size():
    base = torch.zeros(6, 8, device="aie")
    out = base.t()[:, :4]  # (8, 4), strides (1, 8)
    a = torch.randn(8, 4, generator=_gen(15))
    torch.exp(a.to("aie"), out=out)
    expected = torch.zeros(6, 8)
    expected.t()[:, :4] = torch.exp(a)
    assert out.stride() == (1, 8)
    torch.testing.assert_close(base.cpu(), expected, rtol=0, atol=0)


@pytest.mark.parametrize("start", [(0,), (2, 2), (100,)], ids=["empty", "too_small", "too_big"])
def test_out_of_the_wrong_size_is_resized(start):
    a = X.to("aie")
    out = torch.full(start, -1.0, device="aie")
    cpu_out = torch.full(start, -1.0)
    # Resizing a non-empty out= tensor is deprecated: ATen warns, on both devices.
    warns = (lambda: pytest.warns(UserWarning, match="resized")) if start != (0,) else contextlib.nullcontext
    with warns():
        result = torch.add(a, Y.to("aie"), out=out)
    with warns():
        torch.add(X, Y, out=cpu_out)
    assert result is out and out.device.type == "aie"
    assert out.shape == cpu_out.shape and out.stride() == cpu_out.stride()
    torch.testing.assert_close(out.cpu(), cpu_out, rtol=0, atol=0)


def test_out_tuples_of_the_wrong_size():
    a = X.to("aie")
    values, indices = torch.empty(0, device="aie"), torch.empty(7, dtype=torch.long, device="aie")
    with pytest.warns(UserWarning, match="resized"):
        result = torch.max(a, 1, out=(values, indices))
    assert result[0] is values and result[1] is indices
    expected = torch.max(X, 1)
    _assert_same(values, expected.values)
    _assert_same(indices, expected.indices)
    sv, si = torch.empty(0, device="aie"), torch.empty(0, dtype=torch.long, device="aie")
    torch.sort(a, 0, out=(sv, si))
    _assert_same((sv, si), tuple(torch.sort(X, 0)))


def test_cat_out_grows_and_keeps_its_storage_when_it_fits():
    a = X.to("aie")
    out = torch.empty(0, device="aie")
    torch.cat([a, a], out=out)
    _assert_same(out, torch.cat([X, X]))
    ptr = out.data_ptr()
    torch.cat([a[:2], a[:1]], out=out.resize_(0))  # fits the storage: written in place
    assert out.data_ptr() == ptr
    _assert_same(out, torch.cat([X[:2], X[:1]]))


def test_out_keeps_channels_last_when_resized():
    x = NCHW.contiguous(memory_format=torch.channels_last)
    out = torch.empty(0, device="aie")
    torch.sigmoid(x.to("aie"), out=out)
    cpu_out = torch.empty(0)
    torch.sigmoid(x, out=cpu_out)
    assert out.stride() == cpu_out.stride()
    torch.testing.assert_close(out.cpu(), cpu_out, rtol=0, atol=0)


# ---- errors leave the caller's tensors alone --------------------------------------------


def test_failing_inplace_leaves_the_tensor_alone():
    a = X.to("aie")
    with pytest.raises(RuntimeError, match="size of tensor a"):
        a.add_(torch.randn(3, device="aie"))
    torch.testing.assert_close(a.cpu(), X, rtol=0, atol=0)
    with pytest.raises(RuntimeError):
        a.t().mul_(torch.randn(4, 7, device="aie"))
    torch.testing.assert_close(a.cpu(), X, rtol=0, atol=0)
    a.add_(1)  # and the tensor keeps working
    torch.testing.assert_close(a.cpu(), X + 1, rtol=0, atol=0)


def test_failing_out_leaves_the_out_tensor_alone():
    a = X.to("aie")
    out = torch.arange(24, device="aie").reshape(4, 6)
    ptr = out.data_ptr()
    with pytest.raises(RuntimeError, match="can't be cast"):
        torch.add(a, 1.5, out=out)
    assert out.data_ptr() == ptr and out.shape == (4, 6)
    assert torch.equal(out.cpu(), torch.arange(24).reshape(4, 6))
    out = torch.full((4, 6), 2.0, device="aie")
    ptr = out.data_ptr()
    with pytest.raises(RuntimeError, match="Sizes of tensors must match"):
        torch.cat([a, torch.randn(2, 5, device="aie")], out=out)
    assert out.data_ptr() == ptr and torch.equal(out.cpu(), torch.full((4, 6), 2.0))


# ---- batch norm -------------------------------------------------------------------------


@pytest.mark.parametrize("training", [False, True], ids=["eval", "train"])
@pytest.mark.parametrize("channels_last", [False, True], ids=["nchw", "nhwc"])
def test_batch_norm_matches_cpu_and_updates_running_stats(training, channels_last):
    x = torch.randn(4, 3, 5, 5, generator=_gen(16)) * 2 + 1
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    w, b = torch.rand(3, generator=_gen(17)) + 0.5, torch.randn(3, generator=_gen(18))
    mean, var = torch.randn(3, generator=_gen(19)), torch.rand(3, generator=_gen(20)) + 0.5
    aie_mean, aie_var = mean.to("aie"), var.to("aie")
    mean_ptr = aie_mean.data_ptr()
    y = F.batch_norm(x.to("aie"), aie_mean, aie_var, w.to("aie"), b.to("aie"), training, 0.3, 1e-5)
    expected = F.batch_norm(x, mean, var, w, b, training, 0.3, 1e-5)
    _assert_same(y, expected)
    torch.testing.assert_close(aie_mean.cpu(), mean, rtol=0, atol=0)
    torch.testing.assert_close(aie_var.cpu(), var, rtol=0, atol=0)
    assert aie_mean.data_ptr() == mean_ptr


def test_batch_norm_without_running_stats_and_module():
    x = torch.randn(4, 3, 6, generator=_gen(21))
    _assert_same(F.batch_norm(x.to("aie"), None, None, training=True), F.batch_norm(x, None, None, training=True))
    torch.manual_seed(0)
    bn = torch.nn.BatchNorm1d(3).train()
    aie_bn = torch.nn.BatchNorm1d(3).train().to("aie")
    for _ in range(3):
        _assert_same(aie_bn(x.to("aie")), bn(x))
    torch.testing.assert_close(aie_bn.running_mean.cpu(), bn.running_mean, rtol=0, atol=0)
    torch.testing.assert_close(aie_bn.running_var.cpu(), bn.running_var, rtol=0, atol=0)
    assert aie_bn.num_batches_tracked.item() == 3


# ---- tensor lists written in place ------------------------------------------------------


def test_foreach_inplace_writes_every_tensor():
    cpu = [torch.randn(n, generator=_gen(n)) for n in (3, 5, 7)]
    aie = [t.to("aie") for t in cpu]
    ptrs = [t.data_ptr() for t in aie]
    addends = [t.clone() for t in cpu]
    torch._foreach_mul_(aie, 3.0)
    torch._foreach_add_(aie, [t.to("aie") for t in addends])
    torch._foreach_mul_(cpu, 3.0)
    torch._foreach_add_(cpu, addends)
    for a, c, p in zip(aie, cpu, ptrs):
        assert a.data_ptr() == p
        torch.testing.assert_close(a.cpu(), c, rtol=0, atol=0)
    _assert_same(torch._foreach_exp(aie), torch._foreach_exp(cpu))


# ---- autograd through the fallback ------------------------------------------------------


def test_autograd_through_fallback_ops():
    x = X.clone().requires_grad_()
    a = X.to("aie").requires_grad_()
    (torch.erfinv(a.clamp(-0.9, 0.9)) * a.sigmoid()).sum().backward()
    (torch.erfinv(x.clamp(-0.9, 0.9)) * x.sigmoid()).sum().backward()
    _assert_same(a.grad, x.grad)


# ---- results that alias an input, and non-dense results (custom ops) ---------------------

_lib = torch.library.Library("aie_fallback_test", "DEF")  # noqa: TOR901
_lib.define("diag_view(Tensor(a) x) -> Tensor(a)")
_lib.define("copying_view(Tensor(a) x) -> Tensor(a)")
_lib.define("strided_result(Tensor x) -> Tensor")
_lib.define("scale_(Tensor(a!) x, float s) -> Tensor(a!)")
_lib.impl("diag_view", lambda x: x.diagonal()[1:], "CPU")
_lib.impl("copying_view", lambda x: x.clone(), "CPU")
_lib.impl("strided_result", lambda x: (x * 2).t()[::2], "CPU")
_lib.impl("scale_", lambda x, s: x.mul_(s), "CPU")


def test_view_result_aliases_the_aie_input():
    a = torch.arange(16.0).reshape(4, 4).to("aie")
    v = torch.ops.aie_fallback_test.diag_view(a)
    assert v.device.type == "aie"
    assert v.untyped_storage().data_ptr() == a.untyped_storage().data_ptr()
    assert v.storage_offset() == 5 and v.stride() == (5,)
    assert torch.equal(v.cpu(), torch.tensor([5.0, 10.0, 15.0]))
    v.fill_(-1.0)  # writes through to the input
    assert a.cpu()[2, 2].item() == -1.0


def test_view_op_whose_cpu_kernel_copies_raises():
    a = torch.randn(3, device="aie")
    with pytest.raises(RuntimeError, match="appears to be a view operator"):
        torch.ops.aie_fallback_test.copying_view(a)


def test_non_dense_fresh_result_is_copied_contiguous():
    x = torch.randn(5, 4, generator=_gen(22))
    r = torch.ops.aie_fallback_test.strided_result(x.to("aie"))
    assert r.device.type == "aie" and r.is_contiguous()
    torch.testing.assert_close(r.cpu(), (x * 2).t()[::2], rtol=0, atol=0)


def test_custom_inplace_op_writes_in_place():
    a = X.to("aie")
    view = a[1:, ::2]
    ptr = a.data_ptr()
    assert torch.ops.aie_fallback_test.scale_(view, 3.0) is view
    expected = X.clone()
    expected[1:, ::2] *= 3
    assert a.data_ptr() == ptr
    torch.testing.assert_close(a.cpu(), expected, rtol=0, atol=0)


def test_fallback_is_still_counted():
    torch_aie.reset_fallback_stats()
    torch.sigmoid(X.to("aie"))
    assert any(name.startswith("aten::sigmoid") for name in torch_aie.fallback_stats())
    torch_aie.reset_fallback_stats()


# ---- fresh results born in device memory, one call per op ---------------------------------

_lib.define("cached_result(Tensor x) -> Tensor")
_KEPT = []


def _cached_result(x):
    r = x * 2
    _KEPT.append(r)  # the kernel keeps a reference: its memory must not be taken
    return r


_lib.impl("cached_result", _cached_result, "CPU")


@pytest.mark.parametrize("name, op", [
    ("hardswish", F.hardswish), ("relu6", F.relu6), ("relu", torch.relu), ("sigmoid", torch.sigmoid),
    ("add", lambda x: x + x), ("sum", lambda x: x.sum((2, 3), keepdim=True)),
    ("batch_norm_eval", lambda x: F.batch_norm(x, torch.zeros(3, device=x.device), torch.ones(3, device=x.device))),
    ("layer_norm_channels_last", lambda x: F.layer_norm(x.permute(0, 2, 3, 1), (3,))),
])
def test_fresh_results_adopt_device_memory(name, op):
    """The CPU kernel allocates its result in device memory, which the aie result takes
    over: no copy, the device pool accounts for it, and it is freed back to it."""
    x = NCHW.contiguous(memory_format=torch.channels_last)
    expected = op(x)
    xa = x.to("aie")
    op(xa)
    torch_aie.reset_fallback_stats()
    live = torch.aie.memory_stats()["allocated_bytes.all.current"]
    y = op(xa)
    stats = torch_aie.fallback_result_stats()
    assert stats["copied"] == 0 and stats["adopted"] >= 1
    assert torch.aie.memory_stats()["allocated_bytes.all.current"] >= live + y.numel() * y.element_size()
    _assert_same(y, expected)
    del y
    assert torch.aie.memory_stats()["allocated_bytes.all.current"] == live


def test_result_its_kernel_keeps_is_copied():
    _KEPT.clear()
    torch_aie.reset_fallback_stats()
    r = torch.ops.aie_fallback_test.cached_result(X.to("aie"))
    assert torch_aie.fallback_result_stats()["copied"] == 1
    torch.testing.assert_close(r.cpu(), X * 2, rtol=0, atol=0)
    torch.testing.assert_close(_KEPT[0], X * 2, rtol=0, atol=0)  # the kept one still has its memory
    _KEPT.clear()


def test_cpu_tensors_outside_the_fallback_stay_in_cpu_memory():
    live = torch.aie.memory_stats()["allocated_bytes.all.current"]
    t = torch.randn(1 << 20)
    u = F.hardswish(t)
    assert torch.aie.memory_stats()["allocated_bytes.all.current"] == live
    assert u.device.type == "cpu" and torch.equal(u, F.hardswish(t))


@pytest.mark.parametrize("name, op, counted", [
    ("layer_norm", lambda x, w, b: F.layer_norm(x, (5, 4), w, b), "aten::native_layer_norm"),
    ("group_norm", lambda x, w, b: F.group_norm(x[:, :2].repeat(1, 2, 1, 1), 2, w[0, :4], b[0, :4]),
     "aten::native_group_norm"),
])
def test_norms_run_their_cpu_kernel_in_one_call(name, op, counted):
    """native_layer_norm / native_group_norm would otherwise decompose into batch_norm,
    mul and add on a backend without kernels: one fallback call of the CPU kernel,
    bit-identical to CPU, forward and backward."""
    w = torch.randn(5, 4, generator=_gen(30)).requires_grad_()
    b = torch.randn(5, 4, generator=_gen(31)).requires_grad_()
    x = NCHW.clone().requires_grad_()
    expected = op(x, w, b)
    expected.sum().backward()
    xa, wa, ba = (t.detach().to("aie").requires_grad_() for t in (x, w, b))
    torch_aie.reset_fallback_stats()
    y = op(xa, wa, ba)
    stats = torch_aie.fallback_stats()
    assert stats.get(counted) == 1 and "aten::native_batch_norm" not in stats
    _assert_same(y, expected)
    y.sum().backward()
    for a, c in ((xa, x), (wa, w), (ba, b)):
        torch.testing.assert_close(a.grad.cpu(), c.grad, rtol=0, atol=0)


def test_structured_ops_run_in_one_call():
    """add / mul_ / mean reach their CPU functional and in-place kernels directly, not
    through the out= overload (two dispatches, two TensorIterator set-ups)."""
    a, b = X.to("aie"), Y.to("aie")
    torch_aie.reset_fallback_stats()
    s = a + b
    a.mul_(b)
    m = a.mean(1)
    assert torch_aie.fallback_stats() == {"aten::add.Tensor": 1, "aten::mul_.Tensor": 1, "aten::mean.dim": 1}
    _assert_same(s, X + Y)
    _assert_same(m, (X * Y).mean(1))
