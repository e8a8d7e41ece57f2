"""The aie device: module API, copies, views, in-place ops, RNG, fallback, memory."""
import gc
import os
import re
import subprocess
import sys
import threading
import warnings

import pytest
import torch

import torch_aie

DTYPES = [torch.float32, torch.float64, torch.bfloat16, torch.float16, torch.int64, torch.int32,
          torch.uint8, torch.bool, torch.complex64]


def _sample(shape, dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    if dtype == torch.bool:
        return torch.rand(shape, generator=g) > 0.5
    if dtype.is_floating_point or dtype.is_complex:
        return torch.randn(shape, generator=g, dtype=dtype)
    return torch.randint(0, 100, shape, generator=g, dtype=dtype)


@pytest.fixture
def fallback_mode():
    """Restores the fallback mode and counters a test changes."""
    before = torch_aie.get_fallback_mode()
    yield
    torch_aie.set_fallback_mode(before)
    torch_aie.reset_fallback_stats()


@pytest.fixture
def capacity():
    before = torch_aie.memory_capacity()
    yield
    torch_aie.set_memory_capacity(before)


@pytest.fixture
def allocator_cache():
    """An empty allocator cache with the default 1 GiB limit (scripts/sanitize.sh runs
    with caching disabled), restored afterwards."""
    before = torch_aie.allocator_cache_limit()
    gc.collect()
    torch_aie.set_allocator_cache_limit(1 << 30)
    torch.aie.empty_cache()
    yield
    torch_aie.set_allocator_cache_limit(before)
    torch.aie.empty_cache()


# ---- device module -------------------------------------------------------------


def test_device_module_basics():
    assert torch.aie.is_available()
    assert torch.aie.device_count() == 1
    assert torch.aie.current_device() == 0
    torch.aie.set_device(0)
    torch.aie.set_device("aie:0")
    torch.aie.set_device(torch.device("aie", 0))
    torch.aie._lazy_init()
    assert torch.aie.is_initialized()
    assert not torch.aie._is_in_bad_fork()
    assert torch.bfloat16 in torch.aie.get_amp_supported_dtype()
    assert torch.get_device_module("aie") is torch.aie
    assert torch.accelerator.current_accelerator() == torch.device("aie")


@pytest.mark.parametrize("device", [None, 0, "aie", "aie:0", torch.device("aie:0")])
def test_device_arguments(device):
    torch.aie.synchronize(device)
    assert torch.aie.memory_allocated(device) >= 0
    assert torch.aie.max_memory_allocated(device) >= torch.aie.memory_allocated(device)
    assert torch.aie.memory_reserved(device) >= 0
    assert torch.aie.max_memory_reserved(device) >= 0
    torch.aie.reset_peak_memory_stats(device)
    assert isinstance(torch.aie.memory_stats(device), dict)
    assert torch.aie.get_rng_state(device).dtype == torch.uint8
    with torch.aie.device(device):
        assert torch.aie.current_device() == 0


@pytest.mark.parametrize(
    "bad, error", [(1, ValueError), ("aie:3", ValueError), ("cpu", ValueError), (1.5, TypeError)]
)
def test_invalid_device_raises(bad, error):
    with pytest.raises(error, match="aie"):
        torch.aie.set_device(bad)
    assert torch.aie.current_device() == 0


def test_tensor_on_missing_device_raises():
    with pytest.raises(RuntimeError, match="invalid aie device index 1"):
        torch.empty(2, device="aie:1")


def test_device_object_and_tensor_methods():
    assert str(torch.device("aie")) == "aie"
    x = torch.arange(6.0).reshape(2, 3)
    a = x.aie()
    assert a.is_aie and not x.is_aie
    assert a.device == torch.device("aie:0")
    assert a.get_device() == 0
    torch.testing.assert_close(a.cpu(), x)
    m = torch.nn.Linear(3, 2).aie()
    assert m.weight.is_aie


# ---- copies --------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_round_trip(dtype):
    x = _sample((3, 5), dtype)
    a = x.to("aie")
    assert a.device.type == "aie" and a.dtype == dtype
    assert torch.equal(a.cpu(), x)


@pytest.mark.parametrize(
    "make",
    [
        lambda x: x.t(),
        lambda x: x[:, 1::2],
        lambda x: x[1:3],
        lambda x: x.permute(2, 0, 1)[..., 0] if x.dim() == 3 else x.flip(0),
        lambda x: x.expand(2, *x.shape),
        lambda x: x[:, None],
    ],
    ids=["transposed", "strided", "sliced", "permuted", "expanded", "unsqueezed"],
)
def test_non_contiguous_copies(make):
    x = torch.randn(4, 6)
    view = make(x)
    # cpu -> aie from a non-contiguous source
    torch.testing.assert_close(view.to("aie").cpu(), view)
    # aie -> cpu from a non-contiguous aie view
    torch.testing.assert_close(make(x.to("aie")).cpu(), view)
    # aie -> aie from a non-contiguous view into a column-major destination
    if view.dim() == 2:
        dst = torch.empty(view.shape[::-1], device="aie").t()
    else:
        dst = torch.empty(view.shape, device="aie")
    dst.copy_(make(x.to("aie")))
    torch.testing.assert_close(dst.cpu(), view)


@pytest.mark.parametrize(
    "src, dst",
    [(torch.float32, torch.bfloat16), (torch.float32, torch.float16), (torch.bfloat16, torch.float32),
     (torch.float32, torch.int32), (torch.int64, torch.float64), (torch.float32, torch.bool)],
)
def test_dtype_converting_copies(src, dst):
    x = _sample((4, 3), src) * 3 if src.is_floating_point else _sample((4, 3), src)
    expected = x.to(dst)
    torch.testing.assert_close(x.to("aie", dst).cpu(), expected)  # cpu -> aie
    torch.testing.assert_close(x.to("aie").to(dst).cpu(), expected)  # aie -> aie
    torch.testing.assert_close(x.to("aie").to("cpu", dst), expected)  # aie -> cpu
    out = torch.empty(4, 3, dtype=dst, device="aie")
    out.copy_(x.t().contiguous().t())  # non-contiguous cpu source
    torch.testing.assert_close(out.cpu(), expected)


def test_copy_broadcasts_and_rejects_partial_overlap():
    a = torch.zeros(3, 4, device="aie")
    a.copy_(torch.arange(4.0))
    torch.testing.assert_close(a.cpu(), torch.arange(4.0).expand(3, 4))
    b = torch.arange(10.0, device="aie")
    with pytest.raises(RuntimeError, match="memory location"):
        b[1:].copy_(b[:-1])


def test_non_blocking_and_pinned_memory():
    x = torch.randn(8)
    pinned = x.pin_memory()
    assert pinned.is_pinned()
    a = pinned.to("aie", non_blocking=True)
    torch.aie.synchronize()
    assert torch.equal(a.cpu(), x)


# ---- views, resize, set_ --------------------------------------------------------


def test_views_share_storage():
    x = torch.arange(24.0).reshape(4, 6)
    a = x.to("aie")
    cases = {
        "view": (a.view(6, 4), x.view(6, 4)),
        "reshape": (a.reshape(2, 12), x.reshape(2, 12)),
        "transpose": (a.transpose(0, 1), x.transpose(0, 1)),
        "select": (a[2], x[2]),
        "narrow": (a.narrow(1, 1, 3), x.narrow(1, 1, 3)),
        "unfold": (a.unfold(1, 2, 2), x.unfold(1, 2, 2)),
        "diagonal": (a.diagonal(), x.diagonal()),
        "as_strided": (a.as_strided((3, 3), (6, 2), 1), x.as_strided((3, 3), (6, 2), 1)),
        "flatten": (a.flatten(), x.flatten()),
    }
    for name, (va, vx) in cases.items():
        assert va.untyped_storage().data_ptr() == a.untyped_storage().data_ptr(), name
        torch.testing.assert_close(va.cpu(), vx, msg=name)
    # A write through a view is visible in the base.
    a.view(24)[5] = -1.0
    assert a[0, 5].item() == -1.0


def test_view_as_real_and_complex():
    z = torch.randn(3, dtype=torch.complex64)
    az = z.to("aie")
    torch.testing.assert_close(torch.view_as_real(az).cpu(), torch.view_as_real(z))
    torch.testing.assert_close(torch.view_as_complex(torch.view_as_real(az)).cpu(), z)
    torch.testing.assert_close(az.conj().cpu(), z.conj())


def test_as_strided_out_of_bounds_raises():
    a = torch.zeros(4, device="aie")
    with pytest.raises(RuntimeError, match="out of bounds"):
        a.as_strided((3, 3), (3, 1))


@pytest.mark.parametrize("new_shape", [(2, 3), (10,), (0,), (4, 5, 6)])
def test_resize_(new_shape):
    x = torch.arange(6.0)
    a = x.to("aie")
    a.resize_(new_shape)
    assert a.shape == new_shape and a.device.type == "aie"
    n = min(6, a.numel())
    torch.testing.assert_close(a.flatten()[:n].cpu(), x[:n])


def test_resize_as_and_storage_resize():
    a = torch.ones(2, device="aie")
    a.resize_as_(torch.empty(3, 4))
    assert a.shape == (3, 4)
    s = torch.UntypedStorage(8, device="aie")
    s.resize_(64)
    assert s.nbytes() == 64 and s.device.type == "aie"


def test_set_():
    a = torch.arange(6.0, device="aie")
    b = torch.empty(0, device="aie")
    b.set_(a)
    assert b.untyped_storage().data_ptr() == a.untyped_storage().data_ptr()
    c = torch.empty(0, device="aie")
    c.set_(a.untyped_storage(), 2, (2, 2), (2, 1))
    torch.testing.assert_close(c.cpu(), torch.tensor([[2.0, 3.0], [4.0, 5.0]]))
    c.set_()
    assert c.numel() == 0 and c.device.type == "aie"
    with pytest.raises(RuntimeError, match="device"):
        c.set_(torch.arange(3.0).untyped_storage())


# ---- in-place ops, indexing, item, repr ------------------------------------------


@pytest.mark.parametrize(
    "op",
    [
        lambda t: t.add_(1.5),
        lambda t: t.mul_(t),
        lambda t: t.fill_(3.0),
        lambda t: t.zero_(),
        lambda t: t.clamp_(-0.5, 0.5),
        lambda t: t.t().fill_(2.0),
        lambda t: t[:, 1].fill_(7.0),
        lambda t: t.relu_(),
        lambda t: t.masked_fill_(t > 0, 0.0),
    ],
    ids=["add_", "mul_", "fill_", "zero_", "clamp_", "fill_transposed", "fill_column", "relu_",
         "masked_fill_"],
)
def test_in_place_ops(op):
    x = torch.randn(4, 4)
    a = x.to("aie")
    op(x)
    op(a)
    torch.testing.assert_close(a.cpu(), x)


def test_indexing_assignment():
    x = torch.randn(5, 6)
    a = x.to("aie")
    for t, src in ((x, torch.ones(2, 6)), (a, torch.ones(2, 6, device="aie"))):
        t[1:3] = src
        t[:, 0] = 4.0
        t[t > 1.5] = -1.0
        t[torch.tensor([0, 4])] = 9.0
    torch.testing.assert_close(a.cpu(), x)
    idx = torch.tensor([3, 1])
    torch.testing.assert_close(a[idx].cpu(), x[idx])  # cpu indices, as for CUDA
    torch.testing.assert_close(a[idx.to("aie")].cpu(), x[idx])
    torch.testing.assert_close(a[a > 0].cpu(), x[x > 0])


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.int64, torch.bool, torch.complex64])
def test_item(dtype):
    x = _sample((3,), dtype)
    assert x.to("aie")[1].item() == x[1].item()


