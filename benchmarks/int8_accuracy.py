"""int8 accuracy: SQNR (dB) of int8 outputs vs fp32, torch_aie's xint8 and a8w8 schemes next
to PyTorch's own X86InductorQuantizer flow, on the same model and calibration data.

    .venv/bin/python benchmarks/int8_accuracy.py [--models ...] [--calib 4] [--eval 4] [--no-results]

Models: torch_aie.models' ResNet-50 (the variant with one nn.ReLU per call, which
X86InductorQuantizer needs; same fp32 outputs) and MobileNetV2, and the nets of
benchmarks/int8_nets.py. Calibration: `--calib` random-normal batches of 2; evaluation: one
other batch of `--eval`. torch_aie's int8 models run on aie (the host emulator; int8 results
are identical on every host); the X86 flow is evaluated as its convert_pt2e graph (dq -> fp32
op -> q, the reference semantics Inductor's oneDNN kernels implement) on the CPU.
Writes the table into benchmarks/RESULTS.md (section "int8 accuracy").
"""
import argparse
import copy
import math
import os
import re
import sys
import time

import torch

import torch_aie
from torch_aie import models
from torch_aie.quantization import AieQuantizer, calibrate, lower, lowering_report
from torch_aie.quantization._torchao import x86_inductor_quantizer as xiq

sys.path.insert(0, os.path.dirname(__file__))
import int8_nets  # noqa: E402

RESULTS = os.path.join(os.path.dirname(__file__), "RESULTS.md")
SECTION = "## int8 accuracy: `.venv/bin/python benchmarks/int8_accuracy.py`"


def sqnr_db(y, ref):
    noise = float((y.float() - ref).pow(2).sum())
    return float("inf") if noise == 0 else 10 * math.log10(float(ref.pow(2).sum()) / noise)


def build(name):
    if name in models.MODELS:
        m = models.build(name)
        return (models.distinct_relus(m) if name == "resnet50" else m), (3, 224, 224)
    return int8_nets.build(name), int8_nets.NETS[name][1]


@torch.no_grad()
def evaluate(name, n_calib, n_eval):
    model, shape = build(name)
    g = torch.Generator().manual_seed(1)
    calib = [torch.randn(2, *shape, generator=g) for _ in range(n_calib)]
    x = torch.randn(n_eval, *shape, generator=torch.Generator().manual_seed(2))
    ref = model(x)
    row = {"model": name}
    for scheme in ("xint8", "a8w8"):
        t0 = time.perf_counter()
        low = lower(calibrate(model, calib, AieQuantizer(scheme)))
        row[f"{scheme}_s"] = time.perf_counter() - t0
        rep = lowering_report(low)
        row["convs"] = sum(1 for r in rep if r[0] != "max_pool")
        row[f"{scheme}_lowered"] = sum(1 for r in rep if r[1] == "qconv2d")
        y = copy.deepcopy(low).to("aie")(x.to("aie")).cpu()
        row[scheme] = sqnr_db(y, ref)
        row[f"{scheme}_top1"] = float((y.argmax(1) == ref.argmax(1)).float().mean())
    x86 = xiq.X86InductorQuantizer().set_global(xiq.get_default_x86_inductor_quantization_config())
    try:
        y = calibrate(model, calib, x86)(x)
        row["x86"] = sqnr_db(y, ref)
        row["x86_top1"] = float((y.argmax(1) == ref.argmax(1)).float().mean())
    except Exception as e:  # noqa: BLE001  (reported in the table, e.g. a refused pattern)
        row["x86"], row["x86_top1"], row["x86_error"] = float("nan"), float("nan"), f"{type(e).__name__}: {e}"
    return row


def table(rows):
    hdr = (f"| model | convs | xint8 SQNR dB | a8w8 SQNR dB | X86Inductor SQNR dB | top-1 agree xint8 / a8w8 / x86 "
           f"| lowered to qconv2d (xint8, a8w8) |")
    lines = [hdr, "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['convs']} | {r['xint8']:.1f} | {r['a8w8']:.1f} | {r['x86']:.1f} | "
                     f"{r['xint8_top1']:.2f} / {r['a8w8_top1']:.2f} / {r['x86_top1']:.2f} | "
                     f"{r['xint8_lowered']}, {r['a8w8_lowered']} |")
    return "\n".join(lines)


def write_results(text):
    old = open(RESULTS).read() if os.path.exists(RESULTS) else "# Benchmark results (this machine)\n"
    pattern = re.compile(re.escape(SECTION) + r".*?(?=\n## |\Z)", re.S)
    new = pattern.sub(lambda _: text, old) if pattern.search(old) else old.rstrip("\n") + "\n\n" + text
    with open(RESULTS, "w") as f:
        f.write(new.rstrip("\n") + "\n")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=list(models.MODELS) + list(int8_nets.NETS))
    ap.add_argument("--calib", type=int, default=4)
    ap.add_argument("--eval", type=int, default=4)
    ap.add_argument("--no-results", action="store_true", help="do not write benchmarks/RESULTS.md")
    args = ap.parse_args(argv)
    head = (f"torch {torch.__version__}, host ISA {torch_aie.host_isa()}, threads {torch.get_num_threads()}; "
            f"calibration {args.calib} x 2 random-normal inputs, evaluation {args.eval} others")
    print(head)
    rows = []
    for name in args.models:
        r = evaluate(name, args.calib, args.eval)
        rows.append(r)
        print(f"{name:14} xint8 {r['xint8']:6.1f} dB  a8w8 {r['a8w8']:6.1f} dB  x86 {r['x86']:6.1f} dB  "
              f"top1 {r['xint8_top1']:.2f}/{r['a8w8_top1']:.2f}/{r['x86_top1']:.2f}  "
              f"lowered {r['xint8_lowered']}/{r['convs']}" + (f"  x86: {r['x86_error']}" if "x86_error" in r else ""),
              flush=True)
    out = table(rows)
    print(out)
    if not args.no_results:
        write_results(f"{SECTION}\n\n{head}. SQNR = 10 log10(sum fp32^2 / sum (int8 - fp32)^2) over the "
                      f"logits; top-1 agreement with fp32. Random-weight, BN-calibrated nets (no trained "
                      f"weights are available here), so the figures compare schemes, not ImageNet accuracy.\n\n"
                      f"{out}\n")


if __name__ == "__main__":
    main()
