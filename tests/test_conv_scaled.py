"""torch.ops.aie.conv2d_scaled: conv2d(input * scale), the squeeze-excite gate fused into
the conv's input staging. It must give the bits of ATen's product followed by aie.conv2d
on every path (staged with the gate, or multiplied first), in both operand orders, for
any broadcast; and pass opcheck and autograd like aie.conv2d."""
import pytest
import torch

import torch_aie

CL = torch.channels_last

# (x shape, w shape, stride, padding, groups): 1x1 over channels-last pixel rows and
# planar channel rows, a padded 3x3 (direct, pixel rows), a strided 1x1, a depthwise conv
# (no bf16 dot-product family: multiplied first), a row wide enough to be staged in pieces.
SHAPES = [
    ((2, 48, 14, 14), (24, 48, 1, 1), 1, 0, 1),
    ((1, 64, 9, 9), (40, 64, 3, 3), 1, 1, 1),
    ((2, 32, 12, 10), (16, 32, 1, 1), 2, 0, 1),
    ((1, 24, 10, 10), (24, 1, 3, 3), 1, 1, 24),
    ((1, 64, 1, 1100), (32, 64, 1, 1), 1, 0, 1),
    ((1, 40, 1, 1), (96, 40, 1, 1), 1, 0, 1),
]


def _bits(t):
    return t.view(torch.int16 if t.dtype == torch.bfloat16 else torch.int32)


def _operands(xs, ws, dtype, fmt, scale_images, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(xs, generator=g).to(dtype).contiguous(memory_format=fmt)
    s = (2 * torch.rand(scale_images, xs[1], 1, 1, generator=g) - 0.5).to(dtype)  # negative gates too
    w = (0.2 * torch.randn(ws, generator=g)).to(dtype)
    b = torch.randn(ws[0], generator=g).to(dtype)
    return [t.to("aie") for t in (x, s, w, b)]


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("fmt", [torch.contiguous_format, CL], ids=["nchw", "nhwc"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s[0] + s[1][:1])))
def test_scaled_conv_gives_the_bits_of_the_product_then_the_conv(shape, fmt, dtype):
    xs, ws, stride, padding, groups = shape
    for images in sorted({1, xs[0]}):
        x, s, w, b = _operands(xs, ws, dtype, fmt, images, sum(xs) + images)
        args = (w, b, [stride] * 2, [padding] * 2, [1, 1], groups)
        want = torch.ops.aie.conv2d(x * s, *args, "auto", False, "silu", None).cpu()
        got = torch.ops.aie.conv2d_scaled(x, s, *args, "silu", None).cpu()
        swapped = torch.ops.aie.conv2d_scaled(s, x, *args, "silu", None).cpu()
        assert got.stride() == want.stride()
        assert torch.equal(_bits(got), _bits(want)) and torch.equal(_bits(swapped), _bits(want))


def test_residual_and_a_gate_of_special_values_match_the_unfused_ops():
    x, s, w, b = _operands((2, 32, 7, 7), (48, 32, 1, 1), torch.float32, CL, 2, 5)
    s[0, :3] = torch.tensor([0.0, float("inf"), float("nan")], device="aie").view(3, 1, 1)
    r = torch.randn(2, 48, 7, 7).contiguous(memory_format=CL).to("aie")
    args = (w, b, [1, 1], [0, 0], [1, 1], 1)
    want = torch.ops.aie.conv2d(x * s, *args, "auto", False, "relu", r).cpu()
    got = torch.ops.aie.conv2d_scaled(x, s, *args, "relu", r).cpu()
    assert torch.equal(want.isnan(), got.isnan()) and want.isnan().any()
    assert torch.equal(want.nan_to_num(), got.nan_to_num())


@pytest.mark.parametrize("scale_shape", [(32, 1, 1), (1, 1, 7, 7), (2, 32, 7, 7), (1, 32, 1, 7)])
def test_a_scale_that_is_no_channel_gate_is_multiplied_as_aten_broadcasts(scale_shape):
    x, _, w, b = _operands((2, 32, 7, 7), (16, 32, 3, 3), torch.float32, CL, 1, 9)
    s = torch.rand(scale_shape).to("aie")
    args = (w, b, [1, 1], [1, 1], [1, 1], 1)
    want = torch.ops.aie.conv2d(x * s, *args, "auto", False, "none", None).cpu()
    assert torch.equal(torch.ops.aie.conv2d_scaled(x, s, *args, "none", None).cpu(), want)


