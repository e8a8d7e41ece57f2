"""Forward-mode AD on aie, and the ZeroTensors it makes: every input without a tangent gets
a memory-less ZeroTensor tangent, which the CPU fallback must materialise, never alias."""
import pytest
import torch
import torch.nn.functional as F
from torch.func import jvp

import torch_aie
from conv_bounds import conv_error_bound


def _bf16_exact(*shape, seed):
    # Operands representable in bf16: the aie conv's operand rounding is then exact and
    # only its fp32 accumulation differs from the float64 reference.
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=torch.float64).to(torch.bfloat16).float()


def test_efficientzerotensor_arithmetic_and_copies():
    z = torch._efficientzerotensor((4, 4), device="aie")
    assert z.device.type == "aie" and z._is_zerotensor()
    torch.testing.assert_close((z + 1).cpu(), torch.ones(4, 4), rtol=0, atol=0)
    torch.testing.assert_close((z * torch.randn(4, 4, device="aie")).cpu(), torch.zeros(4, 4), rtol=0, atol=0)
    torch.testing.assert_close(torch.exp(z).cpu(), torch.ones(4, 4), rtol=0, atol=0)
    torch.testing.assert_close(z.cpu(), torch.zeros(4, 4), rtol=0, atol=0)
    torch.testing.assert_close(z.clone().add_(2).cpu(), torch.full((4, 4), 2.0), rtol=0, atol=0)
    x = torch.randn(4, 4)
    torch.testing.assert_close(torch.cat([z, x.to("aie")]).cpu(), torch.cat([torch.zeros(4, 4), x]),
                               rtol=0, atol=0)
    with pytest.raises(RuntimeError, match="ZeroTensors are immutable"):
        z.add_(1)
    assert torch._efficientzerotensor((2, 3), dtype=torch.bfloat16, device="aie:0").dtype == torch.bfloat16


def test_fallback_materialises_zerotensor_arguments():
    # An op the CPU fallback serves (no aie kernel), handed a ZeroTensor directly.
    z = torch._efficientzerotensor((3, 5), device="aie")
    out = torch.ops.aten.cumsum.default(z, 1)
    torch.testing.assert_close(out.cpu(), torch.zeros(3, 5), rtol=0, atol=0)


def _conv1d(x, w, b):
    return F.conv1d(x, w, b, padding=1)


def _conv2d(x, w, b):
    return F.conv2d(x, w, b, stride=2, padding=1)


def _linear(x, w, b):
    return F.linear(x, w, b)


def _batch_norm(x, w, b):
    return F.batch_norm(x, None, None, w, b, training=True)


# (function, shapes of x, w, b, reduction length K of one output or None if no conv/GEMM)
_CASES = {
    "conv1d": (_conv1d, [(2, 3, 9), (4, 3, 3), (4,)], 9),
    "conv2d": (_conv2d, [(2, 3, 7, 7), (4, 3, 3, 3), (4,)], 27),
    "linear": (_linear, [(2, 5), (3, 5), (3,)], 5),
    "batch_norm": (_batch_norm, [(4, 3, 5, 5), (3,), (3,)], None),
}


@pytest.mark.parametrize("tangents", ["input_only", "full"])
@pytest.mark.parametrize("name", list(_CASES))
def test_jvp_matches_cpu(name, tangents):
    f, shapes, k = _CASES[name]
    primals = [_bf16_exact(*s, seed=i) for i, s in enumerate(shapes)]
    tans = [_bf16_exact(*s, seed=10 + i) for i, s in enumerate(shapes)]
    aie = lambda ts: [t.to("aie") for t in ts]  # noqa: E731
    if tangents == "input_only":
        # Only x has a tangent: w and b get ZeroTensor tangents inside forward AD.
        out = jvp(lambda x: f(x, *aie(primals[1:])), (primals[0].to("aie"),), (tans[0].to("aie"),))
        ref = jvp(lambda x: f(x, *[p.double() for p in primals[1:]]), (primals[0].double(),),
                  (tans[0].double(),))
        tans = [tans[0]] + [torch.zeros_like(t) for t in tans[1:]]
    else:
        out = jvp(f, tuple(aie(primals)), tuple(aie(tans)))
        ref = jvp(f, tuple(p.double() for p in primals), tuple(t.double() for t in tans))
    assert all(o.device.type == "aie" for o in out)
    primal_out, tangent_out = (o.cpu().double() for o in out)
    if k is None:
        # batch_norm runs through the CPU fallback in fp32.
        torch.testing.assert_close(primal_out, ref[0], rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(tangent_out, ref[1], rtol=1e-5, atol=1e-5)
        return
    # Linear in each operand: the magnitudes are the same maps of the absolute values.
    x, w, b = (p.double().abs() for p in primals)
    tx, tw, tb = (t.double().abs() for t in tans)
    mag_primal = f(x, w, b)
    mag_tangent = f(tx, w, tb) + f(x, tw, torch.zeros_like(tb))
    for got, exact, mag in ((primal_out, ref[0], mag_primal), (tangent_out, ref[1], mag_tangent)):
        # The tangent is a sum of two products, each within the bound: 2x for the sum.
        excess = ((got - exact).abs() - 2 * conv_error_bound("bf16", k, mag, exact)).max().item()
        assert excess <= 0, f"{name} ({tangents}): error exceeds the bound by {excess}"


def test_jvp_conv_runs_on_aie_kernels():
    w = _bf16_exact(4, 3, 3, 3, seed=1).to("aie")
    x = _bf16_exact(2, 3, 6, 6, seed=2).to("aie")
    torch_aie.reset_conv_stats()
    jvp(lambda x: F.conv2d(x, w), (x,), (torch.ones_like(x),))
    stats = torch_aie.conv_stats()
    assert sum(v for key, v in stats.items() if key.startswith("npu:")) >= 2, stats


def test_gradcheck_forward_ad_small_conv():
    # float64: gradcheck's finite differences need it; float64 convs run on the host
    # (counted), so this checks the device's forward/backward AD plumbing end to end.
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, 2, 5, 5, dtype=torch.float64, generator=g).to("aie").requires_grad_()
    w = torch.randn(3, 2, 3, 3, dtype=torch.float64, generator=g).to("aie").requires_grad_()
    b = torch.randn(3, dtype=torch.float64, generator=g).to("aie").requires_grad_()
    assert torch.autograd.gradcheck(lambda x, w, b: F.conv2d(x, w, b, padding=1), (x, w, b),
                                    check_forward_ad=True)


def test_hessian_through_conv():
    w = _bf16_exact(3, 2, 3, 3, seed=3)
    x = _bf16_exact(1, 2, 5, 5, seed=4)
    loss = lambda w: lambda x: (F.conv2d(x, w) ** 2).sum()  # noqa: E731
    got = torch.func.hessian(loss(w.to("aie")))(x.to("aie")).cpu().double()
    ref = torch.func.hessian(loss(w.double()))(x.double())
    # H = 2 J^T J with J the (linear) conv: the second-order products are bf16 operand
    # rounding of intermediates; a 2^-6 relative tolerance is 4 bf16 units.
    torch.testing.assert_close(got, ref, rtol=2.0**-6, atol=2.0**-6 * ref.abs().max().item())