def test_repr():
    x = torch.arange(6.0).reshape(2, 3)
    a = x.to("aie")
    text = repr(a)
    assert "device='aie:0'" in text
    assert text.replace(", device='aie:0'", "") == repr(x)
    assert "aie" in str(a.to(torch.bfloat16))


def test_empty_tensors():
    a = torch.empty(0, 3, device="aie")
    assert a.shape == (0, 3)
    assert a.cpu().shape == (0, 3)
    assert torch.zeros(0, device="aie").sum().item() == 0


@pytest.mark.parametrize("factory", ["zeros", "ones", "arange", "full", "eye", "empty_strided"])
def test_factories(factory):
    make = {
        "zeros": lambda d: torch.zeros(2, 3, device=d),
        "ones": lambda d: torch.ones(2, 3, dtype=torch.int32, device=d),
        "arange": lambda d: torch.arange(5, device=d),
        "full": lambda d: torch.full((2, 2), 7.5, device=d),
        "eye": lambda d: torch.eye(3, device=d),
        "empty_strided": lambda d: torch.empty_strided((2, 3), (1, 2), device=d).fill_(1.0),
    }[factory]
    a, x = make("aie"), make("cpu")
    assert a.device.type == "aie" and a.stride() == x.stride()
    torch.testing.assert_close(a.cpu(), x)


