"""The weight pre-transform cache: packed, converted, padded conv weights kept
across calls, keyed safely (tensor + storage identity, version counter, every
packing parameter). See csrc/ops/conv/weight_cache.h."""
import contextlib

import torch

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
