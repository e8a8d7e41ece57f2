"""torch_aie.quantization: AieQuantizer annotations, lower() to aie.qconv2d, bit-exactness
against the independent integer reference (tests/qconv_reference.py), accuracy floors,
X86InductorQuantizer graphs, and the error paths."""
import copy
import math
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import fx, nn

import torch_aie
from torch_aie.quantization import AieQuantizer, calibrate, convert_pt2e, lower, lowering_report, prepare_pt2e
from torch_aie.quantization._torchao import DerivedQuantizationSpec, x86_inductor_quantizer as xiq
from torch_aie.quantization.int8_ops import int8_max_pool2d
from torch_aie.quantization.requant import multiplier_shift

from qconv_reference import qconv2d_reference

warnings.filterwarnings("ignore", message=".*LeafSpec.*")
QCONV = torch.ops.aie.qconv2d.default
qd = torch.ops.quantized_decomposed


class SmallNet(nn.Module):
    """Every pattern the lowering fuses: conv-bn-relu stem, max pool, a ResNet block (conv
    -bn-relu, conv-bn + add + relu), a depthwise conv + ReLU6, a grouped conv, a linear
    pointwise conv + residual add without activation (MobileNetV2), a float head."""

    def __init__(self):
        super().__init__()
        c = 16
        self.stem = nn.Sequential(nn.Conv2d(3, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU())
        self.pool = nn.MaxPool2d(3, 2, 1)
        self.b1 = nn.Sequential(nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU())
        self.b2 = nn.Sequential(nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c))
        self.relu = nn.ReLU()
        self.dw = nn.Sequential(nn.Conv2d(c, c, 3, 1, 1, groups=c, bias=False), nn.BatchNorm2d(c), nn.ReLU6())
        self.grp = nn.Sequential(nn.Conv2d(c, 2 * c, 3, 2, 1, groups=4), nn.ReLU())
        self.pw = nn.Sequential(nn.Conv2d(2 * c, 2 * c, 1, bias=False), nn.BatchNorm2d(2 * c))
        self.fc = nn.Linear(2 * c, 10)

    def forward(self, x):
        x = self.pool(self.stem(x))
        x = self.relu(self.b2(self.b1(x)) + x)
        y = self.grp(self.dw(x))
        y = y + self.pw(y)
        return self.fc(y.mean((2, 3)))


N_CONVS = 6


class Conv1dNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv1d(4, 8, 5, padding=2)
        self.c2 = nn.Conv1d(8, 8, 3, stride=2, padding=1, groups=2)

    def forward(self, x):
        return self.c2(F.relu(self.c1(x)))


def _bn_calibrated(ctor, shape, seed=0):
    torch.manual_seed(seed)  # before construction: the weights are part of the fixed test case
    model = ctor()
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.momentum = None
            nn.init.uniform_(m.weight, 0.5, 1.5)
            nn.init.uniform_(m.bias, -0.1, 0.1)
    model.train()
    with torch.no_grad():
        model(torch.randn(8, *shape[1:]))
    return model.eval()


def _batches(shape, n=4, seed=1):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(*shape, generator=g) for _ in range(n)]


SHAPE = (2, 3, 16, 16)


@pytest.fixture(scope="module")
def small_net():
    return _bn_calibrated(SmallNet, SHAPE)


@pytest.fixture(scope="module")
def converted(small_net):
    return {s: calibrate(small_net, _batches(SHAPE), AieQuantizer(s)) for s in ("xint8", "a8w8")}


@pytest.fixture(scope="module")
def lowered(converted):
    return {s: lower(g) for s, g in converted.items()}


def _sqnr(y, ref):
    return 10 * math.log10(float(ref.pow(2).sum()) / float((y - ref).pow(2).sum()))


def _calls(gm, target):
    return [n for n in gm.graph.nodes if n.op == "call_function" and n.target == target]


def _convs(gm):
    return [n for n in gm.graph.nodes if n.op == "call_function"
            and n.target in (torch.ops.aten.conv2d.default, torch.ops.aten.conv1d.default)]


