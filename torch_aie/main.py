"""The main job: real conv nets through `aie` vs PyTorch on the CPU.

    python -m torch_aie.main [--models resnet50 mobilenet_v2] [--batch 1] [--runs 5]

For each model: max abs / relative error of the aie output vs CPU fp32, median wall
time of every variant (same process, same threads, one call of each per round), and what ran through the CPU fallbacks; then the
same model in int8 on aie (torch_aie.quantize, schemes xint8 and a8w8, calibrated on
`--calib` random batches) beside bf16 on aie and CPU fp32: SQNR, top-1 agreement, time.
SQNR and top-1 agreement are taken over `--eval` held-out random inputs (top-1 of a single
input could only read 0 or 1).
"""
import argparse
import copy
import math
import statistics
import time

import torch

import torch_aie
from torch_aie import models


def _interleaved_medians(fns, runs):
    """Median seconds of each of `fns`, one call of each per round: drifting machine load
    then hits every variant alike, so the ratios between them hold."""
    for fn in fns:
        fn()  # warm-up (also fills the weight cache)
    times = [[] for _ in fns]
    for _ in range(runs):
        for fn, t in zip(fns, times):
            t0 = time.perf_counter()
            fn()
            t.append(time.perf_counter() - t0)
    return [statistics.median(t) for t in times]


def _sqnr_db(y, ref):
    noise = float((y.float() - ref).pow(2).sum())
    return float("inf") if noise == 0 else 10 * math.log10(float(ref.pow(2).sum()) / noise)


def _agreement(out, ref):
    """SQNR (dB) of `out` against the fp32 reference and the fraction of inputs whose top-1 class agrees."""
    return _sqnr_db(out, ref), (out.argmax(1) == ref.argmax(1)).float().mean().item()


@torch.no_grad()
def run_int8(model, x, x_eval, ref_eval, runs, schemes, n_calib):
    """Each scheme's int8 model on aie: SQNR vs fp32, top-1 agreement, what the lowering
    left in float, the ops that went through the CPU fallback, and `run` (timed by the caller).
    SQNR and top-1 are measured on `x_eval` against `ref_eval`."""
    from torch_aie import quantization

    g = torch.Generator().manual_seed(2)
    calib = [torch.randn(1, *x.shape[1:], generator=g) for _ in range(n_calib)]
    xa, xe, rows = x.to("aie"), x_eval.to("aie"), []
    for scheme in schemes:
        q = quantization.quantize(model, calib, scheme=scheme).to("aie")
        torch_aie.reset_fallback_stats()
        torch_aie.reset_conv_stats()
        q(xa)  # one forward of the timed batch: what it sends through the fallback, per forward
        fallbacks, convs = torch_aie.fallback_stats(), torch_aie.conv_stats()
        sqnr, top1 = _agreement(q(xe).cpu(), ref_eval)
        rows.append(dict(scheme=scheme, sqnr=sqnr, top1=top1,
                         run=lambda q=q: q(xa),
                         not_lowered={k: v for k, v in convs.items() if k.startswith("int8_not_lowered") and v},
                         op_fallbacks=dict(sorted(fallbacks.items(), key=lambda kv: -kv[1]))))
    return rows


