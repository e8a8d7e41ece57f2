"""optimize() runs nn.Linear on the NPU (torch_aie.AieLinear: a 1x1 conv over the rows
of a channels-last view) with a per-feature scale folded in, the residual add fused
directly or through a permute (ConvNeXt's block), and GELU / ReLU / ... fused; results
against ATen in float64 on the same bf16-rounded operands, within the numeric contract."""
import copy
import operator

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import torch_aie
from conv_bounds import conv_error_bound
from torch_aie import models

GELU_FIT = 4e-7  # absolute error of the epilogue's erf (aie_kernels/kernel_table.h)


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def _optimized(model):
    with torch.no_grad():
        return torch_aie.optimize(copy.deepcopy(model).to("aie"))


def _bf16_values(t):
    return t.to(torch.bfloat16).double()


@pytest.mark.parametrize("lead", [(2, 5, 7), (3,), (1,), (64,)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("act", ["none", "gelu", "relu"])
def test_linear_with_activation_matches_aten_on_bf16_operands(lead, dtype, act):
    """Rows of any count (a classifier head's 1 to a feature map's 70), fp32 (operands
    rounded to bf16 once, fp32 out) and bf16 (one rounding of the output)."""
    torch.manual_seed(0)
    acts = {"none": nn.Identity(), "gelu": nn.GELU(), "relu": nn.ReLU()}
    model = nn.Sequential(nn.Linear(24, 40), acts[act]).eval().to(dtype)
    x = torch.randn(*lead, 24, generator=_gen(1)).to(dtype)
    opt = _optimized(model)
    assert opt.aie_optimize_stats["linears"] == 1
    assert opt.aie_optimize_stats["activations_fused"] == ({} if act == "none" else {act: 1})
    with torch.no_grad():
        got = opt(x.to("aie")).cpu()
    assert got.shape == (*lead, 40) and got.dtype == dtype
    lin = model[0]
    xd, wd, bd = _bf16_values(x), _bf16_values(lin.weight), lin.bias.double()
    pre = F.linear(xd, wd, bd)
    mag = F.linear(xd.abs(), wd.abs(), bd.abs())
    mode = "bf16_tensor" if dtype == torch.bfloat16 else "bf16"
    # every fused activation here is 1.13-Lipschitz at most (GELU's slope peaks at 1.13)
    tol = 1.13 * conv_error_bound(mode, 24, mag, pre) + (0.5 * GELU_FIT * pre.abs() if act == "gelu" else 0)
    want = {"none": pre, "gelu": F.gelu(pre), "relu": torch.relu(pre)}[act]
    err = (got.double() - want).abs()
    assert (err <= tol).all(), f"max excess {(err - tol).max().item()}"


def test_non_contiguous_input_is_read_correctly():
    model = nn.Sequential(nn.Linear(16, 8)).eval()
    x = torch.randn(6, 16, 5, generator=_gen(2)).transpose(1, 2)  # (6, 5, 16), not contiguous
    opt = _optimized(model)
    assert opt.aie_optimize_stats["linears"] == 1
    with torch.no_grad():
        got = opt(x.to("aie")).cpu()
        want = F.linear(_bf16_values(x), _bf16_values(model[0].weight), model[0].bias.double())
    torch.testing.assert_close(got.double(), want, rtol=0.02, atol=0.02)


class Block(models.ConvNeXtBlock):
    """ConvNeXt's block with a layer scale of random values (the model's is constant)."""

    def __init__(self, c):
        super().__init__(c)
        with torch.no_grad():
            self.gamma.uniform_(0.5, 1.5)


@pytest.mark.parametrize("dtype,fmt", [(torch.float32, torch.contiguous_format),
                                       (torch.bfloat16, torch.channels_last)])
def test_convnext_block_folds_the_scale_and_fuses_the_permuted_residual(dtype, fmt):
    """pw1 + GELU fused; pw2 * gamma folded; `x + y.permute(0, 3, 1, 2)` read by pw2's
    epilogue through the inverse permute: no mul, add or gelu is left in the graph."""
    torch.manual_seed(3)
    model = Block(16).eval().to(dtype)
    x = torch.randn(2, 16, 9, 9, generator=_gen(4)).to(dtype).contiguous(memory_format=fmt)
    opt = _optimized(model)
    assert opt.aie_optimize_stats == {"convs": 1, "bn_folded": 0, "linears": 2, "scales_folded": 1,
                                      "residuals_fused": 1, "input_scales_fused": 0, "activations_fused": {"gelu": 1}}
    assert not any(n.op == "call_function" and n.target in (operator.add, operator.mul, F.gelu)
                   for n in opt.graph.nodes)
    assert [m.residual_permute for m in opt.modules() if isinstance(m, torch_aie.AieLinear)] == [None, [0, 3, 1, 2]]
    with torch.no_grad():
        got = opt(x.to("aie")).cpu().double()
        plain = copy.deepcopy(model).to("aie")(x.to("aie")).cpu().double()
        m32, x32 = copy.deepcopy(model).float(), x.float()
        ref = copy.deepcopy(m32).double()(x32.double())
        e_bf16 = (models.bf16_operand_model(m32, linears=True)(x32).double() - ref).abs().max().item()
    # a bf16 model also rounds every activation between the ops: one bf16 ulp of the output
    slack = 2.0**-8 * ref.abs().max().item() if dtype == torch.bfloat16 else 0.0
    assert got.shape == ref.shape
    assert (got - ref).abs().max().item() <= 3 * e_bf16 + slack
    assert (plain - ref).abs().max().item() <= 3 * e_bf16 + slack


class LateResidual(nn.Module):
    """The residual operand computed after the Linear (the fused module must move
    after it), through a permute, then an activation."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(8, 12)
        self.conv = nn.Conv2d(8, 12, 1)

    def forward(self, x):  # x: (N, H, W, 8)
        y = self.lin(x).permute(0, 3, 1, 2)
        r = torch.tanh(self.conv(x.permute(0, 3, 1, 2)))
        return torch.relu(y + r)


def test_a_residual_computed_after_the_linear_moves_the_linear():
    model = LateResidual().eval()
    x = torch.randn(2, 5, 6, 8, generator=_gen(5))
    opt = _optimized(model)
    assert opt.aie_optimize_stats["linears"] == 1 and opt.aie_optimize_stats["residuals_fused"] == 1
    assert opt.aie_optimize_stats["activations_fused"] == {"relu": 1}
    with torch.no_grad():
        got = opt(x.to("aie")).cpu()
        ref = model(x)
        e_bf16 = (models.bf16_operand_model(model, linears=True)(x) - ref).abs().max().item()
    assert got.shape == ref.shape
    assert (got - ref).abs().max().item() <= 3 * e_bf16


def test_a_scale_that_is_not_per_feature_is_left_alone():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(8, 6)
            self.s = nn.Parameter(torch.rand(5, 1))  # scales rows, not features

        def forward(self, x):
            return self.lin(x) * self.s

    model = Net().eval()
    x = torch.randn(5, 8, generator=_gen(6))
    opt = _optimized(model)
    assert opt.aie_optimize_stats["scales_folded"] == 0
    assert any(n.op == "call_function" and n.target is operator.mul for n in opt.graph.nodes)
    with torch.no_grad():
        torch.testing.assert_close(opt(x.to("aie")).cpu(), model(x), rtol=0.02, atol=0.02)


def test_bad_and_empty_inputs():
    opt = _optimized(nn.Sequential(nn.Linear(24, 40)).eval())
    assert opt.aie_optimize_stats["linears"] == 1
    with pytest.raises(RuntimeError, match=r"shape \(4, 10\) does not end in in_features = 24"):
        opt(torch.randn(4, 10).to("aie"))
    x = torch.randn(3, 24, generator=_gen(7)).to("aie")
    before = x.cpu()
    assert opt(torch.empty(0, 24).to("aie")).shape == (0, 40)
    assert torch.equal(x.cpu(), before)  # the caller's tensor untouched


def test_a_linear_without_features_gives_its_activated_bias():
    model = nn.Sequential(nn.Linear(0, 5), nn.ReLU()).eval()
    opt = _optimized(model)
    assert opt.aie_optimize_stats["linears"] == 1
    x = torch.empty(3, 0)
    torch.testing.assert_close(opt(x.to("aie")).cpu(), model(x), rtol=0, atol=0)
