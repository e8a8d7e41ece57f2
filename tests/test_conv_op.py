"""torch.ops.aie.conv2d: schema/fake/autograd via opcheck, gradients, torch.compile,
fused ReLU, fallbacks, and bad input."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import torch_aie
from conv_bounds import conv_error_bound

SHAPES = [  # (x shape, w shape, stride, padding, dilation, groups)
    ((2, 8, 9, 9), (16, 8, 3, 3), [1, 1], [1, 1], [1, 1], 1),
    ((1, 6, 7, 10), (6, 1, 3, 3), [2, 1], [1, 0], [1, 2], 6),
    ((3, 4, 5, 5), (8, 2, 1, 1), [1, 1], [0, 0], [1, 1], 2),
]


# opcheck's autograd-registration check only knows CPU/CUDA/XPU tensors ("NYI devices
# other than CPU/CUDA/XPU"); the op's CPU kernel is the same emulator and its autograd
# registration is device-independent, so that check runs on CPU and the rest on aie.
AIE_UTILS = ("test_schema", "test_faketensor", "test_aot_dispatch_dynamic")


@pytest.mark.parametrize("fmt", [torch.contiguous_format, torch.channels_last])
@pytest.mark.parametrize("device", ["aie", "cpu"])
@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("shape", SHAPES)
def test_opcheck(shape, relu, device, fmt):
    """channels_last inputs too: the fake must give the kernel's output layout."""
    xs, ws, stride, padding, dilation, groups = shape
    x = torch.randn(xs, device=device).contiguous(memory_format=fmt).requires_grad_()
    w = torch.randn(ws, device=device, requires_grad=True)
    b = torch.randn(ws[0], device=device, requires_grad=True)
    utils = AIE_UTILS if device == "aie" else AIE_UTILS + ("test_autograd_registration",)
    torch.library.opcheck(torch.ops.aie.conv2d.default,
                          (x, w, b, stride, padding, dilation, groups, "auto", relu), test_utils=utils)


def test_custom_op_matches_aten_with_fused_relu():
    x, w, b = torch.randn(2, 8, 9, 9), torch.randn(16, 8, 3, 3), torch.randn(16)
    y = torch_aie.conv2d(x.to("aie"), w.to("aie"), b.to("aie"), padding=1, relu=True).cpu()
    r = lambda t: t.to(torch.bfloat16).double()  # noqa: E731
    ref = F.relu(F.conv2d(r(x), r(w), b.double(), padding=1))
    assert (y.double() - ref).abs().max().item() < 1e-3 * ref.abs().max().item()
    assert (y >= 0).all()


@pytest.mark.parametrize("precision", ["bf16", "bf16x3"])
def test_gradients_match_cpu(precision):
    torch_aie.set_conv_precision(precision)
    torch.manual_seed(0)
    conv = nn.Conv2d(6, 10, 3, stride=2, padding=1, groups=2)
    conv_aie = nn.Conv2d(6, 10, 3, stride=2, padding=1, groups=2)
    conv_aie.load_state_dict(conv.state_dict())
    conv_aie.to("aie")
    x = torch.randn(3, 6, 11, 11, requires_grad=True)
    xa = x.detach().to("aie").requires_grad_()
    g = torch.randn(3, 10, 6, 6)
    conv(x).backward(g)
    conv_aie(xa).backward(g.to("aie"))
    # Backward runs in fp32 on the host: gradients equal ATen's up to fp32 rounding.
    torch.testing.assert_close(xa.grad.cpu(), x.grad)
    torch.testing.assert_close(conv_aie.weight.grad.cpu(), conv.weight.grad)
    torch.testing.assert_close(conv_aie.bias.grad.cpu(), conv.bias.grad)


def test_gradcheck_custom_op_in_bf16x3():
    """bf16x3 is close enough to fp32 for finite differences in float32 at loose eps."""
    torch_aie.set_conv_precision("bf16x3")
    x = torch.randn(1, 2, 5, 5, dtype=torch.float32, device="aie", requires_grad=True)
    w = torch.randn(3, 2, 3, 3, dtype=torch.float32, device="aie", requires_grad=True)
    fn = lambda x, w: torch_aie.conv2d(x, w, None, padding=1)  # noqa: E731
    # gradcheck perturbs the weight through `.data`, which has its own version counter:
    # such writes are invisible to the weight cache (documented), so it is off here.
    with torch_aie.weight_cache_enabled(False):
        assert torch.autograd.gradcheck(fn, (x, w), eps=1e-2, atol=1e-2, rtol=1e-2)


