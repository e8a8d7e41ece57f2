"""int8 speed: ResNet-50 (batch 1 and 8) and MobileNetV2 (batch 1) in int8 on aie vs CPU fp32
eager vs PyTorch's x86 int8 flow (PT2E X86InductorQuantizer + torch.compile, oneDNN int8
kernels), one process, same threads. Also bf16 on aie for context, and a profile of the int8
aie forward by op (self time) to show what is not the convolutions.

    .venv/bin/python benchmarks/int8_bench.py [--runs 10] [--png benchmarks/int8_bench.png] [--no-results]

Goals (issue #13): int8 on aie >= 2.5x CPU fp32 and >= 1.5x the x86 int8 flow.
"""
import argparse
import copy
import os
import re
import sys
import warnings

import torch

import torch_aie
from torch_aie import models
from torch_aie.quantization import AieQuantizer, calibrate, lower
from torch_aie.quantization._torchao import x86_inductor_quantizer as xiq

sys.path.insert(0, os.path.dirname(__file__))
from common import median_ms  # noqa: E402

RESULTS = os.path.join(os.path.dirname(__file__), "RESULTS.md")
# One section per host ISA, so a run on one host class never overwrites another's figures.
def section():
    return f"## int8 speed, host ISA {torch_aie.host_isa()}: `.venv/bin/python benchmarks/int8_bench.py`"
CASES = (("resnet50", 1), ("resnet50", 8), ("mobilenet_v2", 1))


def x86_int8(model, calib):
    """PyTorch's documented x86 int8 recipe: X86InductorQuantizer, convert, compile with freezing."""
    import torch._inductor.config as inductor_config

    inductor_config.freezing = True
    q = xiq.X86InductorQuantizer().set_global(xiq.get_default_x86_inductor_quantization_config())
    return torch.compile(calibrate(model, calib, q))


def profile_ops(fn, top=8):
    """[(op, self ms per call)] of one forward, from torch.profiler, largest first."""
    from torch.profiler import ProfilerActivity, profile

    fn()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
    rows = [(e.key, e.self_cpu_time_total / 1e3) for e in prof.key_averages()]
    rows = [r for r in rows if r[1] > 0]
    rows.sort(key=lambda r: -r[1])
    return rows[:top]


@torch.no_grad()
def bench_case(name, batch, runs):
    model = models.build(name)
    base = models.distinct_relus(model) if name == "resnet50" else model  # X86 needs it; same outputs
    g = torch.Generator().manual_seed(1)
    calib = [torch.randn(2, 3, 224, 224, generator=g) for _ in range(4)]
    x = torch.randn(batch, 3, 224, 224, generator=torch.Generator().manual_seed(2))
    row = {"case": f"{name} b{batch}"}
    row["cpu_fp32"] = median_ms(lambda: model(x), runs)
    compiled = x86_int8(base, calib)
    row["x86_int8"] = median_ms(lambda: compiled(x), runs, warmup=2)  # first call compiles
    xa = x.to("aie")
    aie_bf16 = copy.deepcopy(model).to("aie")
    row["aie_bf16"] = median_ms(lambda: aie_bf16(xa), runs)
    for scheme in ("xint8", "a8w8"):
        q = lower(calibrate(model, calib, AieQuantizer(scheme))).to("aie")
        row[f"aie_{scheme}"] = median_ms(lambda: q(xa), runs)
        if scheme == "a8w8":
            torch_aie.reset_fallback_stats()
            q(xa)
            row["fallbacks"] = torch_aie.fallback_stats()
            row["profile"] = profile_ops(lambda: q(xa))
    return row


def write_results(text):
    old = open(RESULTS).read() if os.path.exists(RESULTS) else "# Benchmark results (this machine)\n"
    pattern = re.compile(re.escape(section()) + r".*?(?=\n## |\Z)", re.S)
    new = pattern.sub(lambda _: text, old) if pattern.search(old) else old.rstrip("\n") + "\n\n" + text
    with open(RESULTS, "w") as f:
        f.write(new.rstrip("\n") + "\n")


def plot(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [("cpu_fp32", "CPU fp32 eager"), ("x86_int8", "x86 int8 (PT2E + compile)"), ("aie_bf16", "aie bf16"),
            ("aie_xint8", "aie int8 xint8"), ("aie_a8w8", "aie int8 a8w8")]
    fig, ax = plt.subplots(figsize=(9, 4.5))
    w = 0.8 / len(keys)
    for i, (k, label) in enumerate(keys):
        ax.bar([j + i * w for j in range(len(rows))], [r[k] for r in rows], w, label=label)
    ax.set_xticks([j + 0.4 - w / 2 for j in range(len(rows))], [r["case"] for r in rows])
    ax.set_ylabel("ms per forward (median)")
    ax.set_title(f"int8 on aie (host emulator) vs CPU, {torch_aie.host_isa()}, {torch.get_num_threads()} threads")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--png", default=os.path.join(os.path.dirname(__file__), "int8_bench.png"))
    ap.add_argument("--no-results", action="store_true")
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore")
    head = (f"torch {torch.__version__}, host ISA {torch_aie.host_isa()}, threads {torch.get_num_threads()}, "
            f"median of {args.runs} forwards, aie = host emulator (no NPU here)")
    print(head, flush=True)
    rows = []
    for name, batch in CASES:
        rows.append(bench_case(name, batch, args.runs))
        r = rows[-1]
        print(f"{r['case']}: " + ", ".join(f"{k} {r[k]:.1f} ms" for k in
                                            ("cpu_fp32", "x86_int8", "aie_bf16", "aie_xint8", "aie_a8w8")), flush=True)
    lines = ["| case | CPU fp32 ms | x86 int8 ms | aie bf16 ms | aie int8 xint8 ms | aie int8 a8w8 ms "
             "| a8w8 vs CPU fp32 | a8w8 vs x86 int8 |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['case']} | {r['cpu_fp32']:.1f} | {r['x86_int8']:.1f} | {r['aie_bf16']:.1f} | "
                     f"{r['aie_xint8']:.1f} | {r['aie_a8w8']:.1f} | {r['cpu_fp32'] / r['aie_a8w8']:.2f}x | "
                     f"{r['x86_int8'] / r['aie_a8w8']:.2f}x |")
    table = "\n".join(lines)
    print(table)
    prof = []
    for r in rows:
        ops = ", ".join(f"{k} {v:.1f}" for k, v in r["profile"])
        fb = ", ".join(f"{k} x{v}" for k, v in sorted(r["fallbacks"].items(), key=lambda kv: -kv[1])) or "none"
        prof.append(f"- {r['case']} a8w8 on aie, self ms per forward by op: {ops}; ops through the CPU fallback: {fb}")
    print("\n".join(prof))
    plot(rows, args.png)
    print(f"plot: {args.png}")
    if not args.no_results:
        write_results(f"{section()}\n\n{head}. Goals: >= 2.5x CPU fp32, >= 1.5x x86 int8.\n\n{table}\n\n"
                      + "\n".join(prof) + f"\n\n![int8 speed]({os.path.basename(args.png)})\n")


if __name__ == "__main__":
    main()
