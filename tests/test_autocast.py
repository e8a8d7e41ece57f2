"""torch.autocast("aie"): CUDA's policy lists (csrc/device/autocast.cpp)."""
import pytest
import torch
import torch.nn.functional as F

import torch_aie
from conv_bounds import conv_error_bound


def _r(*shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g).to("aie")


# Lower-precision ops: each call and the same call on bf16-cast inputs outside autocast.
_LOWER = {
    "conv1d": lambda a: F.conv1d(a["x1"], a["w1"], a["b"], padding=1),
    "conv2d": lambda a: F.conv2d(a["x2"], a["w2"], a["b"], padding=1),
    "conv3d": lambda a: F.conv3d(a["x3"], a["w3"], a["b"]),
    "conv_transpose2d": lambda a: F.conv_transpose2d(a["x2"], a["wt"]),
    "aie.conv2d": lambda a: torch.ops.aie.conv2d(a["x2"], a["w2"], a["b"], [1, 1], [1, 1]),
    "linear": lambda a: F.linear(a["m"], a["l"], a["lb"]),
    "matmul": lambda a: torch.matmul(a["m"], a["l"].t()),
    "mm": lambda a: torch.mm(a["m"], a["l"].t()),
    "bmm": lambda a: torch.bmm(a["bm"], a["bm"].transpose(1, 2)),
    "addmm": lambda a: torch.addmm(a["lb"], a["m"], a["l"].t()),
    "baddbmm": lambda a: torch.baddbmm(a["bm"], a["bm"], a["bm"].transpose(1, 2)[:, :, :6]),
}


def _args():
    return {"x1": _r(2, 3, 9, seed=1), "w1": _r(4, 3, 3, seed=2), "b": _r(4, seed=3),
            "x2": _r(2, 3, 6, 6, seed=4), "w2": _r(4, 3, 3, 3, seed=5),
            "x3": _r(1, 3, 4, 4, 4, seed=6), "w3": _r(4, 3, 2, 2, 2, seed=7),
            "wt": _r(3, 2, 3, 3, seed=8), "m": _r(5, 7, seed=9), "l": _r(4, 7, seed=10),
            "lb": _r(4, seed=11), "bm": _r(2, 6, 6, seed=12)}


@pytest.mark.parametrize("name", list(_LOWER))
def test_lower_precision_ops_run_in_bf16(name):
    args = _args()
    with torch.autocast("aie", dtype=torch.bfloat16):
        got = _LOWER[name](args)
    assert got.dtype == torch.bfloat16 and got.device.type == "aie"
    if "conv" in name:
        # Never a CPU bf16 conv as the reference: float64 from the bf16-rounded operands,
        # held to the bf16-tensor bound (K: every weight element, an upper bound).
        r64 = {k: v.cpu().bfloat16().double() for k, v in args.items()}
        exact = _LOWER[name](r64)
        mag = _LOWER[name]({k: v.abs() for k, v in r64.items()})
        k = max(args[w].numel() for w in ("w1", "w2", "w3", "wt"))
        excess = ((got.cpu().double() - exact).abs() - conv_error_bound("bf16_tensor", k, mag, exact)).max()
        assert excess <= 0, f"{name}: exceeds the bf16 bound by {excess.item()}"
    else:
        expected = _LOWER[name]({k: v.bfloat16() for k, v in args.items()})
        torch.testing.assert_close(got.cpu(), expected.cpu(), rtol=0, atol=0)
    assert _LOWER[name](args).dtype == torch.float32  # outside autocast: unchanged


def test_autocast_convs_run_on_aie_kernels_in_bf16():
    args = _args()
    torch_aie.reset_conv_stats()
    with torch.autocast("aie"):  # dtype defaults to bfloat16 on this thread
        F.conv2d(args["x2"], args["w2"])
    stats = torch_aie.conv_stats()
    assert sum(v for k, v in stats.items() if k.startswith("npu:")) == 1, stats


def test_fp32_ops_stay_fp32():
    x = _r(2, 4, 6, seed=13).bfloat16()
    with torch.autocast("aie", dtype=torch.bfloat16):
        assert torch.softmax(x, -1).dtype == torch.float32
        assert torch.log_softmax(x, -1).dtype == torch.float32
        assert F.layer_norm(x, (6,)).dtype == torch.float32
        assert F.group_norm(x, 2).dtype == torch.float32
        assert torch.exp(x).dtype == torch.float32
        assert x.sum().dtype == torch.float32
        assert torch.softmax(x, -1, dtype=torch.bfloat16).dtype == torch.bfloat16
        assert F.mse_loss(x, x).dtype == torch.float32
        # Ops in no list run in their input dtypes.
        assert F.relu(x).dtype == torch.bfloat16
        assert F.relu(x.float()).dtype == torch.float32
        # Promote: the widest input dtype.
        assert torch.addcmul(x.float(), x, x).dtype == torch.float32
        with pytest.raises(RuntimeError, match="unsafe to autocast"):
            F.binary_cross_entropy(torch.sigmoid(x.float()), torch.rand(2, 4, 6).to("aie"))


def test_autocast_training_step_gives_fp32_grads():
    conv = torch.nn.Conv2d(3, 4, 3, padding=1).to("aie")
    x = _r(2, 3, 6, 6, seed=14)
    with torch.autocast("aie", dtype=torch.bfloat16):
        y = conv(x)
        loss = torch.softmax(y.flatten(1), 1).square().sum()
    assert y.dtype == torch.bfloat16 and loss.dtype == torch.float32
    loss.backward()
    assert conv.weight.grad.dtype == torch.float32 and torch.isfinite(conv.weight.grad.cpu()).all()


def test_autocast_disabled_inside_and_other_dtypes_refused():
    args = _args()
    with torch.autocast("aie", dtype=torch.bfloat16):
        with torch.autocast("aie", enabled=False):
            assert F.conv2d(args["x2"], args["w2"]).dtype == torch.float32
    with pytest.warns(UserWarning, match="aie Autocast only supports dtypes of torch.bfloat16"):
        with torch.autocast("aie", dtype=torch.float16):
            assert F.conv2d(args["x2"], args["w2"]).dtype == torch.float32
