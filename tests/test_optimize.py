"""optimize() on real-model structure: BatchNorm reached as F.batch_norm and through
nn.Identity is folded, ReLU / ReLU6 / hardtanh(0, 6) / SiLU / Hardswish are fused into
the conv epilogue, Conv1d is converted; outputs stay within the bf16 bound."""
import copy
import operator

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import torch_aie
from torch_aie import models


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def _calibrated(model, x):
    """Eval-mode copy with BatchNorm statistics from one pass over `x`."""
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            m.momentum = None
            nn.init.uniform_(m.weight, 0.5, 1.5)
            nn.init.uniform_(m.bias, -0.1, 0.1)
    with torch.no_grad():
        model.train()(x)
    return model.eval()


def _run_both(model, x):
    """(unoptimised aie output, optimize()d aie output, the optimised module)."""
    aie = copy.deepcopy(model).to("aie")
    with torch.no_grad():
        plain = aie(x.to("aie")).cpu()
        opt = torch_aie.optimize(aie)
        fused = opt(x.to("aie")).cpu()
    return plain, fused, opt


class ConvAct(nn.Module):
    def __init__(self, act):
        super().__init__()
        self.conv = nn.Conv2d(8, 16, 3, padding=1)
        self.act = act

    def forward(self, x):
        return self.act(self.conv(x))


ACTS = {
    "relu module": (nn.ReLU(), "relu"),
    "relu function": (F.relu, "relu"),
    "relu_ method": (lambda t: t.relu_(), "relu"),
    "relu6": (nn.ReLU6(), "relu6"),
    "hardtanh(0, 6)": (nn.Hardtanh(0.0, 6.0), "relu6"),
    "F.hardtanh(0, 6)": (lambda t: F.hardtanh(t, 0.0, 6.0), "relu6"),
    "hardswish": (nn.Hardswish(), "hardswish"),
    "F.hardswish": (F.hardswish, "hardswish"),
    "silu": (nn.SiLU(), "silu"),
    "F.silu": (F.silu, "silu"),
    "gelu": (nn.GELU(), "gelu"),
    "F.gelu": (F.gelu, "gelu"),
}


@pytest.mark.parametrize("name", list(ACTS))
def test_activation_fused_into_the_epilogue_matches_the_unfused_op(name):
    """Without a BatchNorm nothing is refolded, so the fused epilogue must give what the
    conv followed by ATen's activation gives: the same bits for ReLU, ReLU6 and Hardswish
    (the same IEEE operations), SiLU within 4 ulp (its exp is a polynomial), GELU within
    both erf fits' absolute errors (4e-7 ours, 1.5e-7 ATen's, times 0.5 |v|)."""
    act, kind = ACTS[name]
    torch.manual_seed(0)
    model = ConvAct(act).eval()
    x = 3 * torch.randn(2, 8, 10, 10, generator=_gen(1))
    plain, fused, opt = _run_both(model, x)
    assert opt.aie_optimize_stats == {"convs": 1, "bn_folded": 0, "linears": 0, "scales_folded": 0, "residuals_fused": 0, "input_scales_fused": 0, "activations_fused": {kind: 1}}
    assert [m.activation for m in opt.modules() if isinstance(m, torch_aie.AieConv2d)] == [kind]
    if kind == "silu":
        torch.testing.assert_close(fused, plain, rtol=4 * 2.0**-23, atol=1e-30)
    elif kind == "gelu":
        assert (fused - plain).abs().max().item() <= 0.5 * 5.5e-7 * plain.abs().max().item()
    else:
        assert torch.equal(fused, plain)


def test_other_hardtanh_ranges_and_shared_outputs_are_not_fused():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Conv2d(4, 4, 3, padding=1), nn.Conv2d(4, 4, 3, padding=1)

        def forward(self, x):
            y = self.a(x)
            return F.hardtanh(self.b(x), -1.0, 1.0) * F.relu(y) * y  # y has two users

    x = torch.randn(1, 4, 6, 6, generator=_gen(2))
    plain, fused, opt = _run_both(Net().eval(), x)
    assert opt.aie_optimize_stats == {"convs": 2, "bn_folded": 0, "linears": 0, "scales_folded": 0, "residuals_fused": 0, "input_scales_fused": 0, "activations_fused": {}}
    assert torch.equal(fused, plain)