_ACTS = {"none": lambda t: t, "relu": torch.relu, "relu6": F.relu6, "hardswish": F.hardswish, "silu": F.silu,
         "gelu": F.gelu}


_GRAD_CASES = [(b, r, needs) for b in (False, True) for r in (False, True)
               for needs in ("all", "weight", "residual") if r or needs != "residual"]


@pytest.mark.parametrize("with_bias,with_residual,needs", _GRAD_CASES)
@pytest.mark.parametrize("act", list(_ACTS))
def test_gradients_of_every_epilogue_match_aten(act, with_bias, with_residual, needs):
    """The op's autograd (csrc/ops/conv/conv2d_autograd.cpp) against ATen's autograd of
    act(conv + bias + residual), for every activation, with and without bias and residual,
    and with only some inputs requiring grad (the Function's edges shift with them)."""
    torch_aie.set_conv_precision("ieee")
    g = torch.Generator().manual_seed(hash((act, with_bias, with_residual, needs)) % 2**31)
    x, w = torch.randn(2, 4, 7, 7, generator=g), torch.randn(6, 4, 3, 3, generator=g) * 0.3
    b = torch.randn(6, generator=g) if with_bias else None
    r = torch.randn(2, 6, 7, 7, generator=g) if with_residual else None
    grad_of = {"all": ("x", "w", "b", "r"), "weight": ("w",), "residual": ("r", "b")}[needs]
    leaves_cpu = {k: t.clone().requires_grad_(k in grad_of) for k, t in dict(x=x, w=w, b=b, r=r).items() if t is not None}
    leaves_aie = {k: t.detach().to("aie").requires_grad_(k in grad_of) for k, t in leaves_cpu.items()}
    out_aie = torch_aie.conv2d(leaves_aie["x"], leaves_aie["w"], leaves_aie.get("b"), 1, 1, activation=act,
                               residual=leaves_aie.get("r"))
    pre = F.conv2d(leaves_cpu["x"], leaves_cpu["w"], leaves_cpu.get("b"), 1, 1)
    out_cpu = _ACTS[act](pre + leaves_cpu["r"] if with_residual else pre)
    gy = torch.randn(out_cpu.shape, generator=g)
    out_aie.backward(gy.to("aie"))
    out_cpu.backward(gy)
    for k, t in leaves_cpu.items():
        if k not in grad_of:
            assert leaves_aie[k].grad is None
            continue
        torch.testing.assert_close(leaves_aie[k].grad.cpu(), t.grad, rtol=1e-4, atol=1e-4, msg=f"grad of {k}")


# Emulated paths an epilogue runs on: (x shape, w shape, padding, groups, dtype, layout).
EPILOGUE_PATHS = {
    "1x1 bf16 channels_last (input in place, fused GEMM output)": ((2, 32, 8, 16), (48, 32, 1, 1), 0, 1, torch.bfloat16, True),
    "3x3 bf16 (direct)": ((1, 16, 10, 12), (32, 16, 3, 3), 1, 1, torch.bfloat16, False),
    "depthwise bf16 channels_last (in place, window kernel)": ((1, 32, 6, 40), (32, 1, 3, 3), 1, 32, torch.bfloat16, True),
    "3x3 fp32 (bf16 operands)": ((1, 8, 7, 7), (16, 8, 3, 3), 1, 1, torch.float32, False),
}
# The largest slope of each activation: an error e before it is at most L e after it.
_LIPSCHITZ = {"none": 1.0, "relu": 1.0, "relu6": 1.0, "hardswish": 1.5, "silu": 1.1, "gelu": 1.13}


