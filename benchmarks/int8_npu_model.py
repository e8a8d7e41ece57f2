"""Modelled NPU time per conv layer, int8 next to bf16, on Phoenix and Strix (issue #13):
the planner's array plan for each conv of a model at batch 1, 224x224, with the int8
MAC tile and rate and one-byte operands against today's bf16 plan. Every figure is the
cycle MODEL of csrc/runtime/array_model.cpp (no NPU here), never a measurement.

    .venv/bin/python benchmarks/int8_npu_model.py [--models resnet50 mobilenet_v2] [--markdown]
"""
import argparse

import torch

import torch_aie
from torch_aie import models

ARRAYS = ("phoenix", "strix")
DTYPES = ("bf16", "int8")


def conv_shapes(name):
    """[(layer name, conv module, input shape)] in forward order, traced on meta tensors."""
    model = models.MODELS[name]().to("meta").eval()
    seen, hooks = [], []
    for lname, m in models.conv_layers(model):
        hooks.append(m.register_forward_hook(lambda mod, i, o, lname=lname: seen.append((lname, mod, i[0].shape))))
    with torch.no_grad():
        model(torch.empty(1, 3, 224, 224, device="meta"))
    for h in hooks:
        h.remove()
    return seen


def plans(name):
    """Rows of (layer, algorithm, {(array, dtype): plan dict})."""
    rows = []
    shapes = conv_shapes(name)
    for array in ARRAYS:
        torch_aie.set_array(array)
        try:
            for i, (lname, m, s) in enumerate(shapes):
                if len(rows) <= i:
                    rows.append((lname, m, s, {}))
                for dt in DTYPES:
                    rows[i][3][(array, dt)] = torch_aie.conv_array_plan(
                        torch.empty(s, device="meta"), m.weight, m.stride, m.padding, m.dilation, m.groups, dtype=dt)
        finally:
            torch_aie.set_array("phoenix")
    return rows


def bound(p):
    return "compute" if p["compute_cycles"] >= p["dma_cycles"] else "dma"


def report(name, markdown):
    rows = plans(name)
    cols = [(a, d) for a in ARRAYS for d in DTYPES]
    if markdown:
        print(f"\n#### {name}, batch 1, 224x224 (modelled us; bound: compute or DMA)\n")
        print("| # | layer | shape | algorithm | " + " | ".join(f"{a} {d}" for a, d in cols) +
              " | int8 speed-up phoenix / strix |")
        print("|" + "---|" * (5 + len(cols)))
    else:
        print(f"\n== {name}, batch 1, 224x224: modelled us (bound) ==")
        print(f"{'#':>3} {'layer':32} {'algorithm':11} " + " ".join(f"{a[:5] + ' ' + d:>16}" for a, d in cols) +
              f" {'x int8 phx/strix':>17}")
    totals = {c: 0.0 for c in cols}
    for i, (lname, m, s, p) in enumerate(rows):
        for c in cols:
            totals[c] += p[c]["modelled_us"]
        sp = [p[(a, "bf16")]["modelled_us"] / p[(a, "int8")]["modelled_us"] for a in ARRAYS]
        alg = p[("phoenix", "bf16")]["algorithm"]
        shape = f"{tuple(s[1:])}->{m.out_channels} k{m.kernel_size[0]} s{m.stride[0]} g{m.groups}"
        if markdown:
            cells = " | ".join(f"{p[c]['modelled_us']:.1f} ({bound(p[c])})" for c in cols)
            print(f"| {i} | {lname} | {shape} | {alg} | {cells} | {sp[0]:.2f} / {sp[1]:.2f} |")
        else:
            cells = " ".join(f"{p[c]['modelled_us']:9.1f} ({bound(p[c])[:3]})" for c in cols)
            print(f"{i:3d} {lname[-32:]:32} {alg:11} {cells} {sp[0]:8.2f}/{sp[1]:.2f}")
    sp = [totals[(a, "bf16")] / totals[(a, "int8")] for a in ARRAYS]
    if markdown:
        print("| | **total** | | | " + " | ".join(f"**{totals[c]:.0f}**" for c in cols) + f" | **{sp[0]:.2f} / {sp[1]:.2f}** |")
    else:
        print(f"{'':3} {'total':32} {'':11} " + " ".join(f"{totals[c]:15.0f} " for c in cols) + f" {sp[0]:8.2f}/{sp[1]:.2f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=["resnet50"], choices=sorted(models.MODELS))
    ap.add_argument("--markdown", action="store_true", help="print markdown tables (as in benchmarks/RESULTS.md)")
    args = ap.parse_args()
    print("Modelled NPU times (cycle MODEL of the array, not measurements), batch 1.")
    for name in args.models:
        report(name, args.markdown)


if __name__ == "__main__":
    main()
