"""aie (host emulator, bf16 numerics) vs PyTorch CPU fp32 vs PyTorch CPU bf16 in
channels_last (oneDNN; AMX where the host has it: the best CPU path of bf16 numerics), per
conv layer of ResNet-50 and MobileNetV2 and end to end, same process, same threads. The
aie runs twice: the fp32 model (bf16 products inside each conv, fp32 activations between
layers) and the same model in bf16 channels_last ("aie bf16cl": bf16 activations, the numerics
of CPU bf16 channels_last, so that pair is the like-for-like comparison). The
variants are timed interleaved (one call of each per round, in a shuffled order), medians over
the rounds. Each layer is also timed inside its model ("in model": forward hooks around every
conv during whole forward passes, the aie and CPU fp32 models alternating), where it meets the
caches its neighbours leave, as in real use.

    .venv/bin/python benchmarks/layer_bench.py [--batches 1 8] [--runs 5] [--png out.png]

Prints a table of medians and ratios (ratio > 1: aie faster) and writes a PNG plot.
"""
import argparse
import copy

import torch
from tqdm import tqdm

import torch_aie
from common import capture_conv_inputs, conv_call, interleaved_medians_ms
from torch_aie import models


def layer_rows(name, batch, runs):
    model = models.build(name, calib_batch=1)
    x = torch.randn(batch, 3, 224, 224)
    rows = []
    cl = torch.channels_last
    with torch.no_grad():
        for lname, mod, inp in tqdm(capture_conv_inputs(model, x), desc=f"{name} b{batch} layers", leave=False):
            aie_mod = copy.deepcopy(mod).to("aie")
            bf_mod = copy.deepcopy(mod).to(torch.bfloat16).to(memory_format=cl)
            aie_bf_mod = copy.deepcopy(bf_mod).to("aie")
            inp_bf = inp.to(torch.bfloat16).contiguous(memory_format=cl)
            t_aie, t_fp32, t_bf16, t_aie_bf = interleaved_medians_ms(
                [conv_call(aie_mod, inp.to("aie")), conv_call(mod, inp), conv_call(bf_mod, inp_bf),
                 conv_call(aie_bf_mod, inp_bf.to("aie"))], runs)
            alg = torch_aie.explain_conv(inp, mod.weight, None, mod.stride, mod.padding, mod.dilation,
                                         mod.groups).split(" ")[0]
            shape = f"{tuple(inp.shape[1:])}->{mod.out_channels} k{mod.kernel_size[0]} s{mod.stride[0]} g{mod.groups}"
            rows.append((f"{name}.{lname}", shape, alg, t_aie, t_fp32, t_bf16, t_aie_bf))
    return rows


def in_model_ms(name, batch, runs):
    """{layer name: (aie ms, CPU fp32 ms)}: medians of each conv's time inside whole forwards
    (batch `batch`), the aie eager and CPU fp32 models alternating in a shuffled order."""
    import random
    import statistics
    import time

    from torch import nn

    model = models.build(name, calib_batch=1).eval()
    aie_model = copy.deepcopy(model).to("aie")
    x = torch.randn(batch, 3, 224, 224)
    xa = x.to("aie")
    times, start = {}, [0.0]

    def instrument(net, key):
        for lname, mod in net.named_modules():
            if isinstance(mod, nn.Conv2d):
                times[(key, lname)] = []
                mod.register_forward_pre_hook(lambda m, i: start.__setitem__(0, time.perf_counter()))
                mod.register_forward_hook(lambda m, i, o, k=(key, lname): times[k].append(time.perf_counter() - start[0]))

    instrument(aie_model, "aie")
    instrument(model, "cpu")
    order = random.Random(0)
    with torch.no_grad():
        aie_model(xa)  # warm-up: weights packed, device pool grown
        model(x)
        for k in times:
            times[k].clear()
        for _ in range(runs):
            for fn in order.sample([lambda: aie_model(xa), lambda: model(x)], 2):
                fn()
    return {lname: (statistics.median(times[("aie", lname)]) * 1e3, statistics.median(times[("cpu", lname)]) * 1e3)
            for (key, lname) in times if key == "aie"}


def end_to_end(name, batch, runs):
    """Medians (ms), interleaved: aie eager, aie optimize()'d, CPU fp32 eager, CPU fp32 with
    BatchNorm folded (torch.fx fuse: the CPU's counterpart of optimize()), CPU bf16
    channels_last eager, aie bf16 channels_last eager and optimize()'d, CPU bf16 channels_last
    with BatchNorm folded."""
    from torch.fx.experimental.optimization import fuse

    model = models.build(name, calib_batch=1).eval()
    x = torch.randn(batch, 3, 224, 224)
    cl = torch.channels_last
    with torch.no_grad():
        aie_model, xa = copy.deepcopy(model).to("aie"), x.to("aie")
        aie_opt = torch_aie.optimize(copy.deepcopy(model).to("aie"))
        cpu_fused = fuse(copy.deepcopy(model))
        bf_model = copy.deepcopy(model).to(torch.bfloat16).to(memory_format=cl)
        xb = x.to(torch.bfloat16).contiguous(memory_format=cl)
        bf_fused = fuse(copy.deepcopy(bf_model))
        aie_bf, xab = copy.deepcopy(bf_model).to("aie"), xb.to("aie")
        aie_bf_opt = torch_aie.optimize(copy.deepcopy(bf_model).to("aie"))
        return interleaved_medians_ms([lambda: aie_model(xa), lambda: aie_opt(xa), lambda: model(x),
                                       lambda: cpu_fused(x), lambda: bf_model(xb), lambda: aie_bf(xab),
                                       lambda: aie_bf_opt(xab), lambda: bf_fused(xb)], runs)