# -- annotations ------------------------------------------------------------------------------
@pytest.mark.parametrize("scheme", ["xint8", "a8w8"])
def test_annotations(small_net, scheme):
    gm = torch.export.export(small_net, (torch.randn(SHAPE),)).module()
    prepared = prepare_pt2e(gm, AieQuantizer(scheme))  # annotate() runs inside
    convs = _convs(prepared)
    assert len(convs) == N_CONVS
    for conv in convs:
        ann = conv.meta["quantization_annotation"]
        specs = list(ann.input_qspec_map.values())
        weight = [s for s in specs if getattr(s, "dtype", None) == torch.int8 and s.quant_min == -127]
        assert len(weight) == 1
        want = torch.per_tensor_symmetric if scheme == "xint8" else torch.per_channel_symmetric
        assert weight[0].qscheme == want
        bias = [s for s in specs if isinstance(s, DerivedQuantizationSpec)]
        assert len(bias) == 1 and bias[0].dtype == torch.int32  # every conv has a (BN-folded) bias
    # The stem's output (after ReLU) is uint8, the pointwise conv's (linear) int8.
    conv_out = convert_pt2e(prepared)
    qs = _calls(conv_out, qd.quantize_per_tensor.default)
    dtypes = [q.args[5] for q in qs]
    assert dtypes.count(torch.uint8) >= 4 and dtypes.count(torch.int8) >= 2, dtypes
    for q in qs:
        assert q.args[2] == 0  # symmetric: zero point 0
        if scheme == "xint8":
            assert math.log2(q.args[1]) == round(math.log2(q.args[1]))


def test_converted_pattern_shape(converted):
    """After convert_pt2e every conv reads dq(x), dq(w), dq(int32 bias) and its fused tail ends in q."""
    for gm in converted.values():
        for conv in _convs(gm):
            assert conv.args[0].target == qd.dequantize_per_tensor.default
            assert conv.args[1].target in (qd.dequantize_per_tensor.default, qd.dequantize_per_channel.default)
            assert conv.args[2].args[5 if conv.args[2].target == qd.dequantize_per_tensor.default else 6] == torch.int32
            node = conv
            while len(node.users) == 1 and next(iter(node.users)).target in (
                    torch.ops.aten.relu.default, torch.ops.aten.hardtanh.default, torch.ops.aten.add.Tensor):
                node = next(iter(node.users))
            assert [u.target for u in node.users] == [qd.quantize_per_tensor.default]


# -- lowering structure -----------------------------------------------------------------------
@pytest.mark.parametrize("scheme", ["xint8", "a8w8"])
def test_lowering_replaces_every_conv(lowered, scheme):
    gm = lowered[scheme]
    assert len(_calls(gm, QCONV)) == N_CONVS
    assert not _convs(gm)
    # Whole int8 chain: one quantize (the input), one dequantize (before the float head).
    assert len(_calls(gm, qd.quantize_per_tensor.default)) == 1
    assert len(_calls(gm, qd.dequantize_per_tensor.default)) == 1
    assert len(_calls(gm, int8_max_pool2d)) == 1
    fused = [n for n in _calls(gm, QCONV) if n.kwargs["skip"] is not None]
    assert len(fused) == 2  # the ResNet block's add(+relu) and the linear pointwise conv's add
    for n in _calls(gm, QCONV):
        w = getattr(gm, n.args[1].target)
        assert w.dtype == torch.int8 and n.args[1].op == "get_attr"
        assert getattr(gm, n.args[2].target).dtype == torch.int32
    assert all(r[1] in ("qconv2d", "1 on int8") for r in lowering_report(gm))


def test_preserve_format_keeps_layouts(converted, lowered):
    low = lower(converted["a8w8"], memory_format=torch.preserve_format)
    assert not _calls(low, torch.ops.aten.clone.default)
    assert len(_calls(lowered["a8w8"], torch.ops.aten.clone.default)) == 1  # the quantised input only
    x = _batches(SHAPE, 1, seed=13)[0]
    rec_p, rec_c = _Recorder(low), _Recorder(lowered["a8w8"])
    with torch.no_grad():
        y_p, y_c = rec_p.run(x), rec_c.run(x)
    for (_, _, a), (_, _, b) in zip(rec_p.calls, rec_c.calls):
        assert torch.equal(a, b)  # same integers, other layout
    torch.testing.assert_close(y_p, y_c)  # the float head's sums run in another order


