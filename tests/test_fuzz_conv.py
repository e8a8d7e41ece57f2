"""Fuzzed conv calls against ATen on the CPU (deterministic seeds).

CI runs TORCH_AIE_FUZZ_CASES (default 2000) cases; a longer run:
    TORCH_AIE_FUZZ_CASES=50000 .venv/bin/python -m pytest -q tests/test_fuzz_conv.py
Valid calls must match ATen within the numeric bound, with NaN/Inf where ATen has them;
invalid calls must raise ATen's error (or, for device/dtype mix-ups, one naming the
argument); inputs are never modified."""
import os
import random

import pytest
import torch
import torch.nn.functional as F

import torch_aie
from conv_bounds import conv_error_bound

CASES = int(os.environ.get("TORCH_AIE_FUZZ_CASES", "2000"))
CHUNK = 250


def _valid_case(rng):
    dims = rng.choice([1, 2, 2, 2])
    groups = rng.choice([1, 1, 1, 2, 3])
    depthwise = rng.random() < 0.15
    cg, ocg = (1, 1) if depthwise else (rng.randint(0, 6) if rng.random() < 0.05 else rng.randint(1, 6), rng.randint(1, 6))
    if depthwise:
        groups = rng.randint(1, 8)
    k = [rng.randint(1, 4) for _ in range(dims)]
    s = [rng.randint(1, 3) for _ in range(dims)]
    d = [rng.randint(1, 2) for _ in range(dims)]
    p = [rng.randint(0, 2) for _ in range(dims)]
    sp = [max(d_ * (k_ - 1) + 1 - 2 * p_, 1) + rng.randint(0, 6) for d_, k_, p_ in zip(d, k, p)]
    return dict(dims=dims, n=rng.choice([0, 1, 2, 3]), c=cg * groups, oc=ocg * groups, groups=groups,
                k=k, stride=s, dilation=d, padding=p, spatial=sp, bias=rng.random() < 0.6,
                dtype=rng.choice([torch.float32, torch.float32, torch.bfloat16]),
                precision=rng.choice(["bf16", "bf16x3"]), layout=rng.choice(["contig", "cl", "strided"]),
                values=rng.choice(["normal", "normal", "huge", "small", "nan", "inf"]))


