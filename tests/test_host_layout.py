"""The emulator runs planar (NCHW) convs as [channel][pixel] tiles and channels-last
convs as [pixel][channel] tiles. Both compute every output element with the same
in-order FMA chain, so a conv's result must not depend on the input's memory format,
bit for bit, in every numeric mode; and both must hold the contract's bound.
On hosts with bf16 dot products (AVX512-BF16, AMX) the GEMM family runs on them, in
the same two orientations (the native_bf16 kernel family, csrc/runtime/emulator/bf16_*.cpp): the same holds, because
those kernels are symmetric in their two operands."""
import pytest
import torch
import torch.nn.functional as F

import torch_aie
from conv_bounds import conv_error_bound

NATIVE_BF16 = "avx512_bf16" in torch_aie.host_isa()
# The reduction depth bf16 operands are padded to (aie_kernels/bf16_gemm.h): AMX tiles take 32, vdpbf16ps a pair.
BF16_K_DEPTH = 32 if "amx_bf16" in torch_aie.host_isa() else 2

# (N, C, H, W, OC, kernel, stride, padding, dilation, groups)
SHAPES = [
    (1, 64, 56, 56, 64, 1, 1, 0, 1, 1),        # 1x1, whole-plane staging
    (2, 16, 13, 11, 24, 3, 1, 1, 1, 1),        # pixel panels straddle rows and images
    (1, 32, 14, 14, 40, 3, 2, 1, 1, 1),        # stride 2: phase-split staging
    (3, 8, 9, 10, 12, 3, 2, 2, 2, 2),          # dilation, groups, stride
    (1, 3, 40, 40, 16, 7, 2, 3, 1, 1),         # stem-like im2col
    (2, 48, 7, 7, 50, 1, 2, 0, 1, 1),          # strided 1x1, odd channel count
    (1, 512, 7, 7, 64, 3, 1, 1, 1, 1),         # 49 pixels fill 16-wide panels badly: pixel rows
    (2, 512, 7, 7, 64, 3, 1, 1, 1, 1),         # 98 pixels, direct: pixel rows
    (2, 32, 13, 11, 40, 1, 1, 0, 1, 1),        # 286 pixels, 1x1: channel rows, partial last panel
    (1, 96, 30, 30, 24, 1, 1, 0, 1, 1),        # reducing 1x1 over a mid-sized map: pixel rows
    (1, 8, 3, 3, 20, 3, 1, 1, 1, 1),           # 9 pixels: pixel rows
    (1, 12, 5, 17, 7, (1, 5), (1, 3), (0, 2), 1, 1),  # rectangular kernel and stride
    (4, 20, 9, 9, 600, 1, 1, 0, 1, 1),         # many channel panels per task, channel rows
    (4, 20, 6, 6, 600, 1, 1, 0, 1, 1),         # the same over a small map: pixel rows
    (2, 16, 40, 45, 16, 3, 1, 1, 1, 16),       # depthwise, planar rows
    (1, 12, 16, 70, 12, 3, 2, 1, 1, 12),       # depthwise, stride 2 (phases), planar rows
    (1, 16, 12, 40, 16, 5, 1, 4, 2, 16),       # depthwise, dilated 5x5, planar rows
    (2, 32, 15, 15, 32, 3, 1, 1, 1, 32),       # depthwise, short rows: pixel rows
    (1, 72, 10, 45, 72, 3, 2, 1, 1, 72),       # depthwise, many channels: pixel rows, transposed blocks
    (2, 40, 12, 20, 40, 3, 1, 2, 2, 40),       # depthwise, dilated, two images: pixel rows from streamed input rows
    (1, 64, 1, 1100, 32, 1, 1, 0, 1, 1),       # one row of 70k values (a Linear's rows): staged in pieces
    (1, 64, 3, 1030, 16, 3, 1, 1, 1, 1),       # padded rows of 66k values: staged in pieces of 515 pixels
]
MODES = [("bf16", torch.float32, "bf16"), ("bf16x3", torch.float32, "bf16x3"),
         ("bf16", torch.bfloat16, "bf16_tensor")]