def test_lowering_does_not_modify_its_input(converted):
    gm = converted["a8w8"]
    before = gm.code
    state = {k: v.clone() for k, v in gm.state_dict().items()}
    lower(gm)
    assert gm.code == before
    for k, v in gm.state_dict().items():
        assert torch.equal(v, state[k])


def test_requant_params_xint8_are_pure_shifts(converted, lowered):
    """Independently of requant.py: under xint8 M = s_x s_w / s_y is 2^-k; the buffers must be
    multiplier 1 (or 2^j for M >= 1) and shift k."""
    conv_g, low = converted["xint8"], lowered["xint8"]
    scales = {}
    for conv in _convs(conv_g):
        s_x = conv.args[0].args[1]
        s_w = conv.args[1].args[1]
        node = conv
        while next(iter(node.users)).target != qd.quantize_per_tensor.default:
            node = next(iter(node.users))
        s_y = next(iter(node.users)).args[1]
        scales[conv.name] = s_x * s_w / s_y
    for n in _calls(low, QCONV):
        m = getattr(low, n.args[3].target)
        s = getattr(low, n.args[4].target)
        factor = float(m[0]) * 2.0 ** -float(s[0])
        assert factor in scales.values()
        k = -math.log2(factor)
        if k >= 0:
            assert bool((m == 1).all()) and bool((s == k).all())
        else:
            assert bool((m == 2 ** -k).all()) and bool((s == 0).all())


def test_requant_params_a8w8_fixed_point(lowered):
    low = lowered["a8w8"]
    for n in _calls(low, QCONV):
        m = getattr(low, n.args[3].target).to(torch.int64)
        s = getattr(low, n.args[4].target).to(torch.int64)
        exact_pow2 = m == 1
        assert bool(((m >= 2**30) & (m < 2**31) | exact_pow2).all()) and bool((s >= 0).all())


@pytest.mark.parametrize("factor", [0.75, 0.0123, 3.999, 1.0, 2.0, 0.5, 2.0**-40, 1 / 3, 1234.5, 2.0**-31 * 1.5])
def test_multiplier_shift(factor):
    m, s = multiplier_shift(factor)
    assert s >= 0 and 0 < m < 2**31
    if math.frexp(factor)[0] == 0.5:
        assert m * 2.0**-s == factor and (m == 1 or s == 0)
    else:
        assert 2**30 <= m < 2**31 or s == 62
        assert abs(m * 2.0**-s - factor) <= factor * 2.0**-30
    with pytest.raises(ValueError, match="out of range"):
        multiplier_shift(2.0**32)


# -- numerics ---------------------------------------------------------------------------------
class _Recorder(fx.Interpreter):
    """Runs a lowered graph, recording every qconv2d call's tensor arguments and output."""

    def __init__(self, gm):
        super().__init__(gm)
        self.calls = []

    def call_function(self, target, args, kwargs):
        out = super().call_function(target, args, kwargs)
        if target == QCONV:
            self.calls.append((args, kwargs, out))
        return out


def _reference_call(args, kwargs):
    cpu = lambda v: v.cpu() if isinstance(v, torch.Tensor) else v  # noqa: E731
    return qconv2d_reference(*[cpu(a) for a in args], **{k: cpu(v) for k, v in kwargs.items()})


@pytest.mark.parametrize("scheme", ["xint8", "a8w8"])
def test_bit_exact_layer_by_layer(lowered, scheme):
    """Every aie.qconv2d call inside the lowered net equals the int64 reference on the same
    int8 inputs, bit for bit; so the whole int8 chain is the pure-integer evaluation."""
    rec = _Recorder(lowered[scheme])
    with torch.no_grad():
        rec.run(_batches(SHAPE, 1, seed=7)[0])
    assert len(rec.calls) == N_CONVS
    for args, kwargs, out in rec.calls:
        ref = _reference_call(args, kwargs)
        assert out.dtype == ref.dtype and torch.equal(out.cpu(), ref)


@pytest.mark.parametrize("rounding", ["floor", "positive_inf", "symmetric_inf"])
def test_rounding_modes(converted, rounding):
    low = lower(converted["a8w8"], rounding=rounding)
    rec = _Recorder(low)
    with torch.no_grad():
        rec.run(_batches(SHAPE, 1, seed=8)[0])
    for args, kwargs, out in rec.calls:
        assert kwargs["rounding"] == rounding
        assert torch.equal(out.cpu(), _reference_call(args, kwargs))


