"""Registers PrivateUse1 as the "aie" device and exposes the device-level settings.

After import: ``torch.device("aie")``, ``torch.aie`` (see device_module.py),
``Tensor.aie()`` / ``Tensor.is_aie``, ``Module.aie()``, the storage methods
``torch.load`` needs, and checkpoint location tags "aie" / "aie:N".
"""
from __future__ import annotations

import torch

from . import device_module

__all__ = [
    "fallback_stats",
    "fallback_result_stats",
    "reset_fallback_stats",
    "set_fallback_mode",
    "get_fallback_mode",
    "set_memory_capacity",
    "memory_capacity",
    "set_allocator_cache_limit",
    "allocator_cache_limit",
]

_BACKEND = "aie"
_FALLBACK_MODES = ("silent", "warn", "raise")


def _register() -> None:
    # Each torch registration below refuses to run twice (e.g. on importlib.reload).
    if getattr(torch, _BACKEND, None) is device_module:
        return
    torch.utils.rename_privateuse1_backend(_BACKEND)
    torch._register_device_module(_BACKEND, device_module)
    torch.utils.generate_methods_for_privateuse1_backend(
        for_tensor=True, for_module=True, for_storage=True
    )


_register()


def fallback_stats() -> dict[str, int]:
    """Calls of each aten op that ran on the CPU for lack of an aie kernel, by op name
    (e.g. ``"aten::add.Tensor"``), since the last reset_fallback_stats(); host work of aie
    ops counts too (convs the NPU path refuses as ``"aten::convolution"``, max pools on the
    host max-pool kernel as ``"aten::max_pool2d"``, means as ``"aten::mean.dim"``)."""
    names, counts = torch.ops._aie.fallback_counts()
    return dict(zip(names, counts))


def fallback_result_stats() -> dict[str, int]:
    """Fresh results of CPU fallback calls since the last reset_fallback_stats():
    "adopted" (the CPU kernel allocated them in device memory, no copy) and "copied"
    (with "copied_bytes"; e.g. a result its kernel also keeps a reference to)."""
    adopted, copied, nbytes = torch.ops._aie.fallback_result_counts()
    return {"adopted": adopted, "copied": copied, "copied_bytes": nbytes}


def reset_fallback_stats() -> None:
    torch.ops._aie.reset_fallback_counts()


def set_fallback_mode(mode: str) -> None:
    """What a CPU fallback does besides counting: "silent" (default), "warn" (once per
    op after this call) or "raise" (a RuntimeError naming the op, nothing runs)."""
    if mode not in _FALLBACK_MODES:
        raise ValueError(f"unknown aie fallback mode {mode!r}; expected one of {_FALLBACK_MODES}")
    torch.ops._aie.set_fallback_mode(mode)


def get_fallback_mode() -> str:
    return torch.ops._aie.get_fallback_mode()


def set_memory_capacity(nbytes: int) -> None:
    """Capacity of the emulated device memory in bytes; allocations beyond it raise
    torch.OutOfMemoryError. The default is 16 GiB or TORCH_AIE_MEMORY_CAPACITY."""
    if isinstance(nbytes, bool) or not isinstance(nbytes, int):
        raise TypeError(f"memory capacity must be an int number of bytes, got {nbytes!r}")
    if nbytes <= 0:
        raise ValueError(f"memory capacity must be a positive number of bytes, got {nbytes}")
    torch.ops._aie.set_memory_capacity(nbytes)


def memory_capacity() -> int:
    return torch.ops._aie.memory_capacity()


def set_allocator_cache_limit(nbytes: int) -> None:
    """Most bytes of freed device blocks the allocator keeps for reuse (the oldest go back
    to the host first); 0 disables caching. The default is 1 GiB or
    TORCH_AIE_ALLOCATOR_CACHE_BYTES. torch.aie.empty_cache() releases the cache."""
    if isinstance(nbytes, bool) or not isinstance(nbytes, int):
        raise TypeError(f"allocator cache limit must be an int number of bytes, got {nbytes!r}")
    if nbytes < 0:
        raise ValueError(f"allocator cache limit must be a non-negative number of bytes, got {nbytes}")
    torch.ops._aie.set_allocator_cache_limit(nbytes)


def allocator_cache_limit() -> int:
    return torch.ops._aie.allocator_cache_limit()
