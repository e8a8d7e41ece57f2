"""torch_aie.profile(): one row per conv of the model with the planner's algorithm and the
array model's figures, the ops that stay on the CPU, totals that add up; and the
aie::conv2d[<algorithm>] ranges in a plain torch.profiler trace (names, record_shapes
metadata, chrome-trace JSON)."""
import collections
import copy
import csv
import io
import json

import pytest
import torch
from torch import nn

import torch_aie


@pytest.fixture(autouse=True)
def _phoenix():
    torch_aie.set_array("phoenix")
    yield
    torch_aie.set_array("phoenix")


class _Block(nn.Module):
    """Every conv algorithm plus ops with no aie kernel (BatchNorm, ReLU, add, pooling, linear)."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, stride=2, padding=1, bias=False)   # im2col_gemm (3 channels)
        self.bn = nn.BatchNorm2d(16)
        self.relu = nn.ReLU()
        self.dw = nn.Conv2d(16, 16, 3, padding=1, groups=16)                # depthwise
        self.pw = nn.Conv2d(16, 32, 1)                                      # gemm_1x1
        self.conv = nn.Conv2d(32, 32, 3, padding=1)                         # direct
        self.down = nn.Conv2d(32, 32, 3, stride=2, padding=1, dilation=1)   # direct, strided
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(32, 10)

    def forward(self, x):
        x = self.relu(self.bn(self.stem(x)))
        x = self.pw(self.dw(x))
        x = x + self.conv(x)
        x = self.down(x)
        return self.fc(torch.flatten(self.pool(x), 1))


def _model():
    torch.manual_seed(0)
    return _Block().eval()


def _x(batch=2):
    return torch.randn(batch, 3, 16, 16, generator=torch.Generator().manual_seed(1))


def _conv_inputs(model, x):
    """[(name, conv, input shape)] in forward order, from a CPU run."""
    seen, hooks = [], []
    for name, m in model.named_modules():
        if isinstance(m, nn.Conv2d):
            hooks.append(m.register_forward_hook(lambda mod, i, o, name=name: seen.append((name, mod, i[0].shape))))
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return seen


def _plan(mod, shape, dtype="bf16"):
    return torch_aie.conv_array_plan(torch.empty(shape, device="meta"), mod.weight.to("meta"), mod.stride, mod.padding,
                                     mod.dilation, mod.groups, dtype=dtype)


def _assert_row_matches_plan(row, name, mod, shape):
    plan = _plan(mod, shape)
    assert row.module == name and row.runs_on == "npu" and row.op == "aie::conv2d"
    assert row.algorithm == plan["algorithm"], (row, plan)
    assert row.dtype == "bf16"
    assert row.cores == int(plan["cores_used"])
    assert row.tile == f"{int(plan['tile_m'])}x{int(plan['tile_n'])}x{int(plan['tile_k'])}"
    assert row.npu_us_model == pytest.approx(plan["modelled_us"], abs=1e-3)  # whole ns in the trace
    assert row.bound == ("compute" if plan["compute_cycles"] >= plan["dma_cycles"] else "dma")
    n, c, h, w = shape
    oh = (h + 2 * mod.padding[0] - mod.dilation[0] * (mod.kernel_size[0] - 1) - 1) // mod.stride[0] + 1
    ow = (w + 2 * mod.padding[1] - mod.dilation[1] * (mod.kernel_size[1] - 1) - 1) // mod.stride[1] + 1
    k = (c // mod.groups) * mod.kernel_size[0] * mod.kernel_size[1]
    assert row.macs == n * oh * ow * mod.out_channels * k
    assert row.host_us > 0


@pytest.mark.parametrize("array", ["phoenix", "strix"])
def test_one_row_per_conv_with_the_array_plan(array):
    model, x = _model(), _x()
    report = torch_aie.profile(model, x, array=array, runs=1)
    assert torch_aie.get_array() == "phoenix"  # restored
    convs = _conv_inputs(model, x)
    assert [r.module for r in report.npu_rows] == [name for name, _, _ in convs]
    torch_aie.set_array(array)
    for row, (name, mod, shape) in zip(report.npu_rows, convs):
        _assert_row_matches_plan(row, name, mod, shape)
    assert {r.algorithm for r in report.npu_rows} == {"im2col_gemm", "depthwise", "gemm_1x1", "direct"}
    assert report.array == array and report.batch == 2
    # The caller's model is left on the CPU, unchanged.
    assert all(p.device.type == "cpu" for p in model.parameters())
    torch.testing.assert_close(model.state_dict(), _model().state_dict(), rtol=0, atol=0)


def test_totals_add_up():
    report = torch_aie.profile(_model(), _x(), runs=1)
    t, rows = report.totals, report.rows
    npu, cpu = report.npu_rows, report.cpu_rows
    assert [r.index for r in rows] == list(range(len(rows))) and len(npu) + len(cpu) == len(rows)
    assert t["npu_ops"] == len(npu) == 5 and t["cpu_ops"] == len(cpu)
    assert t["npu_us_model"] == pytest.approx(sum(r.npu_us_model for r in npu))
    assert t["cpu_ops_host_us"] == pytest.approx(sum(r.host_us for r in cpu))
    assert t["latency_us_model"] == pytest.approx(t["npu_us_model"] + t["cpu_ops_host_us"])
    assert t["throughput_per_s_model"] == pytest.approx(2 / (t["latency_us_model"] * 1e-6))
    assert t["npu_host_us"] == pytest.approx(sum(r.host_us for r in npu))
    assert t["npu_host_us"] + t["cpu_ops_host_us"] + t["other_host_us"] == pytest.approx(t["profiled_host_us"])
    assert t["other_host_us"] >= 0  # the rows are disjoint parts of the profiled forward
    assert t["npu_macs"] == sum(r.macs for r in npu)
    assert t["host_wall_ms"] > 0 and t["cpu_ms"] > 0
    with_dispatch = torch_aie.NpuProfile(report.model_name, report.array, report.batch, rows,
                                         t["profiled_host_us"], t["host_wall_ms"], t["cpu_ms"], report.host,
                                         dispatch_us=45.0)
    assert with_dispatch.totals["latency_us_model"] == pytest.approx(t["latency_us_model"] + 45.0 * len(npu))
    assert "45 us dispatch per NPU op" in str(with_dispatch)

    text = str(report)
    assert "MODEL" in text and "not measurements" in text and "measured" in text
    assert all(r.module in text for r in rows)
    parsed = list(csv.DictReader(io.StringIO(report.to_csv())))
    assert len(parsed) == len(rows)
    assert sum(float(p["npu_us_model"]) for p in parsed if p["runs_on"] == "npu") == pytest.approx(t["npu_us_model"])


def test_ops_without_an_aie_kernel_are_listed_with_their_modules():
    class WithCpuOps(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(16, 16, 3, padding=1)
            self.bn = nn.BatchNorm2d(16)
            self.pool = nn.MaxPool2d(2)
            self.up = nn.ConvTranspose2d(16, 8, 2, stride=2)  # no aie kernel: CPU with a reason
            self.vol = nn.Conv3d(1, 2, 3, padding=1)          # 3-D: CPU with a reason

        def forward(self, x):
            y = self.pool(torch.relu(self.bn(self.conv(x))))
            y = self.up(y)
            return y.sum() + self.vol(x[:, :1].unsqueeze(1)).mean()

    torch.manual_seed(0)
    model = WithCpuOps().eval()
    x = torch.randn(1, 16, 8, 8)
    report = torch_aie.profile(model, x, runs=1)

    assert [r.module for r in report.npu_rows] == ["conv"]
    by_module = collections.defaultdict(list)
    for r in report.cpu_rows:
        by_module[r.module].append(r)
        assert r.npu_us_model is None and r.host_us > 0
    assert [r.op for r in by_module["bn"]] == ["aten::native_batch_norm"]
    assert any("max_pool2d" in r.op for r in by_module["pool"])
    (up,) = by_module["up"]
    assert up.op == "aten::convolution" and "transposed" in up.reason
    (vol,) = by_module["vol"]
    assert vol.op == "aten::convolution" and "3-D" in vol.reason
    assert any(r.op.startswith("aten::relu") for r in by_module["WithCpuOps"])  # ops in forward() itself

    # Exactly the calls the CPU fallback counts in one forward pass, op by op.
    aie_model, xa = copy.deepcopy(model).to("aie"), x.to("aie")
    torch_aie.reset_fallback_stats()
    with torch.no_grad():
        aie_model(xa)
    counted = {k: v for k, v in torch_aie.fallback_stats().items() if v}
    # Host convs are fallback ops too (one table: fallback_stats() counts them).
    listed = collections.Counter(r.op for r in report.cpu_rows)
    assert dict(listed) == counted


def _trace_events(record_shapes):
    model = _model().to("aie")
    x = _x().to("aie")
    with torch.no_grad():
        model(x)  # warm: weights packed
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU],
                                    record_shapes=record_shapes) as prof:
            model(x)
    return prof


def test_conv_ranges_carry_algorithm_and_modelled_time_in_a_profiler_trace(tmp_path):
    prof = _trace_events(record_shapes=True)
    cpu_model, x = _model(), _x()
    convs = _conv_inputs(cpu_model, x)
    ranges = [e for e in prof.events() if "aie" in e.name and "conv" in e.name and "fallback" not in e.name]
    assert len(ranges) == len(convs)
    for e, (name, mod, shape) in zip(ranges, convs):
        plan = _plan(mod, shape)
        assert e.name == f"aie::conv2d[{plan['algorithm']}]"
        kw = e.kwinputs
        assert kw["algorithm"] == plan["algorithm"] and kw["dtype"] == "bf16" and kw["array"] == "phoenix"
        assert kw["modelled_ns"] == round(plan["modelled_us"] * 1e3)
        assert kw["cycles"] == round(plan["cycles"]) and kw["cores_used"] == plan["cores_used"]
        assert kw["bound"] in ("compute", "dma") and "not a measurement" in kw["model"]
        assert e.input_shapes == [list(shape), list(mod.weight.shape)]
    names = {a.key for a in prof.key_averages()}
    assert {"aie::conv2d[direct]", "aie::conv2d[depthwise]", "aie::cpu_fallback[aten::native_batch_norm]"} <= names

    # The chrome trace is valid JSON and its events carry the same metadata.
    path = tmp_path / "trace.json"
    prof.export_chrome_trace(str(path))
    trace = json.loads(path.read_text())
    exported = [ev for ev in trace["traceEvents"] if ev.get("name", "").startswith("aie::conv2d[")]
    assert [ev["args"]["modelled_ns"] for ev in exported] == [e.kwinputs["modelled_ns"] for e in ranges]
    assert all(ev["args"]["algorithm"] in ev["name"] for ev in exported)


def test_conv_ranges_without_record_shapes_still_name_the_algorithm():
    prof = _trace_events(record_shapes=False)
    names = [e.name for e in prof.events() if e.name.startswith("aie::conv2d[")]
    assert names == ["aie::conv2d[im2col_gemm]", "aie::conv2d[depthwise]", "aie::conv2d[gemm_1x1]",
                     "aie::conv2d[direct]", "aie::conv2d[direct]"]


def test_bf16_model_rows_and_fp32_cpu_baseline():
    model = _model().to(torch.bfloat16)
    report = torch_aie.profile(model, _x().to(torch.bfloat16), runs=1)
    assert len(report.npu_rows) == 5 and all(r.dtype == "bf16" for r in report.npu_rows)
    assert report.totals["cpu_ms"] > 0
    assert all(p.dtype == torch.bfloat16 and p.device.type == "cpu" for p in model.parameters())


def test_bf16x3_precision_is_the_row_dtype_and_triples_the_reduction():
    model, x = _model(), _x()
    with torch_aie.conv_precision("bf16x3"):
        report = torch_aie.profile(model, x, runs=1, cpu_baseline=False)
    plain = torch_aie.profile(model, x, runs=1, cpu_baseline=False)
    assert report.totals["cpu_ms"] is None
    for r3, r1 in zip(report.npu_rows, plain.npu_rows):
        assert r3.dtype == "bf16x3" and r1.dtype == "bf16"
        assert r3.npu_us_model > r1.npu_us_model


def test_optimized_model_rows_come_from_the_custom_op():
    """optimize() runs convs through torch.ops.aie.conv2d (whose own dispatcher event is
    also named aie::conv2d): same conv rows, BatchNorm folded away, ReLU fused; the
    Linear head joins them as a 1x1 GEMM row and leaves the CPU rows."""
    model, x = _model(), _x()
    eager = torch_aie.profile(model, x, runs=1, cpu_baseline=False)
    opt = torch_aie.optimize(copy.deepcopy(model).to("aie"))
    report = torch_aie.profile(opt, x, runs=1, cpu_baseline=False)
    convs = report.npu_rows[:len(eager.npu_rows)]
    assert [r.algorithm for r in convs] == [r.algorithm for r in eager.npu_rows]
    assert [r.npu_us_model for r in convs] == [r.npu_us_model for r in eager.npu_rows]
    assert [r.algorithm for r in report.npu_rows[len(eager.npu_rows):]] == ["gemm_1x1"]
    assert not any("batch_norm" in r.op or "addmm" in r.op for r in report.cpu_rows)
    assert any("batch_norm" in r.op for r in eager.cpu_rows) and any("addmm" in r.op for r in eager.cpu_rows)


def test_model_on_aie_is_profiled_in_place_and_plot_writes_a_png(tmp_path):
    model = _model().to("aie")
    report = torch_aie.profile(model, _x(), runs=1, cpu_baseline=False)
    assert len(report.npu_rows) == 5
    path = tmp_path / "profile.png"
    report.plot(str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_int8_plans_use_the_int8_mac_rate():
    for array, ratio in (("phoenix", 256 / 128), ("strix", 512 / 256)):
        torch_aie.set_array(array)
        # Depthwise: the model's compute is taps x channels x pixels at a quarter of the MAC rate.
        x, w = torch.empty(1, 64, 56, 56, device="meta"), torch.empty(64, 1, 3, 3, device="meta")
        bf, i8 = (torch_aie.conv_array_plan(x, w, padding=1, groups=64, dtype=d) for d in ("bf16", "int8"))
        assert bf["algorithm"] == i8["algorithm"] == "depthwise"
        assert bf["compute_cycles"] == pytest.approx(ratio * i8["compute_cycles"])
        # A compute-heavy GEMM conv: fewer compute cycles at int8, and its (one-byte) buffers fit.
        x, w = torch.empty(1, 256, 28, 28, device="meta"), torch.empty(256, 256, 3, 3, device="meta")
        bf, i8 = (torch_aie.conv_array_plan(x, w, padding=1, dtype=d) for d in ("bf16", "int8"))
        assert i8["compute_cycles"] < bf["compute_cycles"] and i8["modelled_us"] < bf["modelled_us"]
        assert i8["fits"] == 1.0 and i8["core_bytes"] <= i8["core_capacity"]
    with pytest.raises(ValueError, match="'fp8'"):
        torch_aie.conv_array_plan(x, w, padding=1, dtype="fp8")