def test_lowered_matches_convert_graph(converted, lowered):
    """Against torchao's own dq -> float conv -> q evaluation of the same graph (measured
    here: about 30 dB; the fused residual adds' extra rounding accounts for most of it)."""
    x = _batches(SHAPE, 1, seed=3)[0]
    with torch.no_grad():
        for s in ("xint8", "a8w8"):
            y_ref, y = converted[s](x), lowered[s](x)
            assert _sqnr(y, y_ref) > 24, (s, _sqnr(y, y_ref))


# Floors measured on this net (seed-fixed, integer arithmetic: host independent), with margin.
SQNR_FLOOR_DB = {"xint8": 22.0, "a8w8": 26.0}  # measured 25.6 and 29.6 dB


@pytest.mark.parametrize("scheme", ["xint8", "a8w8"])
def test_sqnr_floor(small_net, lowered, scheme):
    x = _batches(SHAPE, 1, seed=5)[0]
    with torch.no_grad():
        ref, y = small_net(x), lowered[scheme](x)
    assert _sqnr(y, ref) > SQNR_FLOOR_DB[scheme]


def test_conv1d_lowers_and_is_exact():
    torch.manual_seed(0)
    net = Conv1dNet().eval()
    batches = _batches((2, 4, 32), 3)
    low = torch_aie.quantize(net, batches, scheme="a8w8")
    assert len(_calls(low, QCONV)) == 2 and not _convs(low)
    rec = _Recorder(low)
    with torch.no_grad():
        y = rec.run(batches[0])
        ref = net(batches[0])
    for args, kwargs, out in rec.calls:
        assert torch.equal(out.cpu(), _reference_call(args, kwargs))
    assert y.shape == ref.shape and _sqnr(y, ref) > 25


def test_quantize_on_aie_equals_cpu(small_net, lowered):
    """The lowered module moves with .to("aie"); int8 results are the same on every device."""
    x = _batches(SHAPE, 1, seed=9)[0]
    low = lowered["a8w8"]
    aie = copy.deepcopy(low).to("aie")
    torch_aie.reset_conv_stats()
    with torch.no_grad():
        y_cpu = low(x)
        y_aie = aie(x.to("aie")).cpu()
    # The float head (mean + Linear) runs on aie in bf16 (the head is not int8): compare the
    # int8 tensor that feeds it exactly, and the logits within the head's bf16 error.
    rec_c, rec_a = _Recorder(low), _Recorder(aie)
    with torch.no_grad():
        rec_c.run(x)
        rec_a.run(x.to("aie"))
    for (_, _, oc), (_, _, oa) in zip(rec_c.calls, rec_a.calls):
        assert oa.device.type == "aie" and torch.equal(oc, oa.cpu())
        assert oa.is_contiguous(memory_format=torch.channels_last)  # lower()'s default: NHWC int8 chains
    assert (y_aie - y_cpu).abs().max() <= 0.05 * y_cpu.abs().max()
    stats = torch_aie.conv_stats()
    assert not any(k.startswith("int8_not_lowered") and v for k, v in stats.items())


@pytest.mark.parametrize("dtype", [torch.int8, torch.uint8])
@pytest.mark.parametrize("k,s,p,d", [(3, 2, 1, 1), (2, 2, 0, 1), (3, 1, 1, 2), ((3, 2), (1, 2), (1, 0), 1)])
def test_int8_max_pool2d_equals_aten(dtype, k, s, p, d):
    g = torch.Generator().manual_seed(4)
    info = torch.iinfo(dtype)
    x = torch.randint(info.min, info.max + 1, (2, 3, 11, 9), generator=g, dtype=torch.int32).to(dtype)
    pair = lambda v: [v, v] if isinstance(v, int) else list(v)  # noqa: E731
    want = torch.ops.aten.max_pool2d.default(x, pair(k), pair(s), pair(p), pair(d))
    assert torch.equal(int8_max_pool2d(x, pair(k), pair(s), pair(p), pair(d)), want)
    assert torch.equal(int8_max_pool2d(x.to("aie"), pair(k), pair(s), pair(p), pair(d)).cpu(), want)