@torch.no_grad()
def run_model(name, batch, runs, size=224, int8_schemes=("xint8", "a8w8"), n_calib=2, n_eval=16):
    model = models.build(name)
    x = torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(1))
    x_eval = torch.randn(n_eval, 3, size, size, generator=torch.Generator().manual_seed(3))
    ref, ref_eval = model(x), model(x_eval)
    bf16_ref_err = (models.bf16_operand_model(model)(x) - ref).abs().max().item()

    aie_model = copy.deepcopy(model).to("aie")
    xa = x.to("aie")
    torch_aie.reset_fallback_stats()
    torch_aie.reset_conv_stats()
    out = aie_model(xa).cpu()
    fallbacks = torch_aie.fallback_stats()
    convs = torch_aie.conv_stats()
    err = (out - ref).abs().max().item()
    sqnr, top1 = _agreement(aie_model(x_eval.to("aie")).cpu(), ref_eval)
    int8 = run_int8(model, x, x_eval, ref_eval, runs, int8_schemes, n_calib) if int8_schemes else []
    cpu_s, aie_s, *int8_s = _interleaved_medians([lambda: model(x), lambda: aie_model(xa)] +
                                                 [q.pop("run") for q in int8], runs)
    for q, t in zip(int8, int8_s):
        q["ms"] = t * 1e3
    return dict(model=name, batch=batch, max_abs=err, aten_bf16_abs=bf16_ref_err, max_rel=err / ref.abs().max().item(),
                sqnr=sqnr, int8=int8, top1_agree=top1, n_eval=n_eval,
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
    ap.add_argument("--int8", nargs="*", default=["xint8", "a8w8"], choices=["xint8", "a8w8"],
                    help="int8 schemes to run on aie (none: skip int8)")
    ap.add_argument("--calib", type=int, default=2, help="random calibration batches for int8")
    ap.add_argument("--eval", type=int, default=16, help="held-out random inputs for SQNR and top-1 agreement")
    args = ap.parse_args(argv)
    if args.eval < 1:
        ap.error(f"--eval must be at least 1 (held-out inputs for SQNR and top-1), got {args.eval}")
    torch_aie.set_conv_precision(args.precision)
    print(f"torch {torch.__version__}, host ISA {torch_aie.host_isa()}, threads {torch.get_num_threads()}, "
          f"fp32 conv precision on aie: {args.precision}, backend: host emulator (no NPU on this machine)")
    hdr = f"{'model':14} {'batch':>5} {'max|err|':>10} {'rel':>9} {'ATen-bf16':>10} {'top1':>5} {'cpu fp32 ms':>12} {'aie ms':>9} {'aie/cpu':>8}"
    print(hdr)
    print("-" * len(hdr))
    results = []
    for name in args.models:
        r = run_model(name, args.batch, args.runs, int8_schemes=args.int8, n_calib=args.calib, n_eval=args.eval)
        results.append(r)
        print(f"{r['model']:14} {r['batch']:5d} {r['max_abs']:10.3e} {r['max_rel']:9.2e} {r['aten_bf16_abs']:10.3e} {r['top1_agree']:5.2f} "
              f"{r['cpu_ms']:12.1f} {r['aie_ms']:9.1f} {r['aie_ms'] / r['cpu_ms']:8.2f}")
    print("max|err|: aie vs CPU fp32; rel: max|err| / max|CPU output|; ATen-bf16: max|err| of ATen on the\n"
          "CPU when every conv's operands are rounded to bf16 (the error bf16 inputs cause by themselves);\n"
          f"top1: fraction of {args.eval} held-out inputs whose top-1 class agrees with CPU fp32")
    for r in results:
        print(f"\n{r['model']}: convs on the NPU path {r['conv_npu']}")
        print(f"  convs on the CPU: {r['conv_cpu'] or 'none'}")
        ops = ", ".join(f"{k} x{v}" for k, v in r["op_fallbacks"].items()) or "none"
        # The fallback's ops, and aten::max_pool2d on the host max-pool kernel (no NPU pooling design).
        print(f"  other ops on the host CPU (per forward): {ops}")
    if any(r["int8"] for r in results):
        print(f"\nint8 on aie (torch_aie.quantize, {args.calib} random calibration batches) beside bf16 on aie "
              f"and CPU fp32; SQNR = 10 log10(sum fp32^2 / sum err^2) of the logits and top-1 agreement, both over\n"
              f"{args.eval} held-out random inputs; ms per forward of the batch above")
        hdr = f"{'model':14} {'batch':>5} {'variant':>14} {'SQNR dB':>8} {'top1':>5} {'ms':>9} {'cpu/this':>9}"
        print(hdr)
        print("-" * len(hdr))
        for r in results:
            variants = [("cpu fp32", float("inf"), 1.0, r["cpu_ms"]), ("aie bf16", r["sqnr"], r["top1_agree"], r["aie_ms"])]
            variants += [(f"aie int8 {q['scheme']}", q["sqnr"], q["top1"], q["ms"]) for q in r["int8"]]
            for v, sq, top1, ms in variants:
                print(f"{r['model']:14} {r['batch']:5d} {v:>14} {sq:8.1f} {top1:5.2f} {ms:9.1f} {r['cpu_ms'] / ms:9.2f}")
        for r in results:
            for q in r["int8"]:
                ops = ", ".join(f"{k} x{v}" for k, v in q["op_fallbacks"].items()) or "none"
                print(f"{r['model']} int8 {q['scheme']}: convs left in float {q['not_lowered'] or 'none'}; "
                      f"ops through the CPU fallback per forward: {ops}")
    return results


if __name__ == "__main__":
    main()