def test_layout_and_pin_memory_rejected():
    with pytest.raises(RuntimeError, match="pin_memory"):
        torch.empty(2, device="aie", pin_memory=True)


# ---- autograd -------------------------------------------------------------------


def test_autograd_round_trip():
    x = torch.randn(3, 4, requires_grad=True)
    a = x.detach().to("aie").requires_grad_()
    (x.sin() * 2).sum().backward()
    (a.sin() * 2).sum().backward()
    assert a.grad.device.type == "aie"
    torch.testing.assert_close(a.grad.cpu(), x.grad)
    # Gradients flow across the cpu -> aie copy.
    y = torch.randn(5, requires_grad=True)
    (y.to("aie") ** 2).sum().backward()
    torch.testing.assert_close(y.grad, 2 * y.detach())


# ---- random numbers -------------------------------------------------------------


@pytest.mark.parametrize(
    "draw",
    [
        lambda d: torch.randn(4, 5, device=d),
        lambda d: torch.rand(7, device=d),
        lambda d: torch.randint(0, 10, (6,), device=d),
        lambda d: torch.empty(5, device=d).normal_(2.0, 3.0),
        lambda d: torch.empty(5, device=d).exponential_(),
        lambda d: torch.bernoulli(torch.full((8,), 0.3, device=d)),
        lambda d: torch.randperm(10, device=d),
        lambda d: torch.multinomial(torch.ones(6, device=d), 3),
        lambda d: torch.nn.functional.dropout(torch.ones(10, device=d), 0.5, training=True),
    ],
    ids=["randn", "rand", "randint", "normal_", "exponential_", "bernoulli", "randperm",
         "multinomial", "dropout"],
)
def test_random_matches_cpu_for_same_seed(draw):
    torch.aie.manual_seed(123)
    a = draw("aie")
    torch.manual_seed(123)
    x = draw("cpu")
    assert a.device.type == "aie"
    torch.testing.assert_close(a.cpu(), x)


