"""Dispatch overhead: a tiny conv (1x8x8x8, 3x3, padding 1) on aie vs PyTorch CPU fp32,
median of many calls, at 1 and 2 threads (the #6 goal: aie costs at most 1.5x CPU).

    .venv/bin/python benchmarks/dispatch_bench.py [--calls 2001]
"""
import argparse

import torch
import torch.nn.functional as F

import torch_aie
from common import median_ms


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=2001)
    args = ap.parse_args()
    x, w = torch.randn(1, 8, 8, 8), torch.randn(8, 8, 3, 3)
    xa, wa = x.to("aie"), w.to("aie")
    print(f"host ISA {torch_aie.host_isa()}, torch {torch.__version__}")
    with torch.no_grad():
        for threads in (1, 2):
            torch.set_num_threads(threads)
            a = 1e3 * median_ms(lambda: F.conv2d(xa, wa, None, 1, 1), args.calls, warmup=50)
            c = 1e3 * median_ms(lambda: F.conv2d(x, w, None, 1, 1), args.calls, warmup=50)
            print(f"tiny conv 1x8x8x8 3x3, threads {threads}: aie {a:.1f} us, cpu fp32 {c:.1f} us, "
                  f"aie/cpu {a / c:.2f}")


if __name__ == "__main__":
    main()
