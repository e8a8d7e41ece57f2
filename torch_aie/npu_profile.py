"""What would a model cost on a Ryzen AI NPU? `torch_aie.profile(model, inputs, array=...)`.

It runs the model on aie under torch.profiler and reads back the ranges the native
library opens (csrc/ops/profile_range.h, csrc/device/fallback.cpp):

  aie::<op>[<algorithm>]   one per op the NPU path serves; its record_shapes metadata
                           carries the array plan and the *modelled* NPU time
  aie::cpu_fallback[<op>]  one per op that stays on the host CPU

Each module's forward is wrapped in a range of its own (forward hooks), so every row
names the module it ran in. NPU figures come from the cycle model in
csrc/runtime/array_model.cpp: a model of the array, never a measurement. Host times
(the emulator running a conv, a CPU op, PyTorch's own CPU run) are measured here.
"""
from __future__ import annotations

import copy
import csv
import io
import re
import statistics
import time
from dataclasses import asdict, dataclass, fields
from typing import Optional

import torch
from torch import nn
from torch.utils._pytree import tree_map

__all__ = ["profile", "NpuProfile", "ProfileRow", "plot_profiles", "host_description"]

_MODULE_RANGE = "torch_aie.profile.module::"
_NPU_RANGE = re.compile(r"^aie::(?!cpu_fallback\[)(\w+)\[(.+)\]$")
_CPU_RANGE = re.compile(r"^aie::cpu_fallback\[(.+)\]$")


@dataclass
class ProfileRow:
    """One op of the profiled forward pass, in execution order.

    runs_on "npu": an op the NPU path serves; npu_us_model is the cycle model's time on
    the array (a model), host_us what the host emulator took. runs_on "cpu": an op that
    stays on the CPU (aie's CPU fallback); host_us is its measured time on this host."""

    index: int
    module: str
    op: str
    runs_on: str
    algorithm: str = ""
    dtype: str = ""
    tile: str = ""  # per-core output tile and reduction chunk, m x n x k
    cores: int = 0
    npu_us_model: Optional[float] = None
    bound: str = ""  # "compute" or "dma" (which side of the model is longer)
    host_us: float = 0.0
    macs: int = 0
    input_shapes: str = ""
    reason: str = ""  # why a conv stays on the CPU


def host_description() -> str:
    """The host's ISA as the figures need it named (e.g. 'avx512 + avx512_bf16 + amx')."""
    feats = [name for name, ok in (("avx2", torch.cpu._is_avx2_supported()),
                                   ("avx512", torch.cpu._is_avx512_supported()),
                                   ("avx512_bf16", torch.cpu._is_avx512_bf16_supported()),
                                   ("amx", torch.cpu._is_amx_tile_supported())) if ok]
    if "avx512" in feats:
        feats.remove("avx2")
    return " + ".join(feats) or "no avx2"


