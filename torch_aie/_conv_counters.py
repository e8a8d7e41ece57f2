"""Python-side conv counters merged into torch_aie.conv_stats() (one table for the user).

The int8 lowering (torch_aie.quantization.lower) counts here each call of a conv it could
not lower, under "int8_not_lowered:<reason>"; the conv itself still runs (and the C++ side
counts where: "npu:<algorithm>" or "cpu_fallback:<reason>").
"""
import collections
import threading

_lock = threading.Lock()
_counts = collections.Counter()


def count(key: str, n: int = 1) -> None:
    with _lock:
        _counts[key] += n


def snapshot() -> dict:
    with _lock:
        return dict(_counts)


def reset() -> None:
    with _lock:
        _counts.clear()
