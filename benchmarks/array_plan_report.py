"""Per conv layer of ResNet-50 and MobileNetV2 (224x224, batch 1): the planner's
algorithm, cores used, core (L1) and memtile (L2) bytes vs capacity, and the
*modelled* NPU time and utilisation on Phoenix (XDNA) and Strix (XDNA2); then the
whole-array 4096^3 GEMM model vs published measurements (arXiv 2512.13282), and the
conv model vs the published conv measurements (README "Calibration").
All times here come from the cycle model in csrc/runtime/array_model.cpp.

    .venv/bin/python benchmarks/array_plan_report.py
"""
import torch

import torch_aie
from torch_aie import models

PUBLISHED = {("phoenix", "bf16"): 3.14, ("phoenix", "int8"): 6.76,
             ("strix", "bf16"): 14.71, ("strix", "int8"): 38.05}

# Published conv measurements on Strix (NPU2), as (label, dtype, N, C, OC, H, W, k, stride, pad, groups,
# columns used, measured us, source). IRON: median NPU latency, batch 1, bias on, the row with the most
# columns measured per shape (amd/IRON iron/operators/conv2d/baselines/npu2_3e63c28_full.csv; the
# operator's ROADMAP.md calls its k>1 kernels scalar-path MVPs). mlir-aie conv2d_14x14: the README's
# "measured default host code wall clock time" of the 32-core design (~5 ms), uint8 x int8.
IRON = "amd/IRON iron/operators/conv2d/baselines/npu2_3e63c28_full.csv"
K14 = "Xilinx/mlir-aie programming_examples/ml/conv2d_14x14/README.md"
PUBLISHED_CONVS = [
    ("B1 pointwise 32->64 32x32", "bf16", 1, 32, 64, 32, 32, 1, 1, 0, 1, 4, 192.677, IRON),
    ("B2 3x3 16->16 32x32", "bf16", 1, 16, 16, 32, 32, 3, 1, 1, 1, 2, 16106.675, IRON),
    ("B3 3x3/2 16->16 64x64", "bf16", 1, 16, 16, 64, 64, 3, 2, 1, 1, 1, 89668.790, IRON),
    ("B4 depthwise 32 32x32", "bf16", 1, 32, 32, 32, 32, 3, 1, 1, 32, 2, 2250.725, IRON),
    ("B5 pointwise 32->64 64x64", "bf16", 1, 32, 64, 64, 64, 1, 1, 0, 1, 4, 455.119, IRON),
    ("B6 3x3 g2 4->8 32x32", "bf16", 1, 4, 8, 32, 32, 3, 1, 1, 2, 1, 2148.242, IRON),
    ("EX64 pointwise 64->64 32x32", "bf16", 1, 64, 64, 32, 32, 1, 1, 0, 1, 4, 269.761, IRON),
    ("14x14/14 4->1152 896x896", "int8", 1, 4, 1152, 896, 896, 14, 14, 0, 1, 8, 5000.0, K14),
]


def layer_shapes(name):
    model = models.MODELS[name]()
    shapes = []
    for lname, m in models.conv_layers(model):
        m.register_forward_hook(lambda mod, i, o, lname=lname: shapes.append((lname, mod, i[0].shape)))
    model.to("meta")(torch.empty(1, 3, 224, 224, device="meta"))
    return shapes


def plan(mod, shape, array):
    torch_aie.set_array(array)
    return torch_aie.conv_array_plan(torch.empty(shape, device="meta"), mod.weight, mod.stride,
                                     mod.padding, mod.dilation, mod.groups)


def conv_calibration():
    """Rows of (label, dtype, columns, algorithm, modelled us, measured us, source)."""
    torch_aie.set_array("strix")
    rows = []
    try:
        for label, dtype, n, c, oc, h, w, k, st, pad, g, cols, measured, src in PUBLISHED_CONVS:
            p = torch_aie.conv_array_plan(torch.empty(n, c, h, w, device="meta"),
                                          torch.empty(oc, c // g, k, k, device="meta"), st, pad, 1, g, dtype=dtype)
            rows.append((label, dtype, cols, p["algorithm"], p["modelled_us"], measured, src))
    finally:
        torch_aie.set_array("phoenix")
    return rows


def main():
    print("MODELLED NPU figures (cycle model, not measurements); bf16 operands, batch 1, 224x224")
    for name in models.MODELS:
        print(f"\n{name}")
        print(f"{'layer':28} {'algorithm':12} {'cores':>5} {'L1 B/core':>10} {'of 64K':>6} {'L2 B':>8} "
              f"{'of 512K':>7} {'phx us':>8} {'phx util':>8} {'strix us':>8} {'strix util':>10}")
        tot = {"phoenix": 0.0, "strix": 0.0}
        for lname, mod, shape in layer_shapes(name):
            p, s = plan(mod, shape, "phoenix"), plan(mod, shape, "strix")
            tot["phoenix"] += p["modelled_us"]
            tot["strix"] += s["modelled_us"]
            print(f"{lname[:28]:28} {p['algorithm'][:12]:12} {int(p['cores_used']):5d} {int(p['core_bytes']):10d} "
                  f"{p['core_bytes'] / p['core_capacity']:6.0%} {int(p['memtile_bytes']):8d} "
                  f"{p['memtile_bytes'] / p['memtile_capacity']:7.0%} {p['modelled_us']:8.1f} "
                  f"{p['utilisation']:8.0%} {s['modelled_us']:8.1f} {s['utilisation']:10.0%}")
        print(f"{'total conv time (modelled)':28} {'':12} {'':5} {'':10} {'':6} {'':8} {'':7} "
              f"{tot['phoenix']:8.0f} {'':8} {tot['strix']:8.0f}")
    torch_aie.set_array("phoenix")
    print("\n4096^3 GEMM, whole array: model vs published measurement (arXiv 2512.13282)")
    print(f"{'array':8} {'dtype':5} {'modelled T(FL)OPS':>18} {'measured':>9} {'model/measured':>15} {'util':>6}")
    for (array, dtype), measured in PUBLISHED.items():
        r = torch_aie.gemm_array_model(4096, 4096, 4096, array, dtype)
        t = r["ops_per_s"] / 1e12
        print(f"{array:8} {dtype:5} {t:18.2f} {measured:9.2f} {t / measured:15.2f} {r['utilisation']:6.0%}")
    print("\nconvs on Strix: model (whole array) vs published measurement (columns the measurement used)")
    print(f"{'shape':30} {'dtype':5} {'cols':>4} {'algorithm':11} {'model us':>9} {'measured us':>12} "
          f"{'model/meas':>10}  source")
    for label, dtype, cols, alg, model_us, measured, src in conv_calibration():
        print(f"{label:30} {dtype:5} {cols:4d} {alg:11} {model_us:9.2f} {measured:12.1f} "
              f"{model_us / measured:10.4f}  {src}")


if __name__ == "__main__":
    main()