def test_rng_state_and_generators():
    torch.aie.manual_seed(7)
    assert torch.aie.initial_seed() == 7
    state = torch.aie.get_rng_state()
    first = torch.randn(4, device="aie").cpu()
    torch.aie.set_rng_state(state)
    torch.testing.assert_close(torch.randn(4, device="aie").cpu(), first)
    torch.manual_seed(7)  # torch.manual_seed seeds aie too
    torch.testing.assert_close(torch.randn(4, device="aie").cpu(), first)
    g = torch.Generator(device="aie").manual_seed(7)
    assert g.device.type == "aie"
    torch.testing.assert_close(torch.randn(4, device="aie", generator=g).cpu(), first)
    with pytest.raises(RuntimeError, match="generator"):
        torch.randn(4, device="aie", generator=torch.Generator())
    with torch.random.fork_rng(device_type="aie"):
        torch.randn(3, device="aie")
    torch.aie.manual_seed_all(1)
    torch.aie.seed()


# ---- mixed devices ----------------------------------------------------------------


@pytest.mark.parametrize(
    "op",
    [lambda c, a: c + a, lambda c, a: a * c, lambda c, a: torch.cat([a, c]), lambda c, a: a.sin_().add_(c),
     lambda c, a: torch.matmul(a, c)],
    ids=["add", "mul", "cat", "inplace", "matmul"],
)
def test_mixed_devices_raise(op):
    c = torch.randn(3, 3)
    a = torch.randn(3, 3, device="aie")
    with pytest.raises(RuntimeError, match=r"same device.*(aie:0 and cpu|cpu and aie:0)"):
        op(c, a)


def test_cpu_scalar_tensor_mixes_with_aie():
    a = torch.arange(3.0, device="aie")
    out = a * torch.tensor(2.0)
    assert out.device.type == "aie"
    torch.testing.assert_close(out.cpu(), torch.arange(3.0) * 2)


# ---- CPU fallback -------------------------------------------------------------------