def test_mixed_dtypes_follow_aten_promotion_and_bad_input_is_refused():
    x, s, w, b = _operands((1, 16, 5, 5), (8, 16, 1, 1), torch.bfloat16, CL, 1, 3)
    with pytest.raises(RuntimeError):  # bf16 x * fp32 s is fp32: the bf16 weight does not match it, as in eager
        torch.ops.aie.conv2d_scaled(x, s.float(), w, b, [1, 1], [0, 0], [1, 1], 1, "none", None)
    with pytest.raises(ValueError, match="unknown activation 'tanh'"):
        torch.ops.aie.conv2d_scaled(x, s, w, b, [1, 1], [0, 0], [1, 1], 1, "tanh", None)
    with pytest.raises(RuntimeError):  # shapes that do not broadcast
        torch.ops.aie.conv2d_scaled(x, s[:, :8], w, b, [1, 1], [0, 0], [1, 1], 1, "none", None)


def test_one_dimensional_convs_take_a_gate_too():
    g = torch.Generator().manual_seed(4)
    x, s = torch.randn(2, 24, 40, generator=g).to("aie"), torch.rand(2, 24, 1, generator=g).to("aie")
    w = (0.2 * torch.randn(12, 24, 1, generator=g)).to("aie")
    want = torch.ops.aie.conv2d(x * s, w, None, [1], [0], [1], 1, "auto", False, "none", None).cpu()
    assert torch.equal(torch.ops.aie.conv2d_scaled(x, s, w, None, [1], [0], [1], 1, "none", None).cpu(), want)


AIE_UTILS = ("test_schema", "test_faketensor", "test_aot_dispatch_dynamic")  # as test_conv_op.py's opcheck


@pytest.mark.parametrize("fmt", [torch.contiguous_format, CL], ids=["nchw", "nhwc"])
@pytest.mark.parametrize("device", ["aie", "cpu"])
@pytest.mark.parametrize("scale_shape", [(2, 8, 1, 1), (8, 1, 1)], ids=["gate", "broadcast"])
def test_opcheck(scale_shape, device, fmt):
    x = torch.randn(2, 8, 9, 9, device=device).contiguous(memory_format=fmt).requires_grad_()
    s = torch.rand(scale_shape, device=device, requires_grad=True)
    w = torch.randn(16, 8, 3, 3, device=device, requires_grad=True)
    b = torch.randn(16, device=device, requires_grad=True)
    utils = AIE_UTILS if device == "aie" else AIE_UTILS + ("test_autograd_registration",)
    torch.library.opcheck(torch.ops.aie.conv2d_scaled.default, (x, s, w, b, [1, 1], [1, 1], [1, 1], 1, "hardswish"),
                          test_utils=utils)


def test_gradients_are_those_of_the_product_then_the_conv():
    torch_aie.set_conv_precision("ieee")  # exact fp32 on both sides
    try:
        g = torch.Generator().manual_seed(2)
        leaves = [torch.randn(2, 8, 6, 6, generator=g), torch.rand(2, 8, 1, 1, generator=g),
                  torch.randn(4, 8, 3, 3, generator=g), torch.randn(4, generator=g)]
        grads = []
        for fused in (True, False):
            x, s, w, b = [t.to("aie").requires_grad_() for t in leaves]
            y = (torch.ops.aie.conv2d_scaled(x, s, w, b, [1, 1], [1, 1], [1, 1], 1, "silu", None) if fused else
                 torch.ops.aie.conv2d(x * s, w, b, [1, 1], [1, 1], [1, 1], 1, "auto", False, "silu", None))
            y.square().sum().backward()
            grads.append([t.grad.cpu() for t in (x, s, w, b)])
        for a, e in zip(*grads):
            torch.testing.assert_close(a, e, rtol=0, atol=0)
    finally:
        torch_aie.set_conv_precision("bf16")


def test_convs_on_the_cpu_path_multiply_first_too():
    """precision "ieee" runs fp32 convs through ATen on the host (host_conv): the gate is
    applied there as well."""
    x, s, w, b = _operands((2, 16, 6, 6), (8, 16, 3, 3), torch.float32, CL, 2, 7)
    args = (w, b, [1, 1], [1, 1], [1, 1], 1)
    with torch_aie.conv_precision("ieee"):
        want = torch.ops.aie.conv2d(x * s, *args, "auto", False, "gelu", None).cpu()
        got = torch.ops.aie.conv2d_scaled(x, s, *args, "gelu", None).cpu()
        assert torch_aie.explain_conv(x, w, b, 1, 1).startswith("cpu_fallback")
    assert torch.equal(got, want)