@pytest.mark.parametrize("path", list(EPILOGUE_PATHS))
@pytest.mark.parametrize("act", list(_ACTS))
def test_every_fused_activation_on_every_emulated_path_holds_the_bound(act, path):
    """act(conv + bias) from the epilogue against the activation of ATen's float64 conv
    of the same bf16-rounded operands: within the slope times the conv's bound (GELU: plus
    its erf fit's 4e-7 |v| / 2)."""
    xs, ws, pad, groups, dtype, cl = EPILOGUE_PATHS[path]
    g = torch.Generator().manual_seed(len(path) * 7 + len(act))
    x, w, b = 2 * torch.randn(xs, generator=g), 0.3 * torch.randn(ws, generator=g), torch.randn(ws[0], generator=g)
    x, w, b = x.to(dtype), w.to(dtype), b.to(dtype)
    if cl:
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch_aie.conv2d(x.to("aie"), w.to("aie"), b.to("aie"), 1, pad, groups=groups, activation=act).cpu()
    r = lambda t: t.to(torch.bfloat16).double()  # noqa: E731
    pre = F.conv2d(r(x), r(w), b.double(), 1, pad, 1, groups)
    mag = F.conv2d(r(x).abs(), r(w).abs(), b.double().abs(), 1, pad, 1, groups)
    k = ws[1] * ws[2] * ws[3]
    tol = _LIPSCHITZ[act] * conv_error_bound("bf16_tensor" if dtype == torch.bfloat16 else "bf16", k, mag, pre)
    if act == "gelu":
        tol = tol + 0.5 * 4e-7 * pre.abs()
    err = (y.double() - _ACTS[act](pre)).abs()
    assert (err <= tol).all(), f"{act} on {path}: max excess {(err - tol).max().item()}"


@pytest.mark.parametrize("act", ["silu", "hardswish", "relu6", "gelu"])
def test_double_backward_through_the_op_matches_aten(act):
    torch_aie.set_conv_precision("ieee")
    g = torch.Generator().manual_seed(3)
    x, w = torch.randn(1, 3, 6, 6, generator=g), torch.randn(4, 3, 3, 3, generator=g) * 0.3
    grads = []
    for dev, conv in (("aie", lambda x, w: torch_aie.conv2d(x, w, None, 1, 1, activation=act)),
                      ("cpu", lambda x, w: _ACTS[act](F.conv2d(x, w, None, 1, 1)))):
        xd, wd = x.to(dev).requires_grad_(), w.to(dev).requires_grad_()
        (gx,) = torch.autograd.grad(conv(xd, wd).sum(), xd, create_graph=True)
        gx.pow(2).sum().backward()
        grads.append(wd.grad.cpu())
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-4, atol=1e-4)


def test_torch_compile_matches_eager():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 4, 1)).to("aie").eval()
    x = torch.randn(2, 3, 12, 12, device="aie")
    with torch.no_grad():
        eager = model(x).cpu()
        compiled = torch.compile(model)(x).cpu()
    torch.testing.assert_close(compiled, eager, rtol=0, atol=0)


def test_unservable_convs_fall_back_with_reason_and_stay_correct():
    torch_aie.reset_conv_stats()
    x = torch.randn(1, 4, 6, 6, dtype=torch.float64)
    w = torch.randn(3, 4, 3, 3, dtype=torch.float64)
    y = F.conv2d(x.to("aie"), w.to("aie")).cpu()
    torch.testing.assert_close(y, F.conv2d(x, w))
    wt = torch.randn(4, 2, 3, 3)
    xt = torch.randn(1, 4, 5, 5)
    yt = F.conv_transpose2d(xt.to("aie"), wt.to("aie"), stride=2).cpu()
    torch.testing.assert_close(yt, F.conv_transpose2d(xt, wt, stride=2))
    x3, w3 = torch.randn(1, 2, 4, 4, 4), torch.randn(3, 2, 2, 2, 2)
    torch.testing.assert_close(F.conv3d(x3.to("aie"), w3.to("aie")).cpu(), F.conv3d(x3, w3))
    reasons = [k for k, v in torch_aie.conv_stats().items() if k.startswith("cpu_fallback") and v]
    assert any("Double" in r for r in reasons)
    assert any("transposed" in r for r in reasons)
    assert any("3-D" in r for r in reasons)