class BatchNormAct(nn.BatchNorm2d):
    """A BatchNorm subclass calling F.batch_norm, its activation inside (as timm's)."""

    def __init__(self, c):
        super().__init__(c)
        self.act = nn.Hardswish()

    def forward(self, x):
        factor = 0.0 if not self.training else 1.0
        return self.act(F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                                     self.training, factor, self.eps))


class IdentityChain(nn.Module):
    def __init__(self, bn):
        super().__init__()
        self.conv = nn.Conv2d(6, 12, 3, padding=1, bias=False)
        self.pre, self.bn, self.post = nn.Identity(), bn, nn.Identity()
        self.act = nn.SiLU()

    def forward(self, x):
        return self.act(self.post(self.bn(self.pre(self.conv(x)))))


def _assert_within_bf16_bound(model, x, fused, plain):
    """Both aie outputs within 3x the error ATen makes with bf16-rounded conv and Linear
    operands (optimize() runs Linears on the NPU too)."""
    with torch.no_grad():
        ref = model(x)
        e_bf16 = (models.bf16_operand_model(model, linears=True)(x) - ref).abs().max().item()
    assert (plain - ref).abs().max().item() <= 3 * e_bf16
    assert (fused - ref).abs().max().item() <= 3 * e_bf16


@pytest.mark.parametrize("bn", ["module", "F.batch_norm subclass"])
def test_batch_norm_through_identities_is_folded(bn):
    torch.manual_seed(3)
    x = torch.randn(2, 6, 9, 9, generator=_gen(4))
    if bn == "module":
        model, kinds = IdentityChain(nn.BatchNorm2d(12)), {"silu": 1}
    else:
        model, kinds = IdentityChain(BatchNormAct(12)), {"hardswish": 1}
        model.act = nn.Identity()  # the activation is the BatchNorm's own
    model = _calibrated(model, x)
    plain, fused, opt = _run_both(model, x)
    assert opt.aie_optimize_stats == {"convs": 1, "bn_folded": 1, "linears": 0, "scales_folded": 0, "residuals_fused": 0, "input_scales_fused": 0, "activations_fused": kinds}
    assert not any(n.op == "call_function" and n.target is F.batch_norm for n in opt.graph.nodes)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in opt.modules())
    _assert_within_bf16_bound(model, x, fused, plain)