# -- X86InductorQuantizer graphs ----------------------------------------------------------------
@pytest.fixture(scope="module")
def x86_converted(small_net):
    q = xiq.X86InductorQuantizer().set_global(xiq.get_default_x86_inductor_quantization_config())
    return calibrate(small_net, _batches(SHAPE), q)


def _q_value_of(conv_graph, name, x):
    """Value of node `name` in the convert graph on input x."""
    values = {}

    class Rec(fx.Interpreter):
        def run_node(self, n):
            v = super().run_node(n)
            values[n.name] = v
            return v

    with torch.no_grad():
        Rec(conv_graph).run(x)
    return values if name is None else values[name]


def test_x86_graph_lowers_within_one_step(x86_converted):
    """uint8 asymmetric activations: zero points folded into the int32 bias (explicitly
    padded borders), float bias rounded to s_x s_w, output zero point as out_zero_point.
    Each lowered layer, fed the convert graph's own int8 inputs, is within one quantisation
    step of the convert graph's dq -> float conv -> q result."""
    low = lower(x86_converted)
    qconvs = _calls(low, QCONV)
    report = lowering_report(low)
    assert len(qconvs) >= 5, report
    unclone = lambda n: n.args[0] if n.target == torch.ops.aten.clone.default else n  # noqa: E731 (channels_last)
    assert any(unclone(n.args[0]).target == torch.ops.aten.constant_pad_nd.default for n in qconvs)  # zp != 0 + pad
    x = _batches(SHAPE, 1, seed=11)[0]
    values = _q_value_of(x86_converted, None, x)
    low_names = {n.name: n for n in low.graph.nodes}

    def value(node):
        if isinstance(node, fx.Node):
            if node.op == "get_attr":
                return getattr(low, node.target)
            if "torch_aie_replaces" in node.meta:
                return values[node.meta["torch_aie_replaces"]]
            if node.target == torch.ops.aten.constant_pad_nd.default:
                return F.pad(value(node.args[0]), node.args[1], value=node.args[2])
            if node.target == torch.ops.aten.clone.default:
                return value(node.args[0]).contiguous(memory_format=torch.channels_last)
            return values[node.name]
        return node

    checked = 0
    for n in qconvs:
        args = [value(a) for a in n.args]
        kwargs = {k: value(v) for k, v in n.kwargs.items()}
        got = QCONV(*args, **kwargs)
        want = values[n.meta["torch_aie_replaces"]]
        diff = (got.to(torch.int32) - want.to(torch.int32)).abs()
        assert int(diff.max()) <= 1, (n.name, int(diff.max()))
        # A fused residual add rounds conv and skip separately (SRS + SRS, as the AIE does),
        # one rounding more than the float graph: about a quarter of outputs differ by one.
        exact = float((diff == 0).float().mean())
        assert exact > (0.6 if n.kwargs["skip"] is not None else 0.97), (n.name, exact)
        checked += 1
    assert checked == len(qconvs) and low_names


def test_x86_refusals_are_counted_with_reason(x86_converted):
    """X86InductorQuantizer leaves some conv outputs unquantised (e.g. a conv whose result
    only feeds a float op); those convs keep running in float and conv_stats() says why."""
    low = lower(x86_converted)
    refused = [r for r in lowering_report(low) if r[1].startswith("not lowered")]
    assert refused, lowering_report(low)
    assert all(r[1] == "not lowered: output not quantized" for r in refused), refused
    torch_aie.reset_conv_stats()
    x = _batches(SHAPE, 1, seed=12)[0]
    with torch.no_grad():
        y, y_ref = low(x), x86_converted(x)
    assert torch_aie.conv_stats()["int8_not_lowered:output not quantized"] == len(refused)
    assert _sqnr(y, y_ref) > 22  # measured about 26 dB


# -- errors -----------------------------------------------------------------------------------
def test_xint8_refuses_non_power_of_two_scales(converted):
    with pytest.raises(ValueError, match=r"power-of-two scales.*scale 0\.\d+"):
        lower(converted["a8w8"], scheme="xint8")


def test_weight_zero_point_is_refused(converted):
    gm = copy.deepcopy(converted["a8w8"])
    dq = next(n for n in gm.graph.nodes if n.target == qd.dequantize_per_channel.default
              and getattr(gm, n.args[0].target).dtype == torch.int8)
    zp = getattr(gm, dq.args[2].target)
    zp[0] = 3
    with pytest.raises(ValueError, match="weight zero point 3"):
        lower(gm)


