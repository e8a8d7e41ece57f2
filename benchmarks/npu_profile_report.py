"""torch_aie.profile() on ResNet-50 and MobileNetV2 (224x224, batch 1, bf16 numerics) on
both arrays: per conv the planner's algorithm, per-core tile, cores, *modelled* NPU time
and bound on Phoenix and Strix next to the host emulator's time; the ops left on the CPU;
whole-model totals, also for the torch_aie.optimize()'d model (BatchNorm folded, ReLU
fused: what a deployment leaves on the CPU); an int8 what-if of the same convs (array
model only: no int8 kernel runs here); and one PNG per model. NPU figures are the cycle model of
csrc/runtime/array_model.cpp, never measurements.

    .venv/bin/python benchmarks/npu_profile_report.py [--models resnet50 mobilenet_v2] [--csv-dir DIR]
"""
import argparse
import collections
import copy
import os

import torch

import torch_aie
from torch_aie import models
from torch_aie.npu_profile import host_description, plot_profiles


def int8_what_if(model, x, array):
    """Sum over the model's convs of the int8 plan's modelled time (us)."""
    shapes, hooks = [], []
    for _, m in models.conv_layers(model):
        hooks.append(m.register_forward_hook(lambda mod, i, o: shapes.append((mod, i[0].shape))))
    with torch.no_grad():
        model.to("meta")(torch.empty(x.shape, device="meta"))
    for h in hooks:
        h.remove()
    torch_aie.set_array(array)
    try:
        return sum(torch_aie.conv_array_plan(torch.empty(s, device="meta"), m.weight, m.stride, m.padding,
                                             m.dilation, m.groups, dtype="int8")["modelled_us"] for m, s in shapes)
    finally:
        torch_aie.set_array("phoenix")


def conv_table(reports):
    phx, strix = reports
    print(f"{'#':>3} {'module':28} {'algorithm':11} {'phx tile':10} {'cores':>5} {'phx us':>8} {'bound':7} "
          f"{'strix tile':10} {'cores':>5} {'strix us':>8} {'bound':7} {'host us':>9}")
    for i, (p, s) in enumerate(zip(phx.npu_rows, strix.npu_rows)):
        assert p.module == s.module
        print(f"{i:3d} {p.module[-28:]:28} {p.algorithm:11} {p.tile:10} {p.cores:5d} {p.npu_us_model:8.2f} "
              f"{p.bound:7} {s.tile:10} {s.cores:5d} {s.npu_us_model:8.2f} {s.bound:7} {p.host_us:9.0f}")


def cpu_table(report):
    by_op = collections.OrderedDict()
    for r in report.cpu_rows:
        n, t = by_op.get(r.op, (0, 0.0))
        by_op[r.op] = (n + 1, t + r.host_us)
    print(f"{'op left on the CPU':36} {'calls':>5} {'host us':>9}")
    for op, (n, t) in by_op.items():
        print(f"{op:36} {n:5d} {t:9.0f}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", nargs="+", default=list(models.MODELS))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--csv-dir", default=None, help="also write each report's rows as CSV here")
    ap.add_argument("--png-dir", default="benchmarks")
    args = ap.parse_args()
    print(f"torch {torch.__version__}; host: emulator kernels {torch_aie.host_isa()}, CPU {host_description()}, "
          f"{torch.get_num_threads()} threads; conv precision {torch_aie.get_conv_precision()}")
    print("NPU times: cycle MODEL of the array (not measurements). Host times: measured on this host.")
    for name in args.models:
        model = models.build(name, calib_batch=1)
        x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(0))
        reports = [torch_aie.profile(model, x, array=a, runs=args.runs) for a in ("phoenix", "strix")]
        print(f"\n== {name}, batch 1, 224x224 ==")
        conv_table(reports)
        print()
        cpu_table(reports[0])
        opt = torch_aie.optimize(copy.deepcopy(model).to("aie"))
        optimized = [torch_aie.profile(opt, x, array=a, runs=args.runs, cpu_baseline=False)
                     for a in ("phoenix", "strix")]
        print(f"\n{'model':9} {'array':8} {'NPU convs':>10} {'bound c/d':>9} {'CPU ops':>9} {'whole model':>12} "
              f"{'inf/s':>8} {'int8 convs':>11} {'host emu':>9} {'CPU fp32':>9}")
        print(f"{'':9} {'':8} {'us MODEL':>10} {'':>9} {'us meas.':>9} {'ms MODEL*':>12} {'MODEL*':>8} "
              f"{'us MODEL':>11} {'ms meas.':>9} {'ms meas.':>9}")
        cpu_ms = reports[0].totals["cpu_ms"]
        for variant, reps in (("eager", reports), ("optimize", optimized)):
            for rep in reps:
                t = rep.totals
                comp = sum(r.bound == "compute" for r in rep.npu_rows)
                i8 = int8_what_if(models.MODELS[name](), x, rep.array)
                print(f"{variant:9} {rep.array:8} {t['npu_us_model']:10.0f} {comp:4d}/{t['npu_ops'] - comp:<4d} "
                      f"{t['cpu_ops_host_us']:9.0f} {t['latency_us_model'] / 1e3:12.2f} "
                      f"{t['throughput_per_s_model']:8.1f} {i8:11.0f} {t['host_wall_ms']:9.1f} {cpu_ms:9.1f}")
        print("* whole model = modelled NPU convs + measured CPU-resident ops, in sequence, no dispatch overhead;")
        print("  CPU fp32 = PyTorch's eager fp32 forward of the same model on this host")
        print(f"\nops left on the CPU by the optimize()'d model ({optimized[0].array}):")
        cpu_table(optimized[0])
        png = os.path.join(args.png_dir, f"npu_profile_{name}.png")
        plot_profiles(optimized, png, title=f"{reports[0].model_name} (torch_aie.optimize()'d)", cpu_ms=cpu_ms)
        print(f"plot written to {png}")
        if args.csv_dir:
            os.makedirs(args.csv_dir, exist_ok=True)
            for rep in reports:
                rep.to_csv(os.path.join(args.csv_dir, f"npu_profile_{name}_{rep.array}.csv"))
            for rep in optimized:
                rep.to_csv(os.path.join(args.csv_dir, f"npu_profile_{name}_optimized_{rep.array}.csv"))


if __name__ == "__main__":
    main()