@pytest.mark.parametrize("precision,dtype,mode", MODES, ids=[m[2] for m in MODES])
@pytest.mark.parametrize("shape", SHAPES, ids=[f"s{i}" for i in range(len(SHAPES))])
def test_memory_format_does_not_change_the_result(shape, precision, dtype, mode):
    n, c, h, w, oc, k, s, p, d, g = shape
    ks = (k, k) if isinstance(k, int) else k
    torch.manual_seed(sum(x if isinstance(x, int) else sum(x) for x in shape))
    x = torch.randn(n, c, h, w).to(dtype)
    wt = (torch.randn(oc, c // g, *ks) * 0.2).to(dtype)
    b = torch.randn(oc).to(dtype)
    torch_aie.set_conv_precision(precision)
    xa, wa, ba = x.to("aie"), wt.to("aie"), b.to("aie")

    planar = F.conv2d(xa, wa, ba, s, p, d, g)
    chlast = F.conv2d(xa.contiguous(memory_format=torch.channels_last), wa, ba, s, p, d, g)
    assert planar.is_contiguous() and chlast.is_contiguous(memory_format=torch.channels_last)
    # Which orientation ran (csrc/runtime/emulator/host_layout.cpp choose_host_layout): pixel rows for channels_last,
    # for planar depthwise unless rows are long and channels few, for direct convs and strided 1x1s, for 1x1s over
    # small maps (<= 256 pixels) or reducing ones (K >= 3 OC) over <= 1024 pixels, and for GEMMs whose pixels fill
    # 16-wide panels badly.
    explained = torch_aie.explain_conv(xa, wa, ba, s, p, d, g)
    algorithm = explained.split(" ")[0]
    m = planar.shape[0] * planar.shape[2] * planar.shape[3]
    depthwise = g == c == oc
    ow = planar.shape[3]
    if depthwise:
        short = not (ow >= 32 and ow >= 2 * c)
    elif algorithm == "direct" or (algorithm == "gemm_1x1" and (s if isinstance(s, tuple) else (s, s)) != (1, 1)):
        short = True
    elif algorithm == "gemm_1x1" and (m <= 256 or (c // g >= 3 * (oc // g) and m <= 1024)):
        short = True
    else:
        short = m / (-(-m // 16) * 16) < 0.9 * m / (-(-m // 6) * 6)
    if NATIVE_BF16 and not depthwise:  # bf16 dot products: pixel rows for in-place A tiles
        short = s == 1 and (c // g) % BF16_K_DEPTH == 0 and ks != (1, 1)
    expected = "pixel-row" if short else "channel-row"
    assert f"emulated as {expected} tiles" in explained
    assert ("bf16 dot products" in explained) == (NATIVE_BF16 and not depthwise)
    assert "emulated as pixel-row tiles" in torch_aie.explain_conv(
        xa.contiguous(memory_format=torch.channels_last), wa, ba, s, p, d, g)
    assert torch.equal(planar.cpu(), chlast.cpu())

    ref = F.conv2d(x.double(), wt.double(), b.double(), s, p, d, g)
    mag = F.conv2d(x.double().abs(), wt.double().abs(), b.double().abs(), s, p, d, g)
    tol = conv_error_bound(mode, (c // g) * ks[0] * ks[1], mag, ref)
    assert ((planar.cpu().double() - ref).abs() <= tol).all()


def test_fused_relu_and_bias_match_in_both_layouts():
    torch.manual_seed(3)
    x = torch.randn(2, 24, 15, 15, device="aie")
    wt = torch.randn(36, 24, 3, 3, device="aie") * 0.2
    b = torch.randn(36, device="aie")
    planar = torch.ops.aie.conv2d(x, wt, b, [1, 1], [1, 1], [1, 1], 1, "auto", True)
    chlast = torch.ops.aie.conv2d(x.contiguous(memory_format=torch.channels_last), wt, b,
                                  [1, 1], [1, 1], [1, 1], 1, "auto", True)
    assert torch.equal(planar.cpu(), chlast.cpu())
    assert (planar.cpu() >= 0).all() and (planar.cpu() > 0).any()


@pytest.mark.parametrize("precision,dtype,mode", MODES, ids=[m[2] for m in MODES])
@pytest.mark.parametrize("shape", [SHAPES[i] for i in (1, 2, 4, 6, 10, 11, 15, 16, 20, 21)], ids=lambda s: "x".join(map(str, s[:5])))
def test_thread_count_and_repeats_do_not_change_the_result(shape, precision, dtype, mode):
    """docs/ARCHITECTURE.md, "Numerics contract": on one host a result depends neither on the thread count nor
    on the run (tasks split outputs, never a reduction)."""
    n, c, h, w, oc, k, s, p, d, g = shape
    ks = (k, k) if isinstance(k, int) else k
    torch.manual_seed(11)
    x = torch.randn(n, c, h, w).to(dtype).to("aie")
    wt = (torch.randn(oc, c // g, *ks) * 0.2).to(dtype).to("aie")
    torch_aie.set_conv_precision(precision)
    before = torch.get_num_threads()
    try:
        results = []
        for threads in (1, 2, 3, 1):
            torch.set_num_threads(threads)
            for fmt in (torch.contiguous_format, torch.channels_last):
                results.append(F.conv2d(x.contiguous(memory_format=fmt), wt, None, s, p, d, g).cpu())
    finally:
        torch.set_num_threads(before)
    for r in results[1:]:
        assert torch.equal(r, results[0])


@pytest.mark.parametrize("kernel,padding", [(1, 0), (3, 1)])
def test_tiny_operands_stay_within_the_bound(kernel, padding):
    """Products under fp32's normal range: the native bf16 units (AVX512-BF16, AMX) flush
    them to zero, which would leave the bound; the emulator then runs those convs with
    exact fp32 products (csrc/runtime/emulator/bf16_family.h bf16_gemm_for), on every host."""
    torch.manual_seed(12)
    x = torch.randn(1, 64, 9, 9) * 2.0**-70
    wt = torch.randn(48, 64, kernel, kernel) * 2.0**-60
    torch_aie.set_conv_precision("bf16")
    xa, wa = x.to("aie"), wt.to("aie")
    out = F.conv2d(xa, wa, None, 1, padding)
    assert torch.equal(out.cpu(), F.conv2d(xa.contiguous(memory_format=torch.channels_last), wa, None, 1,
                                           padding).cpu())
    xr, wr = x.bfloat16().double(), wt.bfloat16().double()
    ref = F.conv2d(xr, wr, None, 1, padding)
    mag = F.conv2d(xr.abs(), wr.abs(), None, 1, padding)
    # Operands are rounded already: only the accumulation part of the bf16 bound applies,
    # plus fp32's denormal spacing per accumulation step.
    k = 64 * kernel * kernel
    tol = conv_error_bound("ieee", k, mag, ref) + (k + 1) * 2.0**-149
    assert ((out.cpu().double() - ref).abs() <= tol).all()
    assert (ref.abs() > 2.0**-126).any() and (out.cpu() != 0).any()


@pytest.mark.parametrize("precision,dtype,mode", MODES, ids=[m[2] for m in MODES])
@pytest.mark.parametrize("memory_format", [torch.channels_last, torch.contiguous_format], ids=["nhwc", "nchw"])
def test_depthwise_staged_a_few_images_at_a_time_equals_each_image_alone(precision, dtype, mode, memory_format):
    """csrc/runtime/emulator/float_family.cpp: a depthwise conv whose staged batch would outgrow the cache
    (8 MiB) is staged and run a few images at a time. Each image's result is the one it gets alone, and the
    batch is within the bound of the fp64 reference; the residual and bias follow their images."""
    torch.manual_seed(11)
    x = torch.randn(3, 64, 112, 112).to(dtype).contiguous(memory_format=memory_format)
    wt = (torch.randn(64, 1, 3, 3) * 0.3).to(dtype)
    b = torch.randn(64).to(dtype)
    skip = torch.randn(3, 64, 112, 112).to(dtype).contiguous(memory_format=memory_format)
    torch_aie.set_conv_precision(precision)
    xa, wa, ba, sa = x.to("aie"), wt.to("aie"), b.to("aie"), skip.to("aie")
    assert torch_aie.explain_conv(xa, wa, ba, 1, 1, 1, 64).startswith("depthwise")
    batch = F.conv2d(xa, wa, ba, 1, 1, 1, 64).cpu()
    alone = torch.cat([F.conv2d(xa[i:i + 1], wa, ba, 1, 1, 1, 64).cpu() for i in range(3)])
    assert torch.equal(batch, alone)
    fused = torch.ops.aie.conv2d(xa, wa, ba, [1, 1], [1, 1], [1, 1], 64, "auto", True, "none", sa).cpu()
    fused_alone = torch.cat([torch.ops.aie.conv2d(xa[i:i + 1], wa, ba, [1, 1], [1, 1], [1, 1], 64, "auto", True,
                                                  "none", sa[i:i + 1]).cpu() for i in range(3)])
    assert torch.equal(fused, fused_alone)
    ref = F.conv2d(x.double(), wt.double(), b.double(), 1, 1, 1, 64)
    mag = F.conv2d(x.double().abs(), wt.double().abs(), b.double().abs(), 1, 1, 1, 64)
    tol = conv_error_bound(mode, 9, mag, ref)
    assert ((batch.double() - ref).abs() <= tol).all()
    fused_ref = torch.relu(ref + skip.double())
    assert ((fused.double() - fused_ref).abs() <= tol + skip.double().abs() * 2.0**-8).all()


# (C, H, W, kernel, stride, padding, dilation): windows inside and across every border, wide and narrow rows.
IN_PLACE_DEPTHWISE = [
    (32, 17, 45, 3, 1, 1, 1),   # interior chunks, border chunks clipped, a short last chunk
    (24, 16, 70, 3, 2, 1, 1),   # stride 2
    (20, 12, 40, 5, 1, 4, 2),   # dilated 5x5, padding past the kernel's reach (the pointer kernel, patches)
    (16, 5, 12, 3, 1, 3, 1),    # undilated, padding past the kernel's reach: windows wholly in the padding
    (17, 9, 40, 7, 1, 3, 1),    # 7x7, odd channel count
    (48, 6, 66, 3, 2, 0, 1),    # no padding
    (72, 9, 14, 3, 1, 1, 1),    # a 14-pixel row: one whole chunk, one short, both clipped
    (40, 7, 7, 3, 2, 1, 1),     # one short chunk per row, stride 2
    (53, 6, 10, 5, 1, 2, 1),    # 5x5 on a narrow row, a 21-channel vector tail
]


@pytest.mark.parametrize("shape", IN_PLACE_DEPTHWISE, ids=lambda s: "x".join(map(str, s)))
def test_bf16_channels_last_depthwise_read_in_place_equals_the_staged_result(shape):
    """csrc/runtime/emulator/depthwise_in_place.cpp: a depthwise conv on a bfloat16 channels-last input reads the
    tensor itself (a strided channels-last view too); border chunks clip their windows to the image (the window
    kernel) or copy them into zero-padded patches (the pointer kernel, dilated rows). Its result is the planar
    (staged) path's, bit for bit, with bias, ReLU and a residual, and within the bound."""
    c, h, w, k, s, p, d = shape
    torch.manual_seed(c * h + w)
    wide = torch.randn(2, c + 5, h, w).to(torch.bfloat16).contiguous(memory_format=torch.channels_last)
    x = wide[:, 2:2 + c]
    wt = (torch.randn(c, 1, k, k) * 0.3).to(torch.bfloat16)
    b = torch.randn(c).to(torch.bfloat16)
    torch_aie.set_conv_precision("bf16")
    xa, wa, ba = wide.to("aie")[:, 2:2 + c], wt.to("aie"), b.to("aie")
    assert xa.stride(1) == 1 and xa.stride(3) == c + 5  # channels contiguous, pixels c + 5 elements apart
    planar = F.conv2d(xa.contiguous(), wa, ba, s, p, d, c).cpu()
    assert torch.equal(F.conv2d(xa, wa, ba, s, p, d, c).cpu(), planar)
    assert torch.equal(F.conv2d(xa.contiguous(memory_format=torch.channels_last), wa, ba, s, p, d, c).cpu(), planar)
    skip = torch.randn(planar.shape).to(torch.bfloat16)
    args = ([s, s], [p, p], [d, d], c, "auto", True, "none")
    fused = torch.ops.aie.conv2d(xa, wa, ba, *args, skip.contiguous(memory_format=torch.channels_last).to("aie"))
    assert torch.equal(fused.cpu(), torch.ops.aie.conv2d(xa.contiguous(), wa, ba, *args, skip.to("aie")).cpu())
    ref = F.conv2d(x.double(), wt.double(), b.double(), s, p, d, c)
    mag = F.conv2d(x.double().abs(), wt.double().abs(), b.double().abs(), s, p, d, c)
    assert ((planar.double() - ref).abs() <= conv_error_bound("bf16_tensor", k * k, mag, ref)).all()


@pytest.mark.parametrize("shape", IN_PLACE_DEPTHWISE, ids=lambda s: "x".join(map(str, s)))
def test_fp32_channels_last_depthwise_staged_as_bits_equals_the_planar_result(shape):
    """csrc/runtime/emulator/depthwise_in_place.cpp: a depthwise conv on a dense channels-last fp32 input in bf16
    precision rounds the input to bf16 bits once and runs the in-place path on them. Its result is the planar
    path's, bit for bit, with bias, ReLU and a residual, or Hardswish; a strided channels-last view (not dense) is
    staged in fp32 and gives the same bits too."""
    c, h, w, k, s, p, d = shape
    torch.manual_seed(c * h + w + 1)
    x = torch.randn(2, c, h, w).contiguous(memory_format=torch.channels_last)
    wt = torch.randn(c, 1, k, k) * 0.3
    b = torch.randn(c)
    torch_aie.set_conv_precision("bf16")
    xa, wa, ba = x.to("aie"), wt.to("aie"), b.to("aie")
    planar = F.conv2d(xa.contiguous(), wa, ba, s, p, d, c).cpu()
    assert torch.equal(F.conv2d(xa, wa, ba, s, p, d, c).cpu(), planar)
    wide = torch.randn(2, c + 3, h, w).contiguous(memory_format=torch.channels_last).to("aie")
    wide[:, 1:1 + c] = xa
    assert torch.equal(F.conv2d(wide[:, 1:1 + c], wa, ba, s, p, d, c).cpu(), planar)
    skip = torch.randn(planar.shape)
    args = ([s, s], [p, p], [d, d], c, "auto", True, "none")
    fused = torch.ops.aie.conv2d(xa, wa, ba, *args, skip.contiguous(memory_format=torch.channels_last).to("aie"))
    assert torch.equal(fused.cpu(), torch.ops.aie.conv2d(xa.contiguous(), wa, ba, *args, skip.to("aie")).cpu())
    # A fused activation: the same bits from the planar (streamed) and channels-last (bits) paths.
    act = ([s, s], [p, p], [d, d], c, "auto", False, "hardswish", None)
    assert torch.equal(torch.ops.aie.conv2d(xa.contiguous(), wa, ba, *act).cpu(),
                       torch.ops.aie.conv2d(xa, wa, ba, *act).cpu())
    ref = F.conv2d(x.double(), wt.double(), b.double(), s, p, d, c)
    mag = F.conv2d(x.double().abs(), wt.double().abs(), b.double().abs(), s, p, d, c)
    assert ((planar.double() - ref).abs() <= conv_error_bound("bf16", k * k, mag, ref)).all()


# (N, C, H, W, OC, groups): pixel counts that end in a partial 16-row group, and in a partial 64-row block after
# whole ones; grouped convs copy each group's tail from the same rows
IN_PLACE_ONE_BY_ONE = [(1, 64, 1, 1, 48, 1), (1, 32, 1, 7, 40, 1), (1, 512, 7, 7, 96, 1), (1, 256, 14, 14, 64, 1),
                       (3, 16, 5, 5, 24, 1), (2, 64, 10, 10, 160, 1), (1, 48, 1, 48, 32, 1), (1, 64, 7, 7, 96, 2),
                       (3, 32, 5, 5, 48, 4)]


@pytest.mark.parametrize("shape", IN_PLACE_ONE_BY_ONE, ids=lambda s: "x".join(map(str, s)))
def test_bf16_channels_last_1x1_read_in_place_equals_the_staged_result(shape):
    """csrc/runtime/emulator/bf16_pixel_rows.cpp split_block: a stride-1 1x1 conv on a dense bfloat16
    channels-last input reads the tensor itself, and a last block that ends in a partial row group reads those rows
    from a zero-padded copy. Its result is that of the staged input (a strided view of the same values), bit for
    bit, with bias, GELU and a residual, on any thread count, and within the bound."""
    n, c, h, w, oc, g = shape
    torch.manual_seed(c * h + w)
    wide = torch.randn(n, c + 6, h, w).to(torch.bfloat16).contiguous(memory_format=torch.channels_last)
    x = wide[:, 3:3 + c]
    wt = (torch.randn(oc, c // g, 1, 1) * 0.3).to(torch.bfloat16)
    b = torch.randn(oc).to(torch.bfloat16)
    skip = torch.randn(n, oc, h, w).to(torch.bfloat16).contiguous(memory_format=torch.channels_last)
    torch_aie.set_conv_precision("bf16")
    strided, wa, ba, sa = wide.to("aie")[:, 3:3 + c], wt.to("aie"), b.to("aie"), skip.to("aie")
    dense = strided.contiguous(memory_format=torch.channels_last)
    args = ([1, 1], [0, 0], [1, 1], g, "auto", False, "gelu", sa)
    before = torch.get_num_threads()
    try:
        results = []
        for threads in (1, 2, 3):
            torch.set_num_threads(threads)
            results += [torch.ops.aie.conv2d(t, wa, ba, *args).cpu() for t in (dense, strided)]
    finally:
        torch.set_num_threads(before)
    for r in results[1:]:
        assert torch.equal(r, results[0])
    plain = F.conv2d(dense, wa, ba, groups=g).cpu()
    ref = F.conv2d(x.double(), wt.double(), b.double(), groups=g)
    mag = F.conv2d(x.double().abs(), wt.double().abs(), b.double().abs(), groups=g)
    assert ((plain.double() - ref).abs() <= conv_error_bound("bf16_tensor", c // g, mag, ref)).all()
    assert torch.equal(F.conv2d(strided, wa, ba, groups=g).cpu(), plain)
