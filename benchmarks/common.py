"""Shared helpers for the Python benchmarks: timing and conv-layer capture."""
import random
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


def interleaved_medians_ms(fns, runs=7, warmup=1, seed=0):
    """Median ms of each of `fns`, timed one call of each per round (so that drifting
    machine load hits all of them alike), in an order shuffled per round: a fixed order
    always ran the first of `fns` after the last, whose memory traffic (a slow CPU bf16
    conv's) it then paid for (benchmarks/RESULTS.md, AVX2 section)."""
    for _ in range(warmup):
        for fn in fns:
            fn()
    times = [[] for _ in fns]
    order = random.Random(seed)
    for _ in range(runs):
        for i in order.sample(range(len(fns)), len(fns)):
            t0 = time.perf_counter()
            fns[i]()
            times[i].append(time.perf_counter() - t0)
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
