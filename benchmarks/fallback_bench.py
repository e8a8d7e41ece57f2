"""The ops conv nets run besides convolutions, on aie (CPU fallback or aie kernel) vs
PyTorch CPU fp32 on the same shapes: median of many calls each, interleaved, same
process and threads. Goal (issue #14): none more than 10% slower on aie.

    .venv/bin/python benchmarks/fallback_bench.py [--calls 301] [--threads 2] [--mode no_grad|inference]
"""
import argparse
import statistics
import time

import torch
import torch.nn.functional as F

import torch_aie


def _cases():
    """(name, fn, make inputs) with activation shapes of ResNet-50 / MobileNetV2 /
    EfficientNet / ConvNeXt at 224x224, batch 1."""
    r = lambda *s: torch.randn(*s)  # noqa: E731
    cl = lambda t: t.contiguous(memory_format=torch.channels_last)  # noqa: E731
    bn = lambda c: (r(c), r(c).abs() + 0.5, r(c), r(c))  # noqa: E731
    return [
        ("layer_norm (1,56,56,96) [-1]", lambda x, w, b: F.layer_norm(x, (96,), w, b, 1e-6),
         lambda: (r(1, 56, 56, 96), r(96), r(96))),
        ("hardswish (1,96,56,56)", F.hardswish, lambda: (r(1, 96, 56, 56),)),
        ("sigmoid (1,96,56,56)", torch.sigmoid, lambda: (r(1, 96, 56, 56),)),
        ("silu (1,96,56,56)", F.silu, lambda: (r(1, 96, 56, 56),)),
        ("hardtanh/relu6 (1,96,56,56)", F.relu6, lambda: (r(1, 96, 56, 56),)),
        ("relu_ (1,64,112,112)", torch.relu_, lambda: (r(1, 64, 112, 112),)),
        ("mul SE (1,96,56,56)*(1,96,1,1)", torch.mul, lambda: (r(1, 96, 56, 56), r(1, 96, 1, 1))),
        ("add (1,256,56,56)", torch.add, lambda: (r(1, 256, 56, 56), r(1, 256, 56, 56))),
        ("add_ (1,256,56,56)", lambda a, b: a.add_(b), lambda: (r(1, 256, 56, 56), r(1, 256, 56, 56))),
        ("cat dim1 2x(1,64,56,56)", lambda a, b: torch.cat([a, b], 1),
         lambda: (r(1, 64, 56, 56), r(1, 64, 56, 56))),
        ("adaptive_avg_pool2d 1 (1,2048,7,7)", lambda x: F.adaptive_avg_pool2d(x, 1), lambda: (r(1, 2048, 7, 7),)),
        ("adaptive_max_pool2d 1 (1,1280,7,7)", lambda x: F.adaptive_max_pool2d(x, 1), lambda: (r(1, 1280, 7, 7),)),
        ("max_pool2d 3s2p1 (1,64,112,112)", lambda x: F.max_pool2d(x, 3, 2, 1), lambda: (r(1, 64, 112, 112),)),
        ("batch_norm eval (1,64,112,112)", lambda x, m, v, w, b: F.batch_norm(x, m, v, w, b, False, 0.1, 1e-5),
         lambda: (r(1, 64, 112, 112), *bn(64))),
        ("mean [2,3] keepdim (1,96,56,56)", lambda x: x.mean((2, 3), keepdim=True), lambda: (r(1, 96, 56, 56),)),
        ("flatten (1,2048,1,1)", lambda x: torch.flatten(x, 1), lambda: (r(1, 2048, 1, 1),)),
        ("view (1,2048,1,1)", lambda x: x.view(1, -1), lambda: (r(1, 2048, 1, 1),)),
        ("linear 2048->1000", F.linear, lambda: (r(1, 2048), r(1000, 2048), r(1000))),
        ("addmm 1280->1000", lambda x, w, b: torch.addmm(b, x, w.t()), lambda: (r(1, 1280), r(1000, 1280), r(1000))),
        ("layer_norm cl (1,96,56,56) [C] permuted", lambda x, w, b: F.layer_norm(x.permute(0, 2, 3, 1), (96,), w, b),
         lambda: (cl(r(1, 96, 56, 56)), r(96), r(96))),
        ("hardswish cl (1,96,56,56)", F.hardswish, lambda: (cl(r(1, 96, 56, 56)),)),
        ("gelu (1,56,56,384)", F.gelu, lambda: (r(1, 56, 56, 384),)),
    ]


def _time(fn, args, calls):
    times = []
    for _ in range(calls):
        t0 = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - t0)
    return times


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=301)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--mode", choices=("no_grad", "inference"), default="no_grad")
    ap.add_argument("-k", default="", help="only cases whose name contains this")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    ctx = torch.no_grad if args.mode == "no_grad" else torch.inference_mode
    print(f"host ISA {torch_aie.host_isa()}, torch {torch.__version__}, threads {args.threads}, "
          f"{args.mode}, median of {args.calls} calls (interleaved blocks)")
    print(f"| op | cpu us | aie us | aie/cpu | aie fallback calls per op |")
    print(f"|---|---|---|---|---|")
    worst = 0.0
    for name, fn, make in _cases():
        if args.k not in name:
            continue
        with ctx():
            cpu_args = make()
            aie_args = tuple(a.to("aie") for a in cpu_args)
            for _ in range(20):
                fn(*cpu_args), fn(*aie_args)
            torch_aie.reset_fallback_stats()
            fn(*aie_args)
            fb = sum(torch_aie.fallback_stats().values())
            tc, ta = [], []
            block = max(1, args.calls // 10)
            for _ in range(10):  # interleave so drift hits both alike
                tc += _time(fn, cpu_args, block)
                ta += _time(fn, aie_args, block)
        c, a = statistics.median(tc) * 1e6, statistics.median(ta) * 1e6
        worst = max(worst, a / c)
        print(f"| {name} | {c:.1f} | {a:.1f} | {a / c:.2f} | {fb} |")
    print(f"worst aie/cpu: {worst:.2f}")


if __name__ == "__main__":
    main()
