"""torch.ops.aie.qconv2d: bit-exact against the independent int64 reference
(tests/qconv_reference.py) on every int8 kernel variant this host runs, plus the
op's contract (bad input, layouts, cache, stats, opcheck)."""
import os
import random
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

import torch_aie
from qconv_reference import ROUNDINGS, qconv2d_reference

ISAS = ("scalar", "avx2", "avx_vnni", "avx512_vnni", "amx_int8")
ALGORITHMS = ("auto", "gemm_1x1", "direct", "im2col_gemm", "depthwise")


def _host_why_not():
    return torch_aie.qconv_isas()


def _print_unrunnable():
    missing = {k: v for k, v in _host_why_not().items() if v}
    for k, v in missing.items():
        print(f"int8 variant not executed on this host: {k} ({v})")
    return missing


@pytest.fixture
def isa_variant(request):
    """Selects the int8 kernel variant for the test and restores the host's best after."""
    name = request.param
    why = _host_why_not()[name]
    if why:
        _print_unrunnable()
        pytest.skip(f"int8 variant {name} not executed on this host: {why}")
    old = torch_aie.qconv_isa()
    torch_aie.set_qconv_isa(name)
    yield name
    torch_aie.set_qconv_isa(old)


def _rand_int(g, shape, lo, hi, dtype):
    return torch.randint(lo, hi + 1, shape, generator=g, dtype=torch.int64).to(dtype)


def _act(g, shape, dtype, extreme=None):
    lo, hi = (-128, 127) if dtype == torch.int8 else (0, 255)
    if extreme is not None:
        return torch.full(shape, extreme, dtype=dtype)
    return _rand_int(g, shape, lo, hi, dtype)


def _requant_params(g, acc_max, oc, per_channel, rng):
    """Multipliers and shifts that bring |acc * m| >> s to about the int8 range."""
    if per_channel:
        mult = _rand_int(g, (oc,), -(2**31) if rng.random() < 0.2 else 1, 2**31 - 1, torch.int32)
    else:
        mult = torch.full((oc,), rng.randint(1, 2**31 - 1), dtype=torch.int32)
    mult = torch.where(mult == 0, torch.ones_like(mult), mult)
    bits = [max(int(acc_max) * abs(int(m)), 1).bit_length() for m in mult.tolist()]
    shift = torch.tensor([min(62, max(0, b - 7 + rng.randint(-2, 2))) for b in bits], dtype=torch.int32)
    if rng.random() < 0.15:
        shift[rng.randrange(oc)] = 0
    return mult, shift


