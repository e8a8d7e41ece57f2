"""Generated conv configurations on aie vs ATen on the CPU, held to the numeric
contract's bounds (tests/conv_bounds.py), with every applicable algorithm forced."""
import random
import zlib

import pytest
import torch
import torch.nn.functional as F

import torch_aie
from conv_bounds import conv_error_bound

ALGORITHMS = ["auto", "im2col_gemm", "gemm_1x1", "direct", "depthwise"]


def _gen_configs(n, seed=20261123):
    rng = random.Random(seed)
    out = []
    while len(out) < n:
        dims = 1 if rng.random() < 0.15 else 2
        kind = rng.choices(["plain", "grouped", "depthwise"], [0.6, 0.2, 0.2])[0]
        groups = 1 if kind == "plain" else rng.randint(2, 4) if kind == "grouped" else rng.randint(1, 24)
        cg, ocg = (1, 1) if kind == "depthwise" else (rng.randint(1, 20), rng.randint(1, 20))
        k = [rng.randint(1, 7) for _ in range(dims)]
        stride = [rng.randint(1, 3) for _ in range(dims)]
        dilation = [rng.randint(1, 3) for _ in range(dims)]
        pmode = rng.choice(["int", "int", "zero", "same", "valid"])
        if pmode == "same":
            stride = [1] * dims  # ATen allows "same" only with stride 1
            padding = "same"
        elif pmode == "valid":
            padding = "valid"
        elif pmode == "zero":
            padding = [0] * dims
        else:
            padding = [rng.randint(0, 3) for _ in range(dims)]
        spatial = [rng.randint(1, 15) for _ in range(dims)]
        pads = [0] * dims if isinstance(padding, str) else padding
        if pmode != "same" and any(s + 2 * p < d * (kk - 1) + 1 for s, p, d, kk in zip(spatial, pads, dilation, k)):
            continue
        out.append(dict(dims=dims, n=rng.randint(0, 4), c=cg * groups, oc=ocg * groups, groups=groups,
                        k=k, stride=stride, dilation=dilation, padding=padding, spatial=spatial,
                        bias=rng.random() < 0.7, channels_last=dims == 2 and rng.random() < 0.3))
    return out


CONFIGS = _gen_configs(320)
# (tensor dtype, precision setting, bound mode)
NUMERICS = [(torch.float32, "bf16", "bf16"), (torch.float32, "bf16x3", "bf16x3"),
            (torch.float32, "ieee", "ieee"), (torch.bfloat16, "bf16", "bf16_tensor")]


def _make(cfg, dtype, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(cfg["n"], cfg["c"], *cfg["spatial"], generator=g).to(dtype)
    w = torch.randn(cfg["oc"], cfg["c"] // cfg["groups"], *cfg["k"], generator=g).to(dtype)
    b = torch.randn(cfg["oc"], generator=g).to(dtype) if cfg["bias"] else None
    if cfg["channels_last"]:
        x = x.to(memory_format=torch.channels_last)
    return x, w, b


def _conv(cfg, x, w, b):
    f = F.conv1d if cfg["dims"] == 1 else F.conv2d
    return f(x, w, b, cfg["stride"], cfg["padding"], cfg["dilation"], cfg["groups"])


def _check(cfg, dtype, mode, algorithm="auto"):
    x, w, b = _make(cfg, dtype, seed=zlib.crc32(str(cfg).encode()))
    x0, w0 = x.clone(), w.clone()
    dev = lambda t: None if t is None else t.to("aie")  # noqa: E731
    with torch_aie.conv_algorithm(algorithm):
        y = _conv(cfg, dev(x), dev(w), dev(b))
    assert y.device.type == "aie"
    # Shape and memory format from an fp32 conv of the same (bf16-valued) operands: CPU
    # bf16/fp16 convs are never a reference (oneDNN's AMX bf16 conv crashes on some shapes).
    f32 = lambda t: None if t is None else t.float()  # noqa: E731
    cpu = _conv(cfg, f32(x), f32(w), f32(b))
    assert y.shape == cpu.shape and y.dtype == x.dtype
    if y.dim() == 4 and y.numel() > 0:
        cl = torch.channels_last
        assert y.is_contiguous(memory_format=cl) == cpu.is_contiguous(memory_format=cl)
    d = lambda t: None if t is None else t.double()  # noqa: E731
    ab = lambda t: None if t is None else t.double().abs()  # noqa: E731
    ref = _conv(cfg, d(x), d(w), d(b))
    mag = _conv(cfg, ab(x), ab(w), ab(b))
    k = (cfg["c"] // cfg["groups"]) * int(torch.tensor(cfg["k"]).prod())
    err = (y.cpu().double() - ref).abs()
    tol = conv_error_bound(mode, k, mag, ref)
    worst = (err - tol).max().item() if err.numel() else -1.0
    assert worst <= 0, f"error exceeds the {mode} bound by {worst:.3g} for {cfg} ({algorithm})"
    assert torch.equal(x, x0) and torch.equal(w, w0), "inputs were modified"


@pytest.mark.parametrize("dtype,precision,mode", NUMERICS, ids=[n[2] for n in NUMERICS])
@pytest.mark.parametrize("cfg", CONFIGS, ids=[f"cfg{i}" for i in range(len(CONFIGS))])
def test_conv_matches_aten(cfg, dtype, precision, mode):
    torch_aie.set_conv_precision(precision)
    torch_aie.reset_conv_stats()
    _check(cfg, dtype, mode)
    stats = torch_aie.conv_stats()
    on_npu = sum(v for k, v in stats.items() if k.startswith("npu:"))
    assert on_npu == (0 if precision == "ieee" else 1), stats


@pytest.mark.parametrize("algorithm", ALGORITHMS[1:])
def test_every_algorithm_forced_where_it_applies(algorithm):
    """The whole sweep, each algorithm forced; configurations it cannot serve are
    counted as such and must go to the planner's own choice, still correct."""
    served = 0
    for cfg in CONFIGS:
        for dtype, precision, mode in (NUMERICS[0], NUMERICS[1], NUMERICS[3]):
            torch_aie.set_conv_precision(precision)
            torch_aie.reset_conv_stats()
            _check(cfg, dtype, mode, algorithm)
            served += torch_aie.conv_stats().get(f"npu:{algorithm}", 0)
    assert served > 0, f"{algorithm} served none of the sweep"


def test_explain_names_algorithm_and_fallback_reason():
    x = torch.empty(1, 32, 8, 8, device="meta")
    assert torch_aie.explain_conv(x, torch.empty(32, 1, 3, 3, device="meta"), groups=32).startswith("depthwise")
    assert torch_aie.explain_conv(x, torch.empty(16, 32, 1, 1, device="meta")).startswith("gemm_1x1")
    assert torch_aie.explain_conv(x, torch.empty(16, 32, 3, 3, device="meta"), padding=1).startswith("direct")
    x3 = torch.empty(1, 3, 8, 8, device="meta")
    assert torch_aie.explain_conv(x3, torch.empty(16, 3, 7, 7, device="meta")).startswith("im2col_gemm")
    xd = torch.empty(1, 3, 8, 8, dtype=torch.float64, device="meta")
    msg = torch_aie.explain_conv(xd, torch.empty(4, 3, 3, 3, dtype=torch.float64, device="meta"))
    assert msg.startswith("cpu_fallback") and "Double" in msg
    assert "transposed" in torch_aie.explain_conv(x3, torch.empty(3, 4, 3, 3, device="meta"), transposed=True)