def _median_ms(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def _on_aie(model: nn.Module) -> bool:
    tensors = list(model.parameters()) + list(model.buffers())
    return bool(tensors) and all(t.device.type == "aie" for t in tensors)


class _ModuleRanges:
    """Opens a profiler range around every module's forward while installed."""

    def __init__(self, model: nn.Module, root_name: str):
        self._open = []
        self._handles = []
        for name, mod in model.named_modules():
            label = _MODULE_RANGE + (name or root_name)
            self._handles.append(mod.register_forward_pre_hook(lambda m, a, label=label: self._enter(label)))
            self._handles.append(mod.register_forward_hook(lambda m, a, o: self._exit()))

    def _enter(self, label):
        rf = torch.autograd.profiler.record_function(label)
        rf.__enter__()
        self._open.append(rf)

    def _exit(self):
        self._open.pop().__exit__(None, None, None)

    def remove(self):
        while self._open:  # a forward that raised leaves ranges open
            self._exit()
        for h in self._handles:
            h.remove()


def _enclosing(event, prefix="", pattern=None):
    """The innermost enclosing event whose name starts with `prefix` (or matches `pattern`)."""
    e = event.cpu_parent
    while e is not None:
        if (pattern.match(e.name) if pattern else e.name.startswith(prefix)):
            return e
        e = e.cpu_parent
    return None


# An aie range (not the dispatcher's own event of a custom op such as aie::conv2d).
_AIE_RANGE = re.compile(r"^aie::\w+\[.+\]$")


def _rows_from_events(events, root_name: str) -> tuple[list[ProfileRow], float]:
    """Rows from the profiler's events, and the whole forward's host time (us)."""
    rows, total_us = [], 0.0
    for e in sorted(events, key=lambda e: e.time_range.start):
        if e.name == _MODULE_RANGE + root_name and _enclosing(e, _MODULE_RANGE) is None:
            total_us += e.time_range.elapsed_us()
            continue
        npu, cpu = _NPU_RANGE.match(e.name), _CPU_RANGE.match(e.name)
        if not (npu or cpu) or _enclosing(e, pattern=_AIE_RANGE) is not None:
            continue  # not ours, or host work inside an aie op's own range
        mod = _enclosing(e, _MODULE_RANGE)
        row = ProfileRow(index=len(rows), module=mod.name[len(_MODULE_RANGE):] if mod else root_name,
                         op=e.name, runs_on="npu" if npu else "cpu", host_us=e.time_range.elapsed_us(),
                         input_shapes=str(e.input_shapes) if e.input_shapes else "")
        kw = e.kwinputs or {}
        if npu:
            row.op = f"aie::{npu.group(1)}"
            row.algorithm = kw.get("algorithm", npu.group(2))
            row.dtype = kw.get("dtype", "")
            row.tile = kw.get("tile", "")
            row.cores = int(kw.get("cores_used", 0))
            row.npu_us_model = kw["modelled_ns"] / 1e3 if "modelled_ns" in kw else None
            row.bound = kw.get("bound", "")
            row.macs = int(kw.get("macs", 0))
        else:
            row.op = cpu.group(1)
            row.reason = kw.get("reason", "")
        rows.append(row)
    return rows, total_us


def _median_host_times(passes):
    """Rows of the first profiled forward with each row's host time the median over all
    of them (every pass must have run the same ops), and a forward time made of those
    medians plus the median of what the rows leave out (dispatch, views, copies), so the
    parts still add up to the whole."""
    rows, _ = passes[0]
    for other, _ in passes[1:]:
        if [(r.module, r.op) for r in other] != [(r.module, r.op) for r in rows]:
            raise RuntimeError("torch_aie.profile: the profiled forwards ran different ops; "
                               "profile a model whose forward is deterministic, or pass profiled_runs=1")
    other = statistics.median(total - sum(r.host_us for r in rs) for rs, total in passes)
    for i, r in enumerate(rows):
        r.host_us = statistics.median(p[0][i].host_us for p in passes)
    return rows, sum(r.host_us for r in rows) + other


class NpuProfile:
    """The report of `torch_aie.profile`: `.rows` (ProfileRow, execution order),
    `.totals`, `str(report)` (a table), `.to_csv()`, `.plot(path)`."""

    def __init__(self, model_name, array, batch, rows, profiled_host_us, host_wall_ms, cpu_ms, host,
                 dispatch_us=0.0):
        self.model_name = model_name
        self.array = array
        self.batch = batch
        self.rows = rows
        self.host = host
        npu = [r for r in rows if r.runs_on == "npu"]
        cpu = [r for r in rows if r.runs_on == "cpu"]
        npu_model = sum(r.npu_us_model or 0.0 for r in npu)
        cpu_host = sum(r.host_us for r in cpu)
        latency = npu_model + cpu_host + dispatch_us * len(npu)
        self.totals = {
            "npu_ops": len(npu),
            "cpu_ops": len(cpu),
            "npu_us_model": npu_model,                    # model: sum of the NPU rows
            "cpu_ops_host_us": cpu_host,                  # measured: sum of the CPU rows
            "dispatch_us": dispatch_us,                   # per NPU op, added to the latency (given, not modelled)
            "latency_us_model": latency,                  # model (NPU + dispatch) + measured (CPU ops), in sequence
            "throughput_per_s_model": batch / (latency * 1e-6) if latency > 0 else float("inf"),
            "npu_host_us": sum(r.host_us for r in npu),   # measured: the emulator running the NPU ops
            "other_host_us": profiled_host_us - sum(r.host_us for r in rows),  # dispatch, views, copies
            "profiled_host_us": profiled_host_us,         # measured: the profiled forward
            "host_wall_ms": host_wall_ms,                 # measured: aie forward without the profiler
            "cpu_ms": cpu_ms,                             # measured: PyTorch CPU fp32 forward (None if skipped)
            "npu_macs": sum(r.macs for r in npu),
        }

    @property
    def npu_rows(self):
        return [r for r in self.rows if r.runs_on == "npu"]

    @property
    def cpu_rows(self):
        return [r for r in self.rows if r.runs_on == "cpu"]

    def header(self) -> str:
        return (f"{self.model_name}, batch {self.batch}, on the {self.array} array. NPU times are a cycle MODEL "
                f"of the array (csrc/runtime/array_model.cpp), not measurements; host times are measured on "
                f"this host ({self.host}).")

    def __str__(self) -> str:
        t = self.totals
        out = [self.header(), "",
               f"{'#':>4} {'module':30} {'op':30} {'on':3} {'algorithm':11} {'dtype':6} {'tile':10} {'cores':>5} "
               f"{'NPU us (model)':>14} {'bound':7} {'host us':>10}"]
        for r in self.rows:
            npu = f"{r.npu_us_model:14.2f}" if r.npu_us_model is not None else f"{'-':>14}"
            out.append(f"{r.index:4d} {r.module[-30:]:30} {r.op[-30:]:30} {r.runs_on:3} {r.algorithm[:11]:11} "
                       f"{r.dtype:6} {r.tile:10} {r.cores or '':>5} {npu} {r.bound:7} {r.host_us:10.1f}"
                       + (f"  ({r.reason})" if r.reason else ""))
        cpu = f"{t['cpu_ms']:.2f} ms" if t["cpu_ms"] is not None else "not measured"
        out += ["",
                f"NPU ops: {t['npu_ops']}, modelled NPU time {t['npu_us_model']:.1f} us (MODEL)",
                f"CPU ops: {t['cpu_ops']}, host time {t['cpu_ops_host_us']:.1f} us (measured on this host)",
                f"whole model: {t['latency_us_model'] / 1e3:.3f} ms = modelled NPU + CPU ops in sequence"
                + (f" + {t['dispatch_us']:g} us dispatch per NPU op" if t["dispatch_us"] else
                   " (no dispatch or transfer overhead)")
                + f" (MODEL + host measurement), "
                f"{t['throughput_per_s_model']:.1f} inferences/s (MODEL)",
                f"host emulator: NPU ops {t['npu_host_us'] / 1e3:.2f} ms + CPU ops "
                f"{t['cpu_ops_host_us'] / 1e3:.2f} ms + other {t['other_host_us'] / 1e3:.2f} ms = profiled "
                f"forward {t['profiled_host_us'] / 1e3:.2f} ms; unprofiled {t['host_wall_ms']:.2f} ms (measured)",
                f"PyTorch CPU fp32 forward on this host: {cpu} (measured)"]
        return "\n".join(out)

    def to_csv(self, path: Optional[str] = None) -> str:
        """The rows as CSV (npu_us_model is the cycle model; host_us is measured)."""
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=[f.name for f in fields(ProfileRow)])
        w.writeheader()
        for r in self.rows:
            w.writerow(asdict(r))
        text = buf.getvalue()
        if path is not None:
            with open(path, "w", newline="") as f:
                f.write(text)
        return text

    def plot(self, path: str) -> None:
        """A PNG: modelled NPU time per NPU op (coloured by bound) and the totals."""
        plot_profiles([self], path)