def test_fallback_counts(fallback_mode):
    torch_aie.reset_fallback_stats()
    assert torch_aie.fallback_stats() == {}
    a = torch.randn(4, device="aie")
    for _ in range(3):
        a.erfinv()
    stats = torch_aie.fallback_stats()
    op = next(name for name in stats if name.startswith("aten::erfinv"))
    assert stats[op] == 3
    a.erfinv()
    assert torch_aie.fallback_stats()[op] == 4
    torch_aie.reset_fallback_stats()
    assert torch_aie.fallback_stats() == {}
    # Kernels the device provides itself are not fallbacks.
    a.fill_(1.0).zero_().cpu()
    a.view(2, 2).t()
    assert torch_aie.fallback_stats() == {}


def test_fallback_raise_mode(fallback_mode):
    a = torch.randn(4, device="aie")
    torch_aie.set_fallback_mode("raise")
    assert torch_aie.get_fallback_mode() == "raise"
    with pytest.raises(RuntimeError, match=r"aten::erfinv.*'raise'"):
        a.erfinv()
    # Device plumbing needs no fallback, so it keeps working.
    torch.testing.assert_close(a.cpu().to("aie").cpu(), a.cpu())
    torch_aie.set_fallback_mode("silent")
    a.erfinv()


def test_fallback_warn_mode_warns_once_per_op(fallback_mode):
    a = torch.randn(4, device="aie")
    torch_aie.set_fallback_mode("warn")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        a.erfinv()
        a.erfinv()
        a.expm1()
        a.expm1()
    messages = [str(w.message) for w in caught if "no aie kernel" in str(w.message)]
    assert len(messages) == 2, messages
    assert any("erfinv" in m for m in messages) and any("expm1" in m for m in messages)


@pytest.mark.parametrize("bad", ["loud", "", "RAISE"])
def test_fallback_bad_mode(bad, fallback_mode):
    with pytest.raises(ValueError, match=re.escape(repr(bad))):
        torch_aie.set_fallback_mode(bad)
    with pytest.raises(RuntimeError, match=f"unknown aie fallback mode '{bad}'"):
        torch.ops._aie.set_fallback_mode(bad)
    assert torch_aie.get_fallback_mode() == "silent"


# ---- memory ---------------------------------------------------------------------


def test_memory_stats_return_to_start(allocator_cache):
    start = torch.aie.memory_allocated()
    assert torch.aie.memory_reserved() == start  # the cache is empty
    torch.aie.reset_peak_memory_stats()
    tensors = [torch.randn(1024, device="aie") for _ in range(4)]
    big = torch.empty(3 << 20, dtype=torch.uint8, device="aie")
    during = torch.aie.memory_allocated()
    assert during >= start + 4 * 4096 + (3 << 20)
    assert during % 4096 == 0  # 4 KiB-aligned blocks
    assert torch.aie.max_memory_allocated() >= during
    assert torch.aie.memory_reserved() == during
    stats = torch.aie.memory_stats()
    assert stats["allocation.all.current"] >= 5
    assert stats["allocated_bytes.large_pool.current"] >= 3 << 20
    assert all(t.data_ptr() % 4096 == 0 for t in tensors + [big])
    del tensors, big
    # Freed blocks stay reserved in the cache until empty_cache().
    assert torch.aie.memory_allocated() == start
    assert torch.aie.memory_reserved() == during
    assert torch.aie.max_memory_allocated() >= during
    torch.aie.reset_peak_memory_stats()
    assert torch.aie.max_memory_allocated() == start
    free, total = torch.aie.mem_get_info()
    assert total == torch_aie.memory_capacity() and free == total - during
    torch.aie.empty_cache()
    assert torch.aie.memory_reserved() == start
    assert torch.aie.mem_get_info() == (total - start, total)
    # torch.accelerator reads the same allocator.
    assert torch.accelerator.memory_allocated() == start
    assert torch.accelerator.memory_reserved() == start


def _alloc_stats():
    s = torch.aie.memory_stats()
    return {k: s[k] for k in ("num_device_alloc", "num_device_free", "num_alloc_retries", "num_ooms",
                              "cached_blocks", "cached_bytes")} | {
        "allocated": s["allocated_bytes.all.current"], "reserved": s["reserved_bytes.all.current"],
        "allocations": s["allocation.all.current"], "segments": s["segment.all.current"],
        "active": s["active.all.current"], "active_bytes": s["active_bytes.all.current"],
        "inactive_split": s["inactive_split.all.current"]}


def _bytes(n):
    return torch.empty(n, dtype=torch.uint8, device="aie")


