"""Shared helpers for the Python benchmarks: timing and conv-layer capture."""
import statistics
import time

import torch
from torch import nn


def median_ms(fn, runs=7, warmup=1):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def interleaved_medians_ms(fns, runs=7, warmup=1):
    """Median ms of each of `fns`, timed one call of each per round (so that drifting
    machine load hits all of them alike)."""
    for _ in range(warmup):
        for fn in fns:
            fn()
    times = [[] for _ in fns]
    for _ in range(runs):
        for fn, t in zip(fns, times):
            t0 = time.perf_counter()
            fn()
            t.append(time.perf_counter() - t0)
    return [statistics.median(t) * 1e3 for t in times]


@torch.no_grad()
def capture_conv_inputs(model, x):
    """[(name, conv module, its input)] for every Conv2d, in forward order."""
    seen, hooks = [], []
    for name, m in model.named_modules():
        if isinstance(m, nn.Conv2d):
            hooks.append(m.register_forward_hook(lambda mod, inp, out, name=name: seen.append((name, mod, inp[0]))))
    model(x)
    for h in hooks:
        h.remove()
    return seen


def conv_call(mod, x):
    return lambda: nn.functional.conv2d(x, mod.weight, mod.bias, mod.stride, mod.padding, mod.dilation, mod.groups)
