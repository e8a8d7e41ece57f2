"""The weight pre-transform cache: packed, converted, padded conv weights kept
across calls, keyed safely (tensor + storage identity, version counter, every
packing parameter). See csrc/ops/conv/weight_cache.h.

aie inference tensors (made under torch.inference_mode()) have no version counter;
the aie kernels that write device memory report each write instead
(csrc/runtime/write_epochs.h). A write PyTorch learns of only through
torch.autograd.graph.increment_version (torch.compile'd graphs mutating their inputs,
custom kernels writing through data_ptr, as PyTorch documents) is reported by the
wrapper installed below."""
import contextlib
import functools

import torch
import torch.autograd.graph

__all__ = ["weight_cache_stats", "weight_cache_clear", "set_weight_cache_budget",
           "weight_cache_enabled", "weight_cache_reset_counters", "get_weight_cache_enabled",
           "set_weight_cache_verify", "get_weight_cache_verify"]

_FIELDS = ("hits", "misses", "evictions", "uncacheable", "bytes", "entries", "budget")


def weight_cache_stats() -> dict:
    """hits, misses, evictions, uncacheable (inference tensors, cache off), bytes,
    entries, budget (bytes)."""
    return dict(zip(_FIELDS, torch.ops._aie.weight_cache_stats()))


def weight_cache_clear() -> None:
    torch.ops._aie.weight_cache_clear()


def weight_cache_reset_counters() -> None:
    """Zeroes hits/misses/evictions/uncacheable and re-arms the once-only warnings."""
    torch.ops._aie.weight_cache_reset_counters()


def set_weight_cache_budget(nbytes: int) -> None:
    """Byte budget (default 1 GiB, or TORCH_AIE_WEIGHT_CACHE_BYTES); LRU eviction."""
    torch.ops._aie.set_weight_cache_budget(int(nbytes))


def get_weight_cache_enabled() -> bool:
    return torch.ops._aie.get_weight_cache_enabled()


@contextlib.contextmanager
def weight_cache_enabled(enabled: bool):
    """Turn the cache off (every call re-packs its weights) or on, temporarily; the
    previous state comes back on exit (turning it off drops the cached entries)."""
    previous = get_weight_cache_enabled()
    torch.ops._aie.set_weight_cache_enabled(bool(enabled))
    try:
        yield
    finally:
        torch.ops._aie.set_weight_cache_enabled(previous)


def set_weight_cache_verify(enabled: bool) -> None:
    """Debug mode (also TORCH_AIE_WEIGHT_CACHE_VERIFY=1): every cache hit checks the
    weight's values against a checksum taken when it was packed, and raises a
    RuntimeError naming the weight (shape, dtype, data pointer) if they changed without
    a version-counter bump (writes through .data, raw pointers, numpy), instead of
    silently serving the stale packed weight. Costs one pass over the weight per hit."""
    torch.ops._aie.set_weight_cache_verify(bool(enabled))


def get_weight_cache_verify() -> bool:
    return torch.ops._aie.get_weight_cache_verify()


def _install_write_reporting() -> None:
    """Wraps torch.autograd.graph.increment_version (a no-op for inference tensors) so
    that it also reports the write of an aie tensor. AOTAutograd looks the function up
    when it generates a graph's runtime wrapper, so graphs compiled after import see it."""
    original = torch.autograd.graph.increment_version
    if getattr(original, "_torch_aie_wrapped", False):
        return

    @functools.wraps(original)
    def increment_version(tensor):
        tensors = (tensor,) if isinstance(tensor, torch.Tensor) else tuple(tensor)
        original(tensors)
        for t in tensors:
            if isinstance(t, torch.Tensor) and t.device.type == "aie":
                torch.ops._aie.note_write(t)

    increment_version._torch_aie_wrapped = True
    torch.autograd.graph.increment_version = increment_version


_install_write_reporting()