def test_allocator_reuses_freed_blocks(allocator_cache):
    before = _alloc_stats()
    a = _bytes(1 << 20)
    ptr = a.data_ptr()
    del a
    after_free = _alloc_stats()
    assert after_free["num_device_alloc"] == before["num_device_alloc"] + 1
    assert after_free["num_device_free"] == before["num_device_free"]  # cached, not freed
    assert after_free["cached_blocks"] == 1 and after_free["cached_bytes"] == 1 << 20
    # The same size again comes from the cache: no new host allocation.
    b = _bytes(1 << 20)
    assert b.data_ptr() == ptr
    assert _alloc_stats()["num_device_alloc"] == after_free["num_device_alloc"]
    assert _alloc_stats()["cached_blocks"] == 0
    del b
    # Best fit: a smaller request takes the 1 MiB block while it is at most 1.25x the
    # request; a much smaller one gets its own block.
    c = _bytes((1 << 20) - 200_000)
    assert c.data_ptr() == ptr
    d = _bytes(1 << 20)  # nothing cached fits: a new block
    assert d.data_ptr() != ptr
    del c, d
    n = _alloc_stats()["num_device_alloc"]
    e = _bytes(1 << 19)
    assert e.data_ptr() != ptr and _alloc_stats()["num_device_alloc"] == n + 1
    f = _bytes((1 << 20) + 1)  # larger than every cached block: new
    assert _alloc_stats()["num_device_alloc"] == n + 2
    del e, f


def test_allocator_reserved_vs_allocated(allocator_cache):
    base = _alloc_stats()
    assert base["reserved"] == base["allocated"] and base["cached_blocks"] == 0
    keep = [_bytes(5000), _bytes(3 << 20)]
    gone = [_bytes(70_000), _bytes(2 << 20)]
    live = _alloc_stats()
    assert live["allocated"] == base["allocated"] + 8192 + (3 << 20) + 73728 + (2 << 20)
    assert live["reserved"] == live["allocated"]
    assert live["allocations"] == live["active"] == base["allocations"] + 4
    assert live["segments"] == base["segments"] + 4
    del gone
    s = _alloc_stats()
    assert s["allocated"] == base["allocated"] + 8192 + (3 << 20)
    assert s["active_bytes"] == s["allocated"] and s["active"] == base["active"] + 2
    assert s["allocations"] == base["allocations"] + 2
    assert s["reserved"] == live["reserved"]  # freed blocks are cached
    assert s["segments"] == base["segments"] + 4
    assert s["cached_blocks"] == 2 and s["cached_bytes"] == 73728 + (2 << 20)
    assert s["reserved"] - s["allocated"] == s["cached_bytes"]
    assert s["segments"] - s["allocations"] == s["cached_blocks"]
    assert s["inactive_split"] == 0  # whole segments, never split
    free, total = torch.aie.mem_get_info()
    assert free == total - s["reserved"]
    torch.aie.empty_cache()
    e = _alloc_stats()
    assert e["reserved"] == e["allocated"] == s["allocated"]
    assert e["cached_blocks"] == 0 and e["cached_bytes"] == 0
    assert e["segments"] == base["segments"] + 2
    assert e["num_device_free"] == s["num_device_free"] + 2
    del keep
    torch.aie.empty_cache()
    end = _alloc_stats()
    assert end["reserved"] == end["allocated"] == base["allocated"]
    assert end["num_device_alloc"] - base["num_device_alloc"] == end["num_device_free"] - base["num_device_free"] == 4


