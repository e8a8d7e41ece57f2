"""``torch.aie``: the device module of the aie device, shaped like ``torch.cuda``.

Functions that take a ``device`` accept ``None`` (the current device), an ``int``
index, a string such as ``"aie"`` / ``"aie:0"``, or a ``torch.device``. The emulator
runs every kernel synchronously on the host, so there is nothing to initialise and
``synchronize`` only validates its argument.
"""
from __future__ import annotations

import collections
from typing import Any

import torch

__all__ = [
    "device",
    "is_available",
    "is_initialized",
    "init",
    "device_count",
    "current_device",
    "set_device",
    "synchronize",
    "empty_cache",
    "memory_stats",
    "memory_allocated",
    "max_memory_allocated",
    "memory_reserved",
    "max_memory_reserved",
    "reset_peak_memory_stats",
    "reset_accumulated_memory_stats",
    "mem_get_info",
    "manual_seed",
    "manual_seed_all",
    "seed",
    "seed_all",
    "initial_seed",
    "get_rng_state",
    "get_rng_state_all",
    "set_rng_state",
    "set_rng_state_all",
    "get_amp_supported_dtype",
]

_DEVICE_TYPE = "aie"
_initialized = False


def _ops():
    return torch.ops._aie


def _device_index(device: Any = None) -> int:
    """The index `device` names; None, -1 and an index-less "aie" mean the current one."""
    if device is None:
        return current_device()
    if isinstance(device, str):
        device = torch.device(device)
    if isinstance(device, torch.device):
        if device.type != _DEVICE_TYPE:
            raise ValueError(f"expected an aie device, got {device}")
        if device.index is None:
            return current_device()
        device = device.index
    if isinstance(device, bool) or not isinstance(device, int):
        raise TypeError(
            f"expected None, an int, a str or a torch.device for an aie device, got {device!r}"
        )
    if device == -1:
        return current_device()
    if not 0 <= device < device_count():
        raise ValueError(
            f"invalid aie device index {device}: torch_aie has {device_count()} device(s), "
            f"aie:0 to aie:{device_count() - 1}"
        )
    return device


class _Utils:
    """What torch.serialization looks up on a device module to validate a location."""

    @staticmethod
    def _get_device_index(device: Any, optional: bool = False) -> int:
        return _device_index(device)


_utils = _Utils()


class device:
    """Context manager that makes `device` the current aie device (None: no change)."""

    def __init__(self, device: Any):
        self.idx = None if device is None else _device_index(device)
        self.prev_idx = -1

    def __enter__(self):
        self.prev_idx = current_device()
        if self.idx is not None:
            set_device(self.idx)

    def __exit__(self, *exc_info):
        set_device(self.prev_idx)
        return False


# ---- availability and device selection ---------------------------------------


def is_available() -> bool:
    """Always True: without an NPU the host emulator serves the device."""
    return True


def is_initialized() -> bool:
    return _initialized


def _lazy_init() -> None:
    # Loading the library already set everything up; this only records that the
    # device has been used, as torch.cuda's does.
    global _initialized
    _initialized = True


def init() -> None:
    _lazy_init()


def _is_in_bad_fork() -> bool:
    # No driver state to corrupt: a forked child can use the emulator.
    return False


def device_count() -> int:
    return _ops().device_count()


def current_device() -> int:
    return _ops().current_device()


def set_device(device: Any) -> None:
    _ops().set_device(_device_index(device))


def synchronize(device: Any = None) -> None:
    """Waits for all kernels on `device`; they already finished, as they run synchronously."""
    _device_index(device)


# ---- memory --------------------------------------------------------------------


def empty_cache() -> None:
    """Returns the allocator's cached (freed) blocks to the host: memory_reserved() drops
    to memory_allocated(). Live tensors are untouched."""
    _ops().empty_cache()