def plot(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(14, 5))
    idx = range(len(rows))
    ax.bar([i - 0.2 for i in idx], [r[4] / r[3] for r in rows], 0.4, label="CPU fp32 time / aie time")
    ax.bar([i + 0.2 for i in idx], [r[5] / r[6] for r in rows], 0.4,
           label="CPU bf16 channels_last time / aie bf16 channels_last time")
    ax.axhline(1.0, color="k", lw=0.8)
    ax.set_yscale("log")
    ax.set_xticks(list(idx), [r[0] for r in rows], rotation=90, fontsize=5)
    ax.set_ylabel("speed-up of aie (log)")
    ax.set_title(f"torch_aie emulator vs PyTorch CPU, ISA {torch_aie.host_isa()}, {torch.get_num_threads()} threads")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=130)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--models", nargs="+", default=list(models.MODELS))
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--png", default="benchmarks/layer_bench.png")
    ap.add_argument("--no-layers", action="store_true")
    args = ap.parse_args()
    print(f"torch {torch.__version__}, host ISA {torch_aie.host_isa()}, threads {torch.get_num_threads()}, "
          f"aie precision {torch_aie.get_conv_precision()} (host emulator)")
    rows, in_model = [], {}
    if not args.no_layers:
        for name in args.models:
            rows += layer_rows(name, 1, args.runs)
            in_model.update({f"{name}.{k}": v for k, v in in_model_ms(name, 1, 3 * args.runs).items()})
        print(f"\n{'layer':34} {'shape':32} {'algorithm':12} {'aie ms':>8} {'fp32 ms':>8} {'fp32/aie':>8} "
              f"{'aie bf16cl':>10} {'bf16cl ms':>9} {'bf16cl/aie bf16cl':>17}   in model: {'aie ms':>7} {'fp32 ms':>7} "
              f"{'fp32/aie':>8}")
        for r in rows:
            ia, ic = in_model[r[0]]
            print(f"{r[0][:34]:34} {r[1][:32]:32} {r[2]:12} {r[3]:8.3f} {r[4]:8.3f} {r[4] / r[3]:8.2f} "
                  f"{r[6]:10.3f} {r[5]:9.3f} {r[5] / r[6]:17.2f}             {ia:7.3f} {ic:7.3f} {ic / ia:8.2f}")
        for name in args.models:
            mine = [r for r in rows if r[0].startswith(name + ".")]
            worst32 = min(mine, key=lambda r: r[4] / r[3])
            worst16 = min(mine, key=lambda r: r[5] / r[6])
            print(f"{name}: sum of layer medians: aie {sum(r[3] for r in mine):.2f} ms vs CPU fp32 "
                  f"{sum(r[4] for r in mine):.2f} ms (slowest {worst32[0]} at {worst32[4] / worst32[3]:.2f}x, "
                  f"{sum(r[4] < 0.8 * r[3] for r in mine)} of {len(mine)} under 0.8x); aie bf16cl "
                  f"{sum(r[6] for r in mine):.2f} ms vs CPU bf16 channels_last {sum(r[5] for r in mine):.2f} ms "
                  f"(slowest {worst16[0]} at {worst16[5] / worst16[6]:.2f}x, "
                  f"{sum(r[5] < 0.8 * r[6] for r in mine)} of {len(mine)} under 0.8x)")
            im = [in_model[r[0]] for r in mine]
            worst_im = min(zip(mine, im), key=lambda p: p[1][1] / p[1][0])
            print(f"{name} in model: sum aie {sum(a for a, _ in im):.2f} ms, CPU fp32 {sum(c for _, c in im):.2f} ms; "
                  f"slowest layer {worst_im[0][0]} at {worst_im[1][1] / worst_im[1][0]:.2f}x; "
                  f"layers under 0.8x CPU fp32: {sum(c < 0.8 * a for a, c in im)} of {len(im)}")
        plot(rows, args.png)
        print(f"plot written to {args.png}")
    print(f"\nend to end (ms; ratio > 1: aie faster). aie: model.to('aie'); opt: torch_aie.optimize() "
          f"(BN folded, activations fused, prepacked); fused: torch.fx fuse (BN folded); bf16cl: the model in "
          f"bf16 channels_last (aie bf16cl against CPU bf16cl is the like-for-like pair)")
    print(f"{'model':14} {'batch':>5} {'aie':>8} {'aie opt':>8} {'cpu fp32':>9} {'cpu fused':>9} {'fp32/aie':>9} "
          f"{'fused/opt':>9} | {'aie bf16cl':>10} {'opt':>8} {'cpu bf16cl':>10} {'fused':>8} {'bf16cl/aie':>10} "
          f"{'fused/opt':>9} {'fp32/aie bf16cl opt':>19}")
    for name in args.models:
        for b in tqdm(args.batches, desc=f"{name} end to end", leave=False):
            a, o, f, fz, h, ab, abo, hz = end_to_end(name, b, args.runs)
            print(f"{name:14} {b:5d} {a:8.1f} {o:8.1f} {f:9.1f} {fz:9.1f} {f / a:9.2f} {fz / o:9.2f} | "
                  f"{ab:10.1f} {abo:8.1f} {h:10.1f} {hz:8.1f} {h / ab:10.2f} {hz / abo:9.2f} {f / abo:19.2f}")


if __name__ == "__main__":
    main()