def test_allocator_cache_limit_evicts_oldest(allocator_cache):
    torch_aie.set_allocator_cache_limit(3 * 65536)
    assert torch_aie.allocator_cache_limit() == 3 * 65536
    assert torch.aie.memory_stats()["cache_limit_bytes"] == 3 * 65536
    sizes = [65536 - 4096 * k for k in range(4)]  # distinct sizes, none reusing another's block
    blocks = [_bytes(n) for n in sizes]
    ptrs = [t.data_ptr() for t in blocks]
    frees = _alloc_stats()["num_device_free"]
    for i in range(4):
        blocks[i] = None  # freed oldest first
    s = _alloc_stats()
    assert s["cached_bytes"] <= 3 * 65536 and s["cached_blocks"] == 3
    assert s["num_device_free"] == frees + 1  # the oldest went back to the host
    assert s["reserved"] - s["allocated"] == s["cached_bytes"]
    # The newest blocks are the cached ones.
    assert _bytes(sizes[3]).data_ptr() == ptrs[3]
    # A block bigger than the limit is never cached.
    n = _alloc_stats()["num_device_free"]
    big = _bytes(4 * 65536)
    del big
    assert _alloc_stats()["num_device_free"] == n + 1
    # Lowering the limit releases what no longer fits; 0 disables caching.
    torch_aie.set_allocator_cache_limit(0)
    s = _alloc_stats()
    assert s["cached_blocks"] == 0 and s["reserved"] == s["allocated"]
    n = s["num_device_alloc"]
    for _ in range(3):
        torch.empty(1000, device="aie")
    assert _alloc_stats()["num_device_alloc"] == n + 3
    with pytest.raises(ValueError, match="non-negative"):
        torch_aie.set_allocator_cache_limit(-1)
    with pytest.raises(TypeError, match="int"):
        torch_aie.set_allocator_cache_limit(1.5)


def test_allocator_out_of_memory_empties_cache_and_retries(allocator_cache, capacity):
    start = _alloc_stats()
    torch_aie.set_memory_capacity(start["allocated"] + (1 << 20))
    a = _bytes(768 << 10)
    del a  # cached: reserved is now start + 768 KiB
    assert _alloc_stats()["reserved"] == start["allocated"] + (768 << 10)
    # 512 KiB cannot reuse the 768 KiB block (more than 1.25x) and does not fit next to
    # it: the cache goes back to the host and the allocation is retried.
    b = _bytes(512 << 10)
    s = _alloc_stats()
    assert s["num_alloc_retries"] == start["num_alloc_retries"] + 1
    assert s["num_ooms"] == start["num_ooms"]
    assert s["cached_blocks"] == 0 and s["reserved"] == start["allocated"] + (512 << 10)
    # With nothing cached to release, an allocation over the capacity raises.
    with pytest.raises(torch.OutOfMemoryError) as info:
        _bytes(1 << 20)
    message = str(info.value)
    assert f"tried to allocate {1 << 20} bytes" in message
    assert f"{start['allocated'] + (512 << 10)} bytes already allocated" in message
    assert f"{start['allocated'] + (1 << 20)}-byte capacity" in message
    s = _alloc_stats()
    assert s["num_ooms"] == start["num_ooms"] + 1
    assert s["num_alloc_retries"] == start["num_alloc_retries"] + 1
    # A cached block of the right size is still handed out at full capacity.
    c = _bytes(512 << 10)
    del c
    d = _bytes(512 << 10)
    assert _alloc_stats()["num_device_alloc"] == s["num_device_alloc"] + 1
    del b, d


def test_reused_blocks_hold_the_new_data(allocator_cache):
    g = torch.Generator().manual_seed(3)
    for step in range(20):
        shape = (37 + step % 3, 129)
        src = torch.randn(shape, generator=g)
        stale = torch.full(shape, float("nan"), device="aie")
        del stale  # its block is reused below
        a = src.to("aie")
        torch.testing.assert_close(a.cpu(), src, rtol=0, atol=0)
        out = torch.erfinv(a.clamp(-0.9, 0.9))  # CPU fallback results in reused blocks
        torch.testing.assert_close(out.cpu(), torch.erfinv(src.clamp(-0.9, 0.9)), rtol=0, atol=0)
        z = torch.zeros(shape, device="aie")
        assert torch.count_nonzero(z.cpu()) == 0
    assert torch.aie.memory_stats()["cached_blocks"] > 0


def _run_with_env(env_vars, code):
    env = dict(os.environ, **env_vars)
    return subprocess.run([sys.executable, "-c", "import torch, torch_aie\n" + code],
                          env=env, capture_output=True, text=True, timeout=60)