def _random_case(seed):
    rng = random.Random(seed)
    g = torch.Generator().manual_seed(seed)
    kind = rng.choice(["dense", "dense", "grouped", "depthwise", "pointwise", "stem"])
    groups = 1
    if kind == "depthwise":
        groups = rng.choice([3, 8, 17, 32, 40])
        c = oc = groups
    elif kind == "grouped":
        groups = rng.choice([2, 3, 4])
        c, oc = groups * rng.randint(1, 12), groups * rng.randint(1, 12)
    elif kind == "stem":
        c, oc = rng.choice([1, 3, 4]), rng.randint(1, 40)
    else:
        c, oc = rng.randint(1, 70), rng.randint(1, 70)
    kh, kw = (1, 1) if kind == "pointwise" else (rng.choice([1, 2, 3, 5, 7]), rng.choice([1, 3, 4]))
    stride = (rng.randint(1, 3), rng.randint(1, 3))
    dilation = (1, 1) if rng.random() < 0.6 else (rng.randint(1, 2), rng.randint(1, 3))
    padding = (0, 0) if kind == "pointwise" and rng.random() < 0.7 else (rng.randint(0, 2), rng.randint(0, 3))
    n = rng.choice([0, 1, 1, 2, 3])
    h = max(rng.randint(1, 12), dilation[0] * (kh - 1) + 1 - 2 * padding[0])
    w = max(rng.randint(1, 14), dilation[1] * (kw - 1) + 1 - 2 * padding[1])
    x_dtype = rng.choice([torch.int8, torch.uint8])
    x = _act(g, (n, c, h, w), x_dtype)
    if rng.random() < 0.4:
        x = x.contiguous(memory_format=torch.channels_last)
    elif rng.random() < 0.2:  # a non-contiguous view
        x = _act(g, (n, c, h, w + 3), x_dtype)[..., 1:w + 1]
    weight = _rand_int(g, (oc, c // groups, kh, kw), -128, 127, torch.int8)
    bias = _rand_int(g, (oc,), -50000, 50000, torch.int32) if rng.random() < 0.8 else None
    acc = F.conv2d(x.double(), weight.double(), None, stride, padding, dilation, groups)
    acc_max = max(int(acc.abs().max()) if acc.numel() else 1, 1) + (int(bias.abs().max()) if bias is not None else 0)
    mult, shift = _requant_params(g, acc_max, oc, rng.random() < 0.6, rng)
    out_dtype = rng.choice([torch.int8, torch.uint8])
    lo, hi = (-128, 127) if out_dtype == torch.int8 else (0, 255)
    zp = rng.randint(lo, hi) if rng.random() < 0.5 else (0 if out_dtype == torch.int8 else 128)
    clamp = rng.choice(["full", "relu", "relu6", "narrow"])
    out_min, out_max = {"full": (lo, hi), "relu": (zp, hi), "relu6": (zp, min(hi, zp + 60)),
                        "narrow": (max(lo, zp - 20), min(hi, zp + 20))}[clamp]
    skip = skip_mult = skip_shift = None
    oh = (h + 2 * padding[0] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (w + 2 * padding[1] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    if rng.random() < 0.35:
        skip = _act(g, (n, oc, oh, ow), rng.choice([torch.int8, torch.uint8]))
        if rng.random() < 0.5:
            skip = skip.contiguous(memory_format=torch.channels_last)
        skip_mult, skip_shift = rng.randint(-(2**20), 2**20), rng.randint(0, 24)
    algorithm = rng.choice(ALGORITHMS)
    kwargs = dict(stride=stride, padding=padding, dilation=dilation, groups=groups, out_zero_point=zp,
                  out_min=out_min, out_max=out_max, out_dtype=out_dtype, rounding=rng.choice(ROUNDINGS))
    if skip is not None:
        kwargs.update(skip=skip, skip_multiplier=skip_mult, skip_shift=skip_shift)
    device = "aie" if rng.random() < 0.7 else "cpu"
    return (x, weight, bias, mult, shift), kwargs, algorithm, device


def _run(args, kwargs, device, algorithm="auto"):
    moved = [a.to(device) if a is not None else None for a in args]
    kw = dict(kwargs)
    if kw.get("skip") is not None:
        kw["skip"] = kw["skip"].to(device)
    with torch_aie.conv_algorithm(algorithm):
        y = torch_aie.qconv2d(*moved, **kw)
    assert y.device.type == device
    return y


def _reference(args, kwargs):
    x, w, b, m, s = args
    return qconv2d_reference(x, w, b, m, s, **kwargs)


def _check(args, kwargs, device, algorithm, label):
    y = _run(args, kwargs, device, algorithm)
    ref = _reference(args, kwargs)
    assert y.dtype == ref.dtype and y.shape == ref.shape, label
    channels_last = args[0].is_contiguous(memory_format=torch.channels_last) and not args[0].is_contiguous()
    if channels_last and y.numel():
        assert y.is_contiguous(memory_format=torch.channels_last), label
    diff = (y.cpu().to(torch.int64) - ref.to(torch.int64)).abs()
    assert torch.equal(y.cpu(), ref), f"{label}: {int((diff > 0).sum())} of {y.numel()} outputs differ"


SWEEP_SEEDS = range(70)


@pytest.mark.parametrize("isa_variant", ISAS, indirect=True)
def test_fuzzed_sweep_bit_exact(isa_variant):
    for seed in SWEEP_SEEDS:
        args, kwargs, algorithm, device = _random_case(seed)
        _check(args, kwargs, device, algorithm, f"seed {seed} on {isa_variant} ({algorithm}, {device})")


@pytest.mark.parametrize("isa_variant", ISAS, indirect=True)
@pytest.mark.parametrize("algorithm", ["gemm_1x1", "direct", "im2col_gemm"])
def test_every_algorithm_on_one_shape(isa_variant, algorithm):
    g = torch.Generator().manual_seed(11)
    for dtype in (torch.int8, torch.uint8):
        x = _act(g, (2, 36, 7, 9), dtype)
        w = _rand_int(g, (70, 36, 1, 1), -128, 127, torch.int8)
        b = _rand_int(g, (70,), -9999, 9999, torch.int32)
        m, s = torch.full((70,), 1 << 20, dtype=torch.int32), torch.full((70,), 29, dtype=torch.int32)
        for rounding in ROUNDINGS:
            kwargs = dict(stride=(1, 2), out_zero_point=-3, rounding=rounding)
            _check((x, w, b, m, s), kwargs, "aie", algorithm, f"{algorithm} {dtype} {rounding}")


@pytest.mark.parametrize("isa_variant", ISAS, indirect=True)
def test_extreme_values_and_long_reduction(isa_variant):
    # Every product at its extreme, the longest reductions the int32 bound admits.
    cases = [(torch.int8, -128, -128, 4096, 3), (torch.int8, 127, -128, 2048, 3), (torch.uint8, 255, -128, 1024, 3),
             (torch.uint8, 255, 127, 8192, 1)]
    for dtype, xv, wv, c, k in cases:
        x = _act(None, (1, c, k + 1, k + 2), dtype, extreme=xv)
        w = torch.full((33, c, k, k), wv, dtype=torch.int8)
        m, s = torch.full((33,), 1, dtype=torch.int32), torch.full((33,), 24, dtype=torch.int32)
        b = torch.full((33,), -7, dtype=torch.int32)
        for alg in ("direct", "im2col_gemm", "gemm_1x1"):
            _check((x, w, b, m, s), dict(rounding="symmetric_inf"), "aie", alg, f"{dtype} {xv}x{wv} K={c * k * k} {alg}")
    # Saturation at both ends, and shifts 0 and 62.
    g = torch.Generator().manual_seed(5)
    x = _act(g, (1, 40, 6, 6), torch.int8)
    w = _rand_int(g, (40, 40, 3, 3), -128, 127, torch.int8)
    for shift in (0, 1, 31, 62):
        m = _rand_int(g, (40,), -(2**31), 2**31 - 1, torch.int32)
        s = torch.full((40,), shift, dtype=torch.int32)
        for rounding in ROUNDINGS:
            _check((x, w, None, m, s), dict(padding=(1, 1), rounding=rounding), "aie", "auto", f"shift {shift} {rounding}")


@pytest.mark.parametrize("isa_variant", ISAS, indirect=True)
def test_depthwise_and_skip_add(isa_variant):
    g = torch.Generator().manual_seed(9)
    for c, k, stride in [(32, 3, 1), (96, 3, 2), (40, 5, 1), (17, 7, 2)]:
        x = _act(g, (2, c, 11, 10), torch.uint8).contiguous(memory_format=torch.channels_last)
        w = _rand_int(g, (c, 1, k, k), -128, 127, torch.int8)
        b = _rand_int(g, (c,), -999, 999, torch.int32)
        m, s = _rand_int(g, (c,), 1, 2**30, torch.int32), _rand_int(g, (c,), 28, 34, torch.int32)
        oh = (11 + 2 * (k // 2) - k) // stride + 1
        ow = (10 + 2 * (k // 2) - k) // stride + 1
        skip = _act(g, (2, c, oh, ow), torch.int8)
        kwargs = dict(stride=(stride, stride), padding=(k // 2, k // 2), groups=c, out_zero_point=5, out_min=5,
                      skip=skip, skip_multiplier=3, skip_shift=1)
        _check((x, w, b, m, s), kwargs, "aie", "auto", f"depthwise C={c} k={k} s={stride}")


def test_unrunnable_variants_are_named(capsys):
    missing = _print_unrunnable()
    out = capsys.readouterr().out
    for name in missing:
        assert f"not executed on this host: {name}" in out
    assert torch_aie.qconv_isa() in ISAS
    assert not _host_why_not()["scalar"]


def test_env_cap_selects_a_lower_variant():
    code = "import torch_aie; print(torch_aie.qconv_isa())"
    env = dict(os.environ, TORCH_AIE_INT8_ISA="avx2")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    expected = "avx2" if not _host_why_not()["avx2"] else "scalar"
    assert out.stdout.strip() == expected
    with pytest.raises(ValueError, match="unknown int8 kernel variant 'sse9'"):
        torch_aie.set_qconv_isa("sse9")


def _valid():
    g = torch.Generator().manual_seed(1)
    x = _act(g, (1, 8, 5, 5), torch.int8)
    w = _rand_int(g, (4, 8, 3, 3), -128, 127, torch.int8)
    b = torch.arange(4, dtype=torch.int32)
    m, s = torch.full((4,), 1 << 16, dtype=torch.int32), torch.full((4,), 20, dtype=torch.int32)
    return [x, w, b, m, s]


def _bad_cases():
    x, w, b, m, s = _valid()
    q = torch.quantize_per_tensor(x.float(), 0.1, 0, torch.qint8)
    qw_zp = torch.quantize_per_tensor(w.float(), 0.1, 3, torch.qint8)
    big_x = torch.zeros(1, 66000, 1, 1, dtype=torch.uint8)
    big_w = torch.zeros(4, 66000, 1, 1, dtype=torch.int8)
    bad_shift = s.clone()
    bad_shift[2] = 63
    return [
        ((q, w, b, m, s), {}, "not PyTorch quantized tensors"),
        ((x, qw_zp, b, m, s), {}, "zero point 3"),
        ((x.float(), w, b, m, s), {}, "mixed float/int operands"),
        ((x, w.float(), b, m, s), {}, "float weights"),
        ((x, w, b.float(), m, s), {}, "mixed float/int operands: bias"),
        ((x, w, b, m, bad_shift), {}, "output channel 2 has shift 63"),
        ((x, w, b, m, s.neg()), {}, "has shift -20"),
        ((x, w, b, m.to(torch.int64), s), {}, "multiplier must be int32"),
        ((x, w, b, m[:3], s), {}, r"multiplier must have shape \[4\]"),
        ((x, w, b, m, s), dict(out_dtype=torch.uint8, out_min=-1), r"out range \[-1, 127\]"),
        ((x, w, b, m, s), dict(out_max=200), r"out range \[-128, 200\]"),
        ((x, w, b, m, s), dict(out_dtype=torch.int32), "out_dtype must be int8 or uint8"),
        ((x, w, b, m, s), dict(rounding="nearest"), "got 'nearest'"),
        ((big_x, big_w, None, m, s), {}, "K = 66000.*= 2154240000 > 2"),
        ((x, w, torch.full((4,), 2**31 - 1, dtype=torch.int32), m, s), {}, "max|bias| 2147483647"),
        ((x, w, b, m, s), dict(skip=torch.zeros(1, 4, 2, 2, dtype=torch.int8)), "skip must have the output's shape"),
        ((x, w, b, m, s), dict(skip=torch.zeros(1, 4, 3, 3), skip_shift=1), "mixed float/int operands: skip is Float"),
        ((x, w, b, m, s), dict(skip=torch.zeros(1, 4, 3, 3, dtype=torch.int8), skip_shift=70), "skip_shift must be in"),
        ((x, w, b, m, s), dict(groups=3), "x has 8 channels but weight expects 8 x groups"),
    ]


@pytest.mark.parametrize("device", ["cpu", "aie"])
def test_bad_input_errors_name_the_value_and_leave_inputs_unchanged(device):
    for args, kwargs, pattern in _bad_cases():
        plain = lambda a: a is not None and not a.is_quantized  # noqa: E731
        args = [a.to(device) if plain(a) else a for a in args]
        kwargs = {k: (v.to(device) if isinstance(v, torch.Tensor) else v) for k, v in kwargs.items()}
        before = [a.cpu().clone() for a in args if plain(a)]
        with pytest.raises(RuntimeError, match=pattern):
            torch_aie.qconv2d(*args, **kwargs)
        after = [a.cpu() for a in args if plain(a)]
        assert all(torch.equal(p, q) for p, q in zip(before, after)), pattern


def test_quantized_tensor_to_aie_names_torch_aie_and_the_flow():
    q = torch.quantize_per_tensor(torch.randn(3, 4), 0.1, 0, torch.qint8)
    with pytest.raises(NotImplementedError, match=r"torch_aie.*torch_aie\.quantize.*AieQuantizer.*lower"):
        q.to("aie")
    qc = torch.quantize_per_channel(torch.randn(2, 4), torch.tensor([0.1, 0.2]), torch.tensor([0, 0]), 0, torch.qint8)
    with pytest.raises(NotImplementedError, match="cannot be moved to or created on the aie device"):
        qc.to("aie")
    with pytest.raises(NotImplementedError, match="torch_aie"):
        torch.quantize_per_tensor(torch.randn(3, 4, device="aie"), 0.1, 0, torch.qint8)


def test_opcheck():
    x, w, b, m, s = _valid()
    skip = torch.zeros(1, 4, 3, 3, dtype=torch.uint8)
    for dev in ("cpu", "aie"):
        a = [t.to(dev) for t in (x, w, b, m, s)]
        torch.library.opcheck(torch.ops.aie.qconv2d, (*a, [1, 1], [0, 0], [1, 1], 1, 2, -10, 100, torch.int8,
                                                      "floor", skip.to(dev), 5, 3))
        torch.library.opcheck(torch.ops.aie.qconv2d, (a[0].contiguous(memory_format=torch.channels_last), *a[1:],
                                                      [2, 1], [1, 1], [1, 1], 1, 0, 0, 255, torch.uint8))


def test_weight_cache_packs_once_and_sees_in_place_updates():
    torch_aie.weight_cache_clear()
    x, w, b, m, s = [t.to("aie") for t in _valid()]
    before = torch_aie.weight_cache_stats()
    y1 = torch_aie.qconv2d(x, w, b, m, s)
    y2 = torch_aie.qconv2d(x, w, b, m, s)
    after = torch_aie.weight_cache_stats()
    assert after["misses"] - before["misses"] == 1 and after["hits"] - before["hits"] == 1
    assert torch.equal(y1.cpu(), y2.cpu())
    w.neg_()  # an in-place write bumps the version: the stale packing must not be used
    y3 = torch_aie.qconv2d(x, w, b, m, s)
    assert torch.equal(y3.cpu(), qconv2d_reference(x.cpu(), w.cpu(), b.cpu(), m.cpu(), s.cpu()))


def test_conv_stats_and_explain_name_int8():
    torch_aie.reset_conv_stats()
    x, w, b, m, s = [t.to("aie") for t in _valid()]
    torch_aie.qconv2d(x, w, b, m, s)
    torch_aie.qconv2d(x, w[:, :, :1, :1].contiguous(), b, m, s)
    stats = torch_aie.conv_stats()
    assert stats["npu:int8:im2col_gemm"] == 1 and stats["npu:int8:gemm_1x1"] == 1  # 8 channels: im2col
    assert "npu:int8:direct" not in stats
    text = torch_aie.explain_qconv(x.to("meta"), w.to("meta"), padding=1)
    assert "int8 im2col_gemm" in text and "int8 buffers (1-byte elements)" in text and "int8 MAC rate" in text
    plan = torch_aie.qconv_array_plan(x, w, padding=1)
    assert plan["elem_bytes"] == 1 and plan["fits"] == 1 and plan["macs_per_cycle"] == 256
    bf16 = torch_aie.conv_array_plan(x.float(), w.float(), padding=1)
    # The int8 MAC rate (256 vs 128 MACs/cycle/core on Phoenix) lets larger tiles fit in 1-byte buffers.
    assert plan["compute_cycles"] < bf16["compute_cycles"]
    assert plan["tile_m"] * plan["tile_n"] * plan["tile_k"] >= bf16["tile_m"] * bf16["tile_n"] * bf16["tile_k"]


def test_batch_zero_and_channels_last_output():
    x, w, b, m, s = _valid()
    y = torch_aie.qconv2d(x[:0].to("aie"), w.to("aie"), b.to("aie"), m.to("aie"), s.to("aie"), padding=1)
    assert y.shape == (0, 4, 5, 5) and y.dtype == torch.int8
    xc = x.contiguous(memory_format=torch.channels_last).to("aie")
    y = torch_aie.qconv2d(xc, w.to("aie"), b.to("aie"), m.to("aie"), s.to("aie"), padding=1)
    assert y.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(y.cpu(), qconv2d_reference(x, w, b, m, s, padding=(1, 1)))


def test_plan_that_does_not_fit_runs_the_exact_host_path():
    # A 41x41 depthwise kernel's line buffers overflow a core's 64 KiB: counted, and still exact.
    g = torch.Generator().manual_seed(4)
    x = _act(g, (1, 16, 20, 20), torch.uint8)
    w = _rand_int(g, (16, 1, 41, 41), -128, 127, torch.int8)
    m, s = torch.full((16,), 12345, dtype=torch.int32), torch.full((16,), 14, dtype=torch.int32)
    skip = _act(g, (1, 16, 20, 20), torch.int8)
    kwargs = dict(padding=(20, 20), groups=16, skip=skip, skip_multiplier=3, skip_shift=2, rounding="symmetric_inf")
    torch_aie.reset_conv_stats()
    _check((x, w, None, m, s), kwargs, "aie", "auto", "host path")
    stats = torch_aie.conv_stats()
    assert any(k.startswith("cpu_fallback:int8 depthwise plan does not fit") and v == 1 for k, v in stats.items())
    assert "runs on the host" in torch_aie.explain_qconv(x, w, padding=20, groups=16)