BAD = [
    (lambda d: F.conv2d(torch.randn(1, 3, 5, 5, device=d), torch.randn(4, 2, 3, 3, device=d)), "3 channels"),
    (lambda d: F.conv2d(torch.randn(1, 4, 5, 5, device=d), torch.randn(4, 2, 3, 3, device=d), groups=3),
     "groups"),
    (lambda d: F.conv2d(torch.randn(1, 2, 2, 2, device=d), torch.randn(4, 2, 3, 3, device=d)), "ernel size"),
    (lambda d: F.conv2d(torch.randn(1, 2, 5, 5, device=d), torch.randn(4, 2, 3, 3, device=d), stride=0),
     "stride"),
    (lambda d: F.conv2d(torch.randn(1, 2, 5, 5, device=d), torch.randn(4, 2, 3, 3, device=d),
                        torch.randn(3, device=d)), "bias"),
    (lambda d: F.conv2d(torch.randn(1, 2, 5, 5, device=d), torch.randn(4, 2, 3, 3, device=d),
                        padding=-1), "padding"),
]


@pytest.mark.parametrize("call,needle", BAD, ids=["channels", "groups", "kernel", "stride", "bias", "padding"])
def test_bad_input_raises_like_aten(call, needle):
    with pytest.raises(RuntimeError, match=needle) as aie_err:
        call("aie")
    with pytest.raises(RuntimeError) as cpu_err:
        call("cpu")
    assert str(aie_err.value).split("\n")[0] == str(cpu_err.value).split("\n")[0]


def test_mixed_devices_and_dtypes_raise():
    x = torch.randn(1, 2, 5, 5, device="aie")
    with pytest.raises(RuntimeError, match="same device"):
        F.conv2d(x, torch.randn(4, 2, 3, 3))
    with pytest.raises(RuntimeError, match="should be the same"):
        F.conv2d(x, torch.randn(4, 2, 3, 3, dtype=torch.bfloat16, device="aie"))
    with pytest.raises(ValueError, match="'fast'"):
        torch_aie.set_conv_precision("fast")
    with pytest.raises(ValueError, match="'winograd'"):
        torch_aie.conv2d(x, torch.randn(4, 2, 3, 3, device="aie"), algorithm="winograd")


def test_autotune_picks_an_applicable_algorithm_once_per_shape():
    torch.ops._aie.clear_conv_autotune()
    torch_aie.set_conv_autotune(True)
    try:
        x, w = torch.randn(1, 32, 10, 10), torch.randn(32, 32, 1, 1)
        torch_aie.reset_conv_stats()
        for _ in range(3):
            y = F.conv2d(x.to("aie"), w.to("aie")).cpu()
        assert torch_aie.conv_autotuned_shapes() == 1
        stats = torch_aie.conv_stats()
        served = {k: v for k, v in stats.items() if k.startswith("npu:") and v}
        assert sum(served.values()) == 3 and len(served) == 1  # one choice, kept
        assert set(served) <= {"npu:gemm_1x1", "npu:direct", "npu:im2col_gemm"}
        r = lambda t: t.to(torch.bfloat16).double()  # noqa: E731
        ref = F.conv2d(r(x), r(w))
        assert (y.double() - ref).abs().max().item() < 1e-3 * ref.abs().max().item()
    finally:
        torch_aie.set_conv_autotune(False)
        torch.ops._aie.clear_conv_autotune()


def test_each_call_follows_the_settings_in_force_for_a_shape_it_has_seen():
    """Decisions are memoised per shape (conv_forward.cpp): a repeated shape must still
    see a changed algorithm override and precision (the array and backend are keyed the
    same way)."""
    x, w = torch.randn(1, 16, 8, 8, device="aie"), torch.randn(16, 16, 3, 3, device="aie")

    def served(*args, **kwargs):
        torch_aie.reset_conv_stats()
        torch_aie.conv2d(*args, **kwargs)
        return {k: v for k, v in torch_aie.conv_stats().items() if v}

    assert served(x, w, padding=1) == {"npu:direct": 1}
    with torch_aie.conv_algorithm("im2col_gemm"):
        assert served(x, w, padding=1) == {"npu:im2col_gemm": 1}
    with torch_aie.conv_precision("ieee"):
        assert list(served(x, w, padding=1)) == ["cpu_fallback:precision 'ieee' asks for exact fp32, which the NPU does not compute"]
    assert served(x, w, padding=1, activation="silu") == {"npu:direct": 1}
    assert served(x, w, padding=1) == {"npu:direct": 1}