def test_allocator_cache_disabled_from_environment():
    ok = _run_with_env(
        {"TORCH_AIE_ALLOCATOR_CACHE_BYTES": "0"},
        "print(torch_aie.allocator_cache_limit())\n"
        "s0 = torch.aie.memory_stats()\n"
        "for _ in range(5):\n    t = torch.ones(1 << 16, device='aie'); del t\n"
        "s = torch.aie.memory_stats()\n"
        "print(s['num_device_alloc'] - s0['num_device_alloc'], s['num_device_free'] - s0['num_device_free'],\n"
        "      s['cached_blocks'], s['reserved_bytes.all.current'] == s['allocated_bytes.all.current'])\n",
    )
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.split() == ["0", "5", "5", "0", "True"]
    small = _run_with_env(
        {"TORCH_AIE_ALLOCATOR_CACHE_BYTES": "8192"},
        "print(torch_aie.allocator_cache_limit())\n"
        "a, b, c = (torch.empty(1024, device='aie') for _ in range(3)); del a, b, c\n"
        "print(torch.aie.memory_stats()['cached_bytes'])\n",
    )
    assert small.returncode == 0, small.stderr
    assert small.stdout.split() == ["8192", "8192"]
    bad = _run_with_env({"TORCH_AIE_ALLOCATOR_CACHE_BYTES": "-1"}, "torch.empty(4, device='aie')")
    assert bad.returncode != 0
    assert "TORCH_AIE_ALLOCATOR_CACHE_BYTES='-1' is not a non-negative number of bytes" in bad.stderr


def test_out_of_memory(capacity):
    start = torch.aie.memory_allocated()
    ooms = torch.aie.memory_stats()["num_ooms"]
    torch_aie.set_memory_capacity(start + (1 << 20))
    assert torch_aie.memory_capacity() == start + (1 << 20)
    keep = torch.empty(1 << 19, dtype=torch.uint8, device="aie")
    with pytest.raises(torch.OutOfMemoryError) as info:
        torch.empty(1 << 20, dtype=torch.uint8, device="aie")
    message = str(info.value)
    assert f"tried to allocate {1 << 20} bytes" in message
    assert f"{start + (1 << 19)} bytes already allocated" in message
    assert f"{start + (1 << 20)}-byte capacity" in message
    assert torch.aie.memory_stats()["num_ooms"] == ooms + 1
    assert torch.aie.memory_allocated() == start + (1 << 19)
    # The process keeps working: what fits still allocates, and more after a raise.
    small = torch.ones(16, device="aie")
    assert small.sum().item() == 16
    torch_aie.set_memory_capacity(capacity_before := 16 << 30)
    bigger = torch.empty(1 << 21, dtype=torch.uint8, device="aie")
    assert bigger.numel() == 1 << 21 and torch_aie.memory_capacity() == capacity_before
    del keep, small, bigger
    assert torch.aie.memory_allocated() == start


@pytest.mark.parametrize("bad, error", [(0, ValueError), (-5, ValueError), (1.5, TypeError)])
def test_bad_memory_capacity(bad, error, capacity):
    with pytest.raises(error, match="capacity"):
        torch_aie.set_memory_capacity(bad)
    with pytest.raises(RuntimeError, match="positive"):
        torch.ops._aie.set_memory_capacity(0)


def test_allocator_is_thread_safe():
    gc.collect()
    start = torch.aie.memory_allocated()
    errors = []

    def work(seed):
        try:
            for i in range(50):
                t = torch.full((64 + seed + i,), float(seed), device="aie")
                assert t.cpu()[0].item() == float(seed)
        except Exception as e:  # noqa: BLE001 (reported below)
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert torch.aie.memory_allocated() == start


def _run_with_capacity_env(value, code):
    return _run_with_env({"TORCH_AIE_MEMORY_CAPACITY": value}, code)


def test_capacity_from_environment():
    ok = _run_with_capacity_env(
        "65536",
        "print(torch_aie.memory_capacity())\n"
        "try:\n    torch.empty(70000, dtype=torch.uint8, device='aie')\n"
        "except torch.OutOfMemoryError as e:\n    print('OOM', '65536-byte capacity' in str(e))\n",
    )
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.split() == ["65536", "OOM", "True"]
    bad = _run_with_capacity_env("lots", "torch.empty(4, device='aie')")
    assert bad.returncode != 0
    assert "TORCH_AIE_MEMORY_CAPACITY='lots' is not a positive number of bytes" in bad.stderr


def test_autocast_region_runs():
    # CUDA's policy (issue #15; tests/test_autocast.py has the lists): matmul runs in
    # bf16, ops in no list keep their input dtypes.
    a = torch.randn(2, 3, device="aie")
    with torch.autocast("aie", dtype=torch.bfloat16):
        out = a @ a.t()
        kept = a + 1
    assert out.device.type == "aie" and out.dtype == torch.bfloat16
    assert kept.dtype == torch.float32