def _tensors(c, gen):
    x = torch.randn(c["n"], c["c"], *c["spatial"], generator=gen)
    scale = {"huge": 1e15, "small": 1e-3}.get(c["values"], 1.0)
    x = x * scale
    if c["values"] in ("nan", "inf") and x.numel():
        idx = torch.randint(0, x.numel(), (max(1, x.numel() // 50),), generator=gen)
        x.view(-1)[idx] = float("nan") if c["values"] == "nan" else float("inf")
    w = torch.randn(c["oc"], c["c"] // c["groups"], *c["k"], generator=gen)
    b = torch.randn(c["oc"], generator=gen) if c["bias"] else None
    x, w = x.to(c["dtype"]), w.to(c["dtype"])
    b = None if b is None else b.to(c["dtype"])
    return x, w, b


def _layout(x, c):
    if c["layout"] == "cl" and x.dim() == 4:
        return x.contiguous(memory_format=torch.channels_last)
    if c["layout"] == "strided":  # a non-contiguous view of a larger buffer
        big = torch.zeros(*x.shape[:-1], 2 * x.shape[-1], dtype=x.dtype, device=x.device)
        big[..., ::2] = x
        return big[..., ::2]
    return x


def _conv(c, x, w, b):
    f = F.conv1d if c["dims"] == 1 else F.conv2d
    return f(x, w, b, c["stride"], c["padding"], c["dilation"], c["groups"])


def _check_valid(c, gen):
    x, w, b = _tensors(c, gen)
    xa = _layout(x.to("aie"), c)
    wa, ba = w.to("aie"), None if b is None else b.to("aie")
    keep = [t.cpu().clone() for t in (xa, wa) + (() if ba is None else (ba,))]
    with torch_aie.conv_precision(c["precision"]):
        y = _conv(c, xa, wa, ba).cpu()
    for before, after in zip(keep, [xa, wa] + ([] if ba is None else [ba])):
        assert torch.equal(before.cpu(), after.cpu()) or (before.isnan() == after.cpu().isnan()).all(), "input modified"
    # Shape from an fp32 conv: CPU bf16 convs are never a reference (oneDNN's AMX bf16
    # conv crashes on some shapes); the values are checked against fp64 below.
    f32 = lambda t: None if t is None else t.float()  # noqa: E731
    ref_shape = _conv(c, f32(x), f32(w), f32(b))
    assert y.shape == ref_shape.shape and y.dtype == x.dtype
    dd = lambda t: None if t is None else t.double()  # noqa: E731
    exact = _conv(c, dd(x), dd(w), dd(b))
    finite = torch.isfinite(exact)
    assert torch.equal(torch.isnan(y), torch.isnan(exact)), f"NaN pattern differs from ATen: {c}"
    assert torch.equal(torch.isinf(y), torch.isinf(exact)), f"Inf pattern differs from ATen: {c}"
    xf = torch.where(torch.isfinite(x.double()), x.double(), 0.0).abs()
    mag = _conv(c, xf, w.double().abs(), None if b is None else b.double().abs())
    k = (c["c"] // c["groups"]) * int(torch.tensor(c["k"]).prod())
    mode = "bf16_tensor" if c["dtype"] == torch.bfloat16 else c["precision"]
    tol = conv_error_bound(mode, k, mag, exact)
    err = torch.where(finite, (y.double() - exact).abs() - tol, 0.0)
    assert err.numel() == 0 or err.max().item() <= 0, f"error exceeds the {mode} bound: {c}"


INVALID = ["channels", "groups", "padding", "stride", "dilation", "bias", "kernel", "weight_dim",
           "weight_device", "bias_device", "dtype"]


def _check_invalid(c, kind, gen):
    x, w, b = _tensors(dict(c, values="normal", dtype=torch.float32), gen)
    args = dict(stride=c["stride"], padding=c["padding"], dilation=c["dilation"], groups=c["groups"])
    if kind == "channels":
        x = torch.randn(x.shape[0], x.shape[1] + 1, *x.shape[2:], generator=gen)
    elif kind == "groups":
        args["groups"] = c["oc"] + 1
    elif kind == "padding":
        args["padding"] = [-1] * c["dims"]
    elif kind == "stride":
        args["stride"] = [0] * c["dims"]
    elif kind == "dilation":
        args["dilation"] = [0] * c["dims"]
    elif kind == "bias":
        b = torch.randn(c["oc"] + 2, generator=gen)
    elif kind == "kernel":
        w = torch.randn(w.shape[0], w.shape[1], *[s + 2 * p + 5 for s, p in zip(c["spatial"], c["padding"])], generator=gen)
    elif kind == "weight_dim":
        w = w.unsqueeze(-1)
    f = F.conv1d if c["dims"] == 1 else F.conv2d
    on = lambda t: None if t is None else t.to("aie")  # noqa: E731
    xa, wa, ba = on(x), on(w), on(b)
    if kind == "weight_device":
        wa = w
    elif kind == "bias_device":
        ba = torch.randn(c["oc"], generator=gen)
    elif kind == "dtype":
        wa = wa.to(torch.bfloat16)
    before = [t.cpu().clone() for t in (xa, wa) if t is not None]
    cpu_err = None
    try:
        cpu_out = f(x, w, b, **args)
    except (RuntimeError, ValueError) as e:
        cpu_err = e
    if cpu_err is None and kind not in ("weight_device", "bias_device", "dtype"):
        # ATen defines a result for this (e.g. dilation 0 on an empty batch): so must aie.
        out = f(xa, wa, ba, **args)
        assert out.shape == cpu_out.shape and out.device.type == "aie"
        return
    with pytest.raises((RuntimeError, ValueError)) as aie_err:
        f(xa, wa, ba, **args)
    after = [t.cpu() for t in (xa, wa) if t is not None]
    assert all(torch.equal(u, v) for u, v in zip(before, after)), "input modified by a failed call"
    msg = str(aie_err.value)
    if kind in ("weight_device", "bias_device"):
        assert "device" in msg and "aie" in msg and "cpu" in msg, msg
    elif kind == "dtype":
        assert "type" in msg and "BFloat16" in msg, msg
    else:
        assert msg.split("\n")[0] == str(cpu_err).split("\n")[0], (kind, msg, str(cpu_err))


@pytest.mark.parametrize("chunk", range((CASES + CHUNK - 1) // CHUNK))
def test_fuzz(chunk):
    rng = random.Random(1000 + chunk)
    gen = torch.Generator().manual_seed(chunk)
    n = min(CHUNK, CASES - chunk * CHUNK)
    kinds = {"valid": 0, "invalid": 0, "nonfinite": 0}
    for _ in range(n):
        c = _valid_case(rng)
        if rng.random() < 0.3:
            _check_invalid(c, rng.choice(INVALID), gen)
            kinds["invalid"] += 1
        else:
            _check_valid(c, gen)
            kinds["valid"] += 1
            kinds["nonfinite"] += c["values"] in ("nan", "inf")
    assert n < 50 or min(kinds.values()) > 0, kinds
