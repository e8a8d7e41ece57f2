"""Per conv layer of ResNet-50 and MobileNetV2 (224x224, batch 1): the planner's
algorithm, cores used, core (L1) and memtile (L2) bytes vs capacity, and the
*modelled* NPU time and utilisation on Phoenix (XDNA) and Strix (XDNA2); then the
whole-array 4096^3 GEMM model vs published measurements (arXiv 2512.13282).
All times here come from the cycle model in csrc/runtime/array_model.cpp.

    .venv/bin/python benchmarks/array_plan_report.py
"""
import torch

import torch_aie
from torch_aie import models

PUBLISHED = {("phoenix", "bf16"): 3.14, ("phoenix", "int8"): 6.76,
             ("strix", "bf16"): 14.71, ("strix", "int8"): 38.05}


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


if __name__ == "__main__":
    main()