def test_float_residual_operand_is_not_lowered():
    class Mixed(nn.Module):
        def __init__(self):
            super().__init__()
            self.c = nn.Conv2d(4, 4, 3, padding=1)

        def forward(self, x, y):
            return F.relu(self.c(x) + torch.sin(y))

    net = Mixed().eval()
    batches = [(torch.randn(1, 4, 8, 8), torch.randn(1, 4, 8, 8)) for _ in range(2)]
    gm = calibrate(net, batches, AieQuantizer("a8w8"))
    # AieQuantizer quantises the sin output as the skip; make it float to get a mixed add.
    for n in gm.graph.nodes:
        if n.target == torch.ops.aten.add.Tensor:
            other = n.args[1]
            n.replace_input_with(other, other.args[0].args[0])  # dq(q(sin)) -> sin
    gm.graph.eliminate_dead_code()
    gm.recompile()
    low = lower(gm)
    assert lowering_report(low)[0][1] == "not lowered: float residual operand"
    assert "mixed int8/float" in lowering_report(low)[0][2]
    with torch.no_grad():
        torch.testing.assert_close(low(*batches[0]), gm(*batches[0]))


def test_int32_overflow_bound_is_refused_with_the_value():
    """A reduction whose worst case |bias| + max|x| * sum|w| exceeds int32 is not lowered."""
    conv = nn.Conv2d(4096, 2, 7, bias=False).eval()
    with torch.no_grad():
        conv.weight.copy_(torch.sign(torch.randn(conv.weight.shape, generator=torch.Generator().manual_seed(0))))
    x = torch.randn(1, 4096, 7, 7, generator=torch.Generator().manual_seed(1))
    gm = calibrate(nn.Sequential(conv, nn.ReLU()).eval(), [x], AieQuantizer("a8w8"))
    low = lower(gm)
    (name, status, detail), = lowering_report(low)
    assert status == "not lowered: int32 overflow bound"
    assert f"reaches {128 * 127 * 4096 * 49}" in detail  # every |w| quantises to 127
    with torch.no_grad():
        torch.testing.assert_close(low(x), gm(x))


def test_quantized_tensor_on_aie_names_the_flow():
    q = torch.quantize_per_tensor(torch.randn(4), 0.1, 0, torch.qint8)
    with pytest.raises(RuntimeError, match=r"torch_aie.*quantized tensor.*torch_aie\.quantize"):
        q.to("aie")


def test_quantize_input_checks(small_net):
    with pytest.raises(ValueError, match="training mode"):
        torch_aie.quantize(copy.deepcopy(small_net).train(), _batches(SHAPE, 1))
    with pytest.raises(ValueError, match="empty"):
        torch_aie.quantize(small_net, [])
    with pytest.raises(ValueError, match="unknown scheme"):
        torch_aie.quantize(small_net, _batches(SHAPE, 1), scheme="int4")
    with pytest.raises(ValueError, match="unknown rounding"):
        lower(torch.fx.symbolic_trace(nn.Identity()), rounding="nearest")
    with pytest.raises(TypeError, match="GraphModule"):
        lower(small_net)


def test_quantized_model_takes_any_batch_size(small_net):
    low = torch_aie.quantize(small_net, [torch.randn(1, *SHAPE[1:])], scheme="a8w8")  # calibrated at batch 1
    with torch.no_grad():
        for n in (1, 3):
            x = torch.randn(n, *SHAPE[1:])
            y = low(x)
            assert y.shape == (n, 10) and _sqnr(y, small_net(x)) > 15


def test_quantize_leaves_model_and_inputs_alone(small_net):
    state = {k: v.clone() for k, v in small_net.state_dict().items()}
    batches = _batches(SHAPE, 2, seed=21)
    copies = [b.clone() for b in batches]
    low = torch_aie.quantize(small_net, batches, scheme="xint8")
    with torch.no_grad():
        low(batches[0])
    for k, v in small_net.state_dict().items():
        assert torch.equal(v, state[k]), k
    for b, c in zip(batches, copies):
        assert torch.equal(b, c)