def memory_stats(device: Any = None) -> collections.OrderedDict[str, int]:
    """Allocator statistics with torch.cuda.memory_stats() keys, plus "capacity_bytes",
    "cached_blocks", "cached_bytes" (freed blocks kept for reuse; reserved - allocated)
    and "cache_limit_bytes"."""
    names, values = _ops().memory_stats(_device_index(device))
    return collections.OrderedDict(sorted(zip(names, values)))


def _stat(key: str, device: Any) -> int:
    return memory_stats(device)[key]


def memory_allocated(device: Any = None) -> int:
    return _stat("allocated_bytes.all.current", device)


def max_memory_allocated(device: Any = None) -> int:
    return _stat("allocated_bytes.all.peak", device)


def memory_reserved(device: Any = None) -> int:
    return _stat("reserved_bytes.all.current", device)


def max_memory_reserved(device: Any = None) -> int:
    return _stat("reserved_bytes.all.peak", device)


def reset_peak_memory_stats(device: Any = None) -> None:
    _ops().reset_peak_memory_stats(_device_index(device))


def reset_accumulated_memory_stats(device: Any = None) -> None:
    _ops().reset_accumulated_memory_stats(_device_index(device))


def mem_get_info(device: Any = None) -> tuple[int, int]:
    """(free, total) bytes of the emulated device memory."""
    stats = memory_stats(device)
    total = stats["capacity_bytes"]
    return max(total - stats["reserved_bytes.all.current"], 0), total


# ---- random numbers ------------------------------------------------------------


def _as_uint64_seed(seed: int) -> int:
    # torch.manual_seed's convention: negative seeds wrap modulo 2**64. The op
    # takes int64, so values >= 2**63 travel as their two's-complement image.
    seed = int(seed) & 0xFFFF_FFFF_FFFF_FFFF
    return seed - (1 << 64) if seed >= (1 << 63) else seed


def manual_seed(seed: int) -> None:
    """Seeds the current aie device's default generator."""
    _ops().manual_seed(_as_uint64_seed(seed), current_device())


def manual_seed_all(seed: int) -> None:
    """Seeds every aie device's default generator (torch.manual_seed calls this)."""
    for index in range(device_count()):
        _ops().manual_seed(_as_uint64_seed(seed), index)


def seed() -> None:
    """Seeds the current aie device's default generator with a random number."""
    _ops().seed(current_device())


def seed_all() -> None:
    for index in range(device_count()):
        _ops().seed(index)


def initial_seed() -> int:
    return _ops().initial_seed(current_device()) & 0xFFFF_FFFF_FFFF_FFFF


def get_rng_state(device: Any = "aie") -> torch.Tensor:
    """The default generator's state as a cpu ByteTensor."""
    return _ops().get_rng_state(_device_index(device))


def set_rng_state(new_state: torch.Tensor, device: Any = "aie") -> None:
    if not isinstance(new_state, torch.Tensor):
        raise TypeError(f"an aie RNG state is a cpu ByteTensor, got {type(new_state).__name__}")
    _ops().set_rng_state(new_state.cpu(), _device_index(device))


def get_rng_state_all() -> list[torch.Tensor]:
    return [get_rng_state(index) for index in range(device_count())]


def set_rng_state_all(new_states: list[torch.Tensor]) -> None:
    for index, state in enumerate(new_states):
        set_rng_state(state, index)


# ---- autocast ------------------------------------------------------------------


def get_amp_supported_dtype() -> list[torch.dtype]:
    """Dtypes torch.autocast may use on aie: the NPU's float type is bf16."""
    return [torch.bfloat16]


# ---- torch.compile -------------------------------------------------------------

_INDUCTOR_HOOKS = ("Scheduling", "PythonWrapperCodegen", "CppWrapperCodegen", "WrapperFxCodegen")


def __getattr__(name: str) -> Any:
    # Inductor asks the PrivateUse1 device module for its code generators; resolved
    # lazily because importing Inductor takes seconds.
    if name in _INDUCTOR_HOOKS:
        from . import compile as _compile

        return _compile.inductor_codegen(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
