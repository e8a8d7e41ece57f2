"""The main job: real conv nets through `aie` vs PyTorch on the CPU.

    python -m torch_aie.main [--models resnet50 mobilenet_v2] [--batch 1] [--runs 5]

For each model: max abs / relative error of the aie output vs CPU fp32, median wall
time of both (same process, same threads), and what ran through the CPU fallbacks.
"""
import argparse
import copy
import statistics
import time

import torch

import torch_aie
from torch_aie import models


def _median_time(fn, runs):
    fn()  # warm-up (also fills the weight cache)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


@torch.no_grad()
def run_model(name, batch, runs, size=224):
    model = models.build(name)
    x = torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(1))
    ref = model(x)
    bf16_ref_err = (models.bf16_operand_model(model)(x) - ref).abs().max().item()
    cpu_s = _median_time(lambda: model(x), runs)

    aie_model = copy.deepcopy(model).to("aie")
    xa = x.to("aie")
    torch_aie.reset_fallback_stats()
    torch_aie.reset_conv_stats()
    out = aie_model(xa).cpu()
    fallbacks = torch_aie.fallback_stats()
    convs = torch_aie.conv_stats()
    aie_s = _median_time(lambda: aie_model(xa), runs)

    err = (out - ref).abs().max().item()
    return dict(model=name, batch=batch, max_abs=err, aten_bf16_abs=bf16_ref_err, max_rel=err / ref.abs().max().item(),
                top1_agree=(out.argmax(1) == ref.argmax(1)).float().mean().item(),
                cpu_ms=cpu_s * 1e3, aie_ms=aie_s * 1e3,
                conv_npu={k[4:]: v for k, v in convs.items() if k.startswith("npu:") and v},
                conv_cpu={k[13:]: v for k, v in convs.items() if k.startswith("cpu_fallback:") and v},
                op_fallbacks=dict(sorted(fallbacks.items(), key=lambda kv: -kv[1])))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=list(models.MODELS))
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--precision", default=torch_aie.get_conv_precision(),
                    choices=["bf16", "bf16x3", "ieee"])
    args = ap.parse_args(argv)
    torch_aie.set_conv_precision(args.precision)
    print(f"torch {torch.__version__}, host ISA {torch_aie.host_isa()}, threads {torch.get_num_threads()}, "
          f"fp32 conv precision on aie: {args.precision}, backend: host emulator (no NPU on this machine)")
    hdr = f"{'model':14} {'batch':>5} {'max|err|':>10} {'rel':>9} {'ATen-bf16':>10} {'top1':>5} {'cpu fp32 ms':>12} {'aie ms':>9} {'aie/cpu':>8}"
    print(hdr)
    print("-" * len(hdr))
    results = []
    for name in args.models:
        r = run_model(name, args.batch, args.runs)
        results.append(r)
        print(f"{r['model']:14} {r['batch']:5d} {r['max_abs']:10.3e} {r['max_rel']:9.2e} {r['aten_bf16_abs']:10.3e} {r['top1_agree']:5.2f} "
              f"{r['cpu_ms']:12.1f} {r['aie_ms']:9.1f} {r['aie_ms'] / r['cpu_ms']:8.2f}")
    print("max|err|: aie vs CPU fp32; rel: max|err| / max|CPU output|; ATen-bf16: max|err| of ATen on the\n"
          "CPU when every conv's operands are rounded to bf16 (the error bf16 inputs cause by themselves)")
    for r in results:
        print(f"\n{r['model']}: convs on the NPU path {r['conv_npu']}")
        print(f"  convs on the CPU: {r['conv_cpu'] or 'none'}")
        ops = ", ".join(f"{k} x{v}" for k, v in r["op_fallbacks"].items()) or "none"
        print(f"  other ops through the CPU fallback (per forward): {ops}")
    return results


if __name__ == "__main__":
    main()
