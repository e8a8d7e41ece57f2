"""Weight pre-transform cache: per-call time of ResNet-50's 53 conv layers on aie
with the cache on vs off, the share of time spent transforming weights in steady
state, and the cache's bytes vs the model's weight bytes.

    .venv/bin/python benchmarks/weight_cache_bench.py [--batch 1] [--runs 5]
"""
import argparse
import copy

import torch

import torch_aie
from common import capture_conv_inputs, conv_call, median_ms
from torch_aie import models


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    model = copy.deepcopy(models.build("resnet50", calib_batch=1)).to("aie")
    x = torch.randn(args.batch, 3, 224, 224).to("aie")
    layers = capture_conv_inputs(model, x)
    weight_bytes = sum(m.weight.numel() * m.weight.element_size() for _, m, _ in layers)
    torch_aie.weight_cache_clear()

    on = off = 0.0
    with torch.no_grad():
        for _, mod, inp in layers:  # steady state: one call fills the cache, then time
            conv_call(mod, inp)()
        torch_aie.weight_cache_reset_counters()
        for _, mod, inp in layers:
            on += median_ms(conv_call(mod, inp), args.runs, warmup=0)
        steady = torch_aie.weight_cache_stats()
        cache_bytes = steady["bytes"]
        with torch_aie.weight_cache_enabled(False):
            for _, mod, inp in layers:
                off += median_ms(conv_call(mod, inp), args.runs)

    print(f"ResNet-50, 53 conv layers, batch {args.batch}, host ISA {torch_aie.host_isa()}, "
          f"threads {torch.get_num_threads()}, precision {torch_aie.get_conv_precision()}")
    print(f"{'':34} {'sum of per-call medians (ms)':>30}")
    print(f"{'cache on  (steady state)':34} {on:30.2f}")
    print(f"{'cache off (transform every call)':34} {off:30.2f}")
    print(f"weight transform share of conv time, cache off: {100 * (off - on) / off:5.1f} %")
    misses = steady["misses"]
    print(f"weight transforms during the timed steady-state calls, cache on: {misses} "
          f"(hits {steady['hits']}) -> transform share {100.0 * misses / max(1, steady['hits'] + misses):.1f} %")
    print(f"cache bytes {cache_bytes / 2**20:.1f} MiB vs model conv weight bytes (fp32) "
          f"{weight_bytes / 2**20:.1f} MiB: {cache_bytes / weight_bytes:.2f}x")


if __name__ == "__main__":
    main()