def test_conv1d_with_batch_norm1d_and_relu_is_converted():
    class Tcn(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv1d(8, 16, 3, padding=2, dilation=2, bias=False)
            self.bn = nn.BatchNorm1d(16)

        def forward(self, x):
            return torch.relu(self.bn(self.conv(x)))

    x = torch.randn(2, 8, 50, generator=_gen(5))
    model = _calibrated(Tcn(), x)
    plain, fused, opt = _run_both(model, x)
    assert opt.aie_optimize_stats == {"convs": 1, "bn_folded": 1, "linears": 0, "scales_folded": 0, "residuals_fused": 0, "input_scales_fused": 0, "activations_fused": {"relu": 1}}
    assert sum(isinstance(m, torch_aie.AieConv1d) for m in opt.modules()) == 1
    assert fused.shape == (2, 16, 50)
    _assert_within_bf16_bound(model, x, fused, plain)


# (model, expected optimize() counts) for the third-party-style nets at 96x96.
NETS = {
    "resnet18_timm": {"convs": 20, "bn_folded": 20, "linears": 1, "scales_folded": 0, "residuals_fused": 8, "input_scales_fused": 0, "activations_fused": {"relu": 17}},
    "efficientnet_style": {"convs": 81, "bn_folded": 49, "linears": 1, "scales_folded": 0, "residuals_fused": 9,
                           "input_scales_fused": 16,
                           "activations_fused": {"silu": 33, "hardswish": 16}},
    "convnext_tcn": {"convs": 20, "bn_folded": 6, "linears": 21, "scales_folded": 10, "residuals_fused": 13,
                     "input_scales_fused": 0,
                     "activations_fused": {"gelu": 10, "relu": 6}},
}


@pytest.mark.parametrize("name", list(NETS))
def test_third_party_style_nets(name):
    model = models.build(name, calib_batch=2, size=96)
    x = torch.randn(1, 3, 96, 96, generator=_gen(6))
    plain, fused, opt = _run_both(model, x)
    assert opt.aie_optimize_stats == NETS[name]
    _assert_within_bf16_bound(model, x, fused, plain)


class ResidualBlock(nn.Module):
    """conv-BN-relu, conv-BN, + identity (computed after the conv, as torchvision
    writes it), relu."""

    def __init__(self, down):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(8, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8)
        self.conv2, self.bn2 = nn.Conv2d(8, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8)
        self.down = nn.Sequential(nn.Conv2d(8, 8, 1, bias=False), nn.BatchNorm2d(8)) if down else nn.Identity()

    def forward(self, x):
        y = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
        return torch.relu(y + self.down(x))


@pytest.mark.parametrize("down", [False, True])
def test_residual_add_and_relu_are_fused(down):
    torch.manual_seed(7)
    x = torch.randn(2, 8, 12, 12, generator=_gen(8))
    model = _calibrated(ResidualBlock(down), x)
    plain, fused, opt = _run_both(model, x)
    assert opt.aie_optimize_stats == {"convs": 2 + down, "bn_folded": 2 + down, "linears": 0, "scales_folded": 0, "residuals_fused": 1,
                                      "input_scales_fused": 0, "activations_fused": {"relu": 2}}
    assert not any(n.op == "call_function" and n.target in (operator.add, torch.relu) for n in opt.graph.nodes)
    _assert_within_bf16_bound(model, x, fused, plain)


@pytest.mark.parametrize("act", ["none", "relu", "silu"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_residual_in_the_epilogue_matches_the_unfused_add(act, dtype):
    """Without BatchNorm, conv + residual + act fused equals the unfused ops on the conv's
    fp32 output bit for bit (ReLU) or within 4 ulp (SiLU); a bf16 residual is read as
    its exact fp32 value; a broadcast residual ((1, C, 1, 1)) and channels_last too."""
    x = torch.randn(2, 8, 9, 9, generator=_gen(9)).to("aie")
    w = torch.randn(16, 8, 3, 3, generator=_gen(10)).to("aie")
    b = torch.randn(16, generator=_gen(11)).to("aie")
    fns = {"none": lambda t: t, "relu": torch.relu, "silu": F.silu}
    for res in (torch.randn(2, 16, 9, 9, generator=_gen(12)), torch.randn(1, 16, 1, 1, generator=_gen(13)),
                torch.randn(2, 16, 9, 9, generator=_gen(14)).contiguous(memory_format=torch.channels_last)):
        r = res.to(dtype).to("aie")
        fused = torch_aie.conv2d(x, w, b, 1, 1, activation=act, residual=r).cpu()
        want = fns[act](torch_aie.conv2d(x, w, b, 1, 1).cpu() + r.cpu().float())
        if act == "silu":
            torch.testing.assert_close(fused, want, rtol=4 * 2.0**-23, atol=1e-30)
        else:
            assert torch.equal(fused, want)


class SqueezeExciteBlock(nn.Module):
    """conv-relu, a squeeze-excite gate (mean, reduce, relu, expand, sigmoid) times the
    activation, then the projecting conv; `extra` also reads the gated product (so it is
    not fused) and adds a conv of y * 2.0 (a scalar product, not fused either)."""

    def __init__(self, extra=False):
        super().__init__()
        self.conv, self.reduce = nn.Conv2d(8, 24, 3, padding=1), nn.Conv2d(24, 6, 1)
        self.expand, self.proj, self.side = nn.Conv2d(6, 24, 1), nn.Conv2d(24, 16, 1), nn.Conv2d(24, 16, 1)
        self.extra = extra

    def forward(self, x):
        y = torch.relu(self.conv(x))
        gated = y * torch.sigmoid(self.expand(torch.relu(self.reduce(F.adaptive_avg_pool2d(y, 1)))))
        out = self.proj(gated)
        return torch.cat([out, gated, self.side(y * 2.0)], 1) if self.extra else out


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("extra", [False, True], ids=["fused", "shared_product"])
def test_squeeze_excite_gate_is_fused_into_the_next_conv_with_the_same_bits(extra, dtype):
    """No BatchNorm to refold and ReLU fused exactly: the fused model must give the
    unoptimised model's bits, the gate applied as the conv stages its input."""
    model = SqueezeExciteBlock(extra).eval().to(dtype)
    x = torch.randn(2, 8, 10, 10, generator=_gen(12)).to(dtype)
    plain, fused, opt = _run_both(model, x)
    assert opt.aie_optimize_stats["input_scales_fused"] == (0 if extra else 1)
    muls = [n for n in opt.graph.nodes if n.op == "call_function" and n.target in (operator.mul, torch.mul)]
    assert len(muls) == (2 if extra else 0)
    assert torch.equal(fused, plain)


def test_residual_gradients_match_aten():
    x = torch.randn(1, 4, 6, 6, generator=_gen(15), requires_grad=True)
    w = torch.randn(4, 4, 3, 3, generator=_gen(16), requires_grad=True)
    r = torch.randn(1, 4, 6, 6, generator=_gen(17), requires_grad=True)
    for act, fn in (("relu", torch.relu), ("hardswish", F.hardswish)):
        torch_aie.conv2d(x, w, None, 1, 1, activation=act, residual=r).sum().backward()
        got = [t.grad.clone() for t in (x, w, r)]
        for t in (x, w, r):
            t.grad = None
        fn(F.conv2d(x, w, None, 1, 1) + r).sum().backward()
        for g, t in zip(got, (x, w, r)):
            torch.testing.assert_close(g, t.grad, rtol=0, atol=0)
            t.grad = None


class _Flat(nn.Module):
    """conv -> BN -> ReLU -> conv, then a head that flattens by `flatten` (values) or `view` (strides)."""

    def __init__(self, head):
        super().__init__()
        self.a, self.bn, self.b = nn.Conv2d(5, 12, 3, padding=1), nn.BatchNorm2d(12), nn.Conv2d(12, 8, 1)
        self.head = head

    def forward(self, x):
        y = self.b(F.relu(self.bn(self.a(x))))
        return y, (torch.flatten(y, 1) if self.head == "flatten" else y.view(y.shape[0], -1))


@pytest.mark.parametrize("head, channels_last_input", [("flatten", False), ("flatten", True), ("view", False)])
def test_activations_run_channels_last_inside_unless_strides_matter(head, channels_last_input):
    """torch_aie/optimize.py _activation_layout: by default the optimised graph converts a 4-D input to
    channels_last (its convs then see channels-last activations) and gives 4-D outputs back NCHW-contiguous for an
    NCHW input, as the original does; a graph calling view() keeps the given layout and says why. The bits are those
    of the layout-preserving graph (memory_format=torch.contiguous_format) either way."""
    x = torch.randn(2, 5, 9, 11, generator=_gen(30))
    if channels_last_input:
        x = x.contiguous(memory_format=torch.channels_last)
    model = _calibrated(_Flat(head), torch.randn(4, 5, 9, 11, generator=_gen(31))).to("aie")
    xa = x.to("aie")
    seen = []
    with torch.no_grad():
        opt = torch_aie.optimize(copy.deepcopy(model))
        for m in opt.modules():
            if isinstance(m, torch_aie.AieConv2d):
                m.register_forward_pre_hook(lambda mod, args: seen.append(args[0].is_contiguous()))
        got = opt(xa)
        want = torch_aie.optimize(copy.deepcopy(model), memory_format=torch.contiguous_format)(xa)
    inside = torch.channels_last if head == "flatten" else torch.contiguous_format
    assert opt.aie_memory_format == inside
    assert ("view" in opt.aie_memory_format_reason) == (head == "view")
    assert seen == [inside == torch.contiguous_format and not channels_last_input] * 2
    for g, w in zip(got, want):
        assert torch.equal(g.cpu(), w.cpu())
    assert got[0].is_contiguous() == (not channels_last_input)
    assert got[0].is_contiguous(memory_format=torch.channels_last) == channels_last_input
    with torch.no_grad():  # the original's layouts
        ref = model(xa)[0]
    assert got[0].is_contiguous() == ref.is_contiguous()


def test_graphs_without_2d_convs_keep_the_given_layout_and_a_bad_memory_format_is_refused():
    net = nn.Sequential(nn.Conv1d(4, 6, 3), nn.ReLU()).eval().to("aie")
    with torch.no_grad():
        opt = torch_aie.optimize(net)
    assert opt.aie_memory_format == torch.contiguous_format and "no 2-D conv" in opt.aie_memory_format_reason
    with pytest.raises(ValueError, match="torch.preserve_format"):
        torch_aie.optimize(net, memory_format=torch.preserve_format)
