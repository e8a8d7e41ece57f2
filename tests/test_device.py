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


def test_memory_stats_return_to_start():
    gc.collect()
    start = torch.aie.memory_allocated()
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
    assert torch.aie.memory_allocated() == start
    assert torch.aie.memory_reserved() == start
    assert torch.aie.max_memory_allocated() >= during
    torch.aie.reset_peak_memory_stats()
    assert torch.aie.max_memory_allocated() == start
    free, total = torch.aie.mem_get_info()
    assert total == torch_aie.memory_capacity() and free == total - start
    # torch.accelerator reads the same allocator.
    assert torch.accelerator.memory_allocated() == start


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
    env = dict(os.environ, TORCH_AIE_MEMORY_CAPACITY=value)
    return subprocess.run([sys.executable, "-c", "import torch, torch_aie\n" + code],
                          env=env, capture_output=True, text=True, timeout=60)


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
    # No aie autocast policy yet: ops keep their input dtypes instead of failing.
    a = torch.randn(2, 3, device="aie")
    with torch.autocast("aie", dtype=torch.bfloat16):
        out = a @ a.t()
    assert out.device.type == "aie" and out.dtype == torch.float32