def plot_profiles(reports, path: str, title: Optional[str] = None, cpu_ms: Optional[float] = None) -> None:
    """One PNG comparing reports of the same model (e.g. on both arrays): per NPU op the
    modelled time, filled when compute-bound and hollow when DMA-bound; below, the
    whole-model figures (model) next to the measured CPU and host-emulator times.
    `cpu_ms` overrides the PyTorch CPU fp32 time (e.g. taken from another report)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, ax2) = plt.subplots(2, 1, figsize=(13, 7.5), gridspec_kw={"height_ratios": [3, 1.6]})
    colours = ["tab:blue", "tab:orange", "tab:green", "tab:red"]
    width = 0.8 / len(reports)
    for k, rep in enumerate(reports):
        npu = rep.npu_rows
        xs = [i + (k - (len(reports) - 1) / 2) * width for i in range(len(npu))]
        c = colours[k % len(colours)]
        ys = [r.npu_us_model or 0.0 for r in npu]
        comp = [(x, y) for x, y, r in zip(xs, ys, npu) if r.bound == "compute"]
        dma = [(x, y) for x, y, r in zip(xs, ys, npu) if r.bound != "compute"]
        if comp:
            ax.bar([p[0] for p in comp], [p[1] for p in comp], width, color=c,
                   label=f"{rep.array}: compute-bound (model)")
        if dma:
            ax.bar([p[0] for p in dma], [p[1] for p in dma], width, facecolor="white", edgecolor=c, hatch="///",
                   label=f"{rep.array}: DMA-bound (model)")
    base = reports[0].npu_rows
    ax.set_xticks(range(len(base)), [f"{r.module} [{r.algorithm}]" for r in base], rotation=90, fontsize=5.5)
    ax.set_xlim(-0.7, len(base) - 0.3)
    ax.set_ylabel("modelled NPU time per op (us)")
    ax.set_title(f"{title or reports[0].model_name}, batch {reports[0].batch}: per-conv NPU time — cycle MODEL, "
                 f"not a measurement", fontsize=10)
    ax.legend(fontsize=8, ncol=2)
    ax.grid(axis="y", alpha=0.3)

    # Whole-model figures, one bar each (log scale): modelled ones in the array's colour,
    # measured ones in grey.
    bars = []
    for k, rep in enumerate(reports):
        t, c = rep.totals, colours[k % len(colours)]
        bars.append((f"{rep.array}: NPU ops (model)", t["npu_us_model"] / 1e3, c, None))
        bars.append((f"{rep.array}: ops left on the CPU (measured)", t["cpu_ops_host_us"] / 1e3, "grey", None))
        bars.append((f"{rep.array}: whole model = NPU model + CPU ops", t["latency_us_model"] / 1e3, c, "//"))
    t0 = reports[0].totals
    cpu_ms = t0["cpu_ms"] if cpu_ms is None else cpu_ms
    if cpu_ms is not None:
        bars.append(("PyTorch CPU fp32, this host (measured)", cpu_ms, "dimgrey", None))
    bars.append(("host emulator, this host (measured)", t0["host_wall_ms"], "silver", None))
    ys = list(range(len(bars)))
    for y, (label, v, c, hatch) in zip(ys, bars):
        ax2.barh(y, v, color=c, hatch=hatch, edgecolor="white" if hatch else None)
        ax2.text(v, y, f" {v:.3g} ms", va="center", fontsize=8)
    ax2.set_yticks(ys, [b[0] for b in bars], fontsize=8)
    ax2.invert_yaxis()
    ax2.set_xscale("log")
    vals = [b[1] for b in bars if b[1] > 0]
    if vals:
        ax2.set_xlim(min(vals) / 3, max(vals) * 6)
    ax2.set_xlabel(f"whole model (ms, log scale); host: {reports[0].host}", fontsize=8)
    ax2.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)


def profile(model: nn.Module, example_inputs, array: str = "phoenix", *, warmup: int = 1,
            runs: int = 3, profiled_runs: int = 3, cpu_baseline: bool = True,
            dispatch_us: float = 0.0) -> NpuProfile:
    """Runs `model(*example_inputs)` on aie under torch.profiler and reports, per op in
    execution order, what the NPU path would do with it (algorithm, dtype, per-core tile,
    cores, modelled NPU time and whether it is compute- or DMA-bound, host emulator time)
    and which ops stay on the CPU (with their measured host time), plus totals.

    `array` is "phoenix" or "strix" (restored afterwards). A model not on aie is copied
    there (the caller's model is left as it is). `warmup` forwards first (weights packed,
    allocator warm), then `profiled_runs` profiled forwards (each row's host time is the
    median over them); `runs` forwards without the profiler time the host emulator, and,
    with `cpu_baseline`, PyTorch's own CPU forward. Everything
    runs under torch.no_grad() in the model's current train/eval mode. The CPU baseline
    is PyTorch's fp32 CPU forward of the same model.

    NPU times come from the cycle model (csrc/runtime/array_model.cpp): a model of the
    array, not a measurement, and it has no per-dispatch or host-transfer overhead;
    `dispatch_us` adds a host cost per NPU op to the whole-model latency (e.g. a measured
    per-call XRT overhead, if each op were its own NPU dispatch)."""
    import torch_aie

    if not isinstance(example_inputs, (tuple, list)):
        example_inputs = (example_inputs,)
    to = lambda dev: (lambda v: v.to(dev) if isinstance(v, torch.Tensor) else v)  # noqa: E731
    aie_model = model if _on_aie(model) else copy.deepcopy(model).to("aie")
    aie_args = tree_map(to("aie"), tuple(example_inputs))
    first = next((v for v in example_inputs if isinstance(v, torch.Tensor)), None)
    batch = first.shape[0] if first is not None and first.dim() > 0 else 1
    root_name = type(model).__name__

    old_array = torch_aie.get_array()
    torch_aie.set_array(array)
    try:
        with torch.no_grad():
            for _ in range(warmup):
                aie_model(*aie_args)
            passes = []
            ranges = _ModuleRanges(aie_model, root_name)
            try:
                for _ in range(max(1, profiled_runs)):
                    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU],
                                                record_shapes=True) as prof:
                        aie_model(*aie_args)
                    passes.append(_rows_from_events(prof.events(), root_name))
            finally:
                ranges.remove()
            host_wall_ms = _median_ms(lambda: aie_model(*aie_args), runs)
    finally:
        torch_aie.set_array(old_array)
    rows, profiled_us = _median_host_times(passes)

    cpu_ms = None
    if cpu_baseline:
        # PyTorch's CPU forward in fp32 (a CPU bf16 conv is no baseline: oneDNN's AMX bf16
        # conv is slow on some shapes and crashes on others).
        tensors = list(model.parameters()) + list(model.buffers())
        plain = all(t.device.type == "cpu" and t.dtype != torch.bfloat16 for t in tensors)
        cpu_model = model if plain else copy.deepcopy(model).to("cpu", torch.float32)
        fp32 = lambda v: (v.to("cpu", torch.float32) if v.is_floating_point() else v.cpu()) \
            if isinstance(v, torch.Tensor) else v  # noqa: E731
        cpu_args = tree_map(fp32, tuple(example_inputs))
        with torch.no_grad():
            for _ in range(warmup):
                cpu_model(*cpu_args)
            cpu_ms = _median_ms(lambda: cpu_model(*cpu_args), runs)

    host = f"emulator kernels {torch_aie.host_isa()}, CPU {host_description()}, {torch.get_num_threads()} threads"
    return NpuProfile(root_name, array, batch, rows, profiled_us, host_wall_ms, cpu_ms, host, dispatch_us)
