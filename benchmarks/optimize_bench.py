"""optimize() on real-model structure: aie eager vs aie optimize()d (its default: activations
channels_last inside) vs PyTorch CPU fp32 eager vs CPU fp32 with BatchNorm folded (torch.fx
fuse), end to end, one process, same threads, interleaved rounds (medians); and what
optimize() folded and fused per model.
The same models in bf16 channels_last ("bf16cl": bf16 activations, the numerics of
PyTorch's bf16 CPU path) give the like-for-like pair: aie bf16cl optimize()d against
CPU bf16cl eager and BN-folded.

    .venv/bin/python benchmarks/optimize_bench.py [--runs 9] [--batch 1] [--models ...]
"""
import argparse
import copy
import statistics
import time

import torch
from torch.fx.experimental.optimization import fuse

import torch_aie
from torch_aie import models

NAMES = ["resnet50", "mobilenet_v2", "resnet18_timm", "efficientnet_style", "convnext_tcn"]


def _interleaved_ms(fns, runs):
    """Median ms per function, timing one call of each in turn per round (warm-up first)."""
    for f in fns.values():
        f()
        f()
    times = {k: [] for k in fns}
    for _ in range(runs):
        for k, f in fns.items():
            t0 = time.perf_counter()
            f()
            times[k].append(time.perf_counter() - t0)
    return {k: statistics.median(v) * 1e3 for k, v in times.items()}


def _bn_count(model):
    return sum(isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)) for m in model.modules())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=9)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--models", nargs="+", default=NAMES)
    args = ap.parse_args()
    print(f"torch {torch.__version__}, host ISA {torch_aie.host_isa()}, threads {torch.get_num_threads()}, "
          f"batch {args.batch}, aie precision {torch_aie.get_conv_precision()}, median of {args.runs} "
          "interleaved rounds")
    print("| model | aie eager ms | aie eager, inference_mode ms | aie optimize() ms | cpu fp32 ms | "
          "cpu fp32 BN-folded ms | fp32/aie | fp32/opt | folded/opt | aie bf16cl opt ms | cpu bf16cl ms | "
          "cpu bf16cl BN-folded ms | bf16cl/aie bf16cl opt | folded bf16cl/aie bf16cl opt | fp32/aie bf16cl opt | "
          "convs | BN folded (of) | Linears (scales folded) | residual adds | input scales | activations fused |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name in args.models:
        model = models.build(name, calib_batch=2)
        x = torch.randn(args.batch, 3, 224, 224)
        xa = x.to("aie")
        with torch.no_grad():
            aie = copy.deepcopy(model).to("aie")
            opt = torch_aie.optimize(copy.deepcopy(model).to("aie"))
            folded = fuse(copy.deepcopy(model))
            bf = copy.deepcopy(model).to(torch.bfloat16).to(memory_format=torch.channels_last)
            xb = x.to(torch.bfloat16).contiguous(memory_format=torch.channels_last)
            xab = xb.to("aie")
            bf_folded = fuse(copy.deepcopy(bf))
            bf_opt = torch_aie.optimize(copy.deepcopy(bf).to("aie"))
        with torch.inference_mode():
            aie_inf = copy.deepcopy(model).to("aie")
        fns = {
            "aie": lambda: aie(xa), "opt": lambda: opt(xa), "cpu": lambda: model(x),
            "folded": lambda: folded(x), "bf_opt": lambda: bf_opt(xab), "bf": lambda: bf(xb),
            "bf_folded": lambda: bf_folded(xb),
        }
        with torch.no_grad():
            t = _interleaved_ms(fns, args.runs)
        with torch.inference_mode():
            torch_aie.weight_cache_reset_counters()
            t_inf = _interleaved_ms({"inf": lambda: aie_inf(xa)}, args.runs)["inf"]
            uncacheable = torch_aie.weight_cache_stats()["uncacheable"]
        s = opt.aie_optimize_stats
        acts = ", ".join(f"{k} {v}" for k, v in sorted(s["activations_fused"].items())) or "-"
        print(f"| {name} | {t['aie']:.1f} | {t_inf:.1f} (uncacheable {uncacheable}) | {t['opt']:.1f} | "
              f"{t['cpu']:.1f} | {t['folded']:.1f} | {t['cpu'] / t['aie']:.2f} | {t['cpu'] / t['opt']:.2f} | "
              f"{t['folded'] / t['opt']:.2f} | "
              f"{t['bf_opt']:.1f} | {t['bf']:.1f} | {t['bf_folded']:.1f} | {t['bf'] / t['bf_opt']:.2f} | "
              f"{t['bf_folded'] / t['bf_opt']:.2f} | {t['cpu'] / t['bf_opt']:.2f} | "
              f"{s['convs']} | {s['bn_folded']} ({_bn_count(model)}) | {s['linears']} ({s['scales_folded']}) | "
              f"{s['residuals_fused']} | {s['input_scales_fused']} | {acts} |")


if __name__ == "__main__":
    main()
