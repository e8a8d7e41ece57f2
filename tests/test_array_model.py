"""AIE array plans: every ResNet-50 / MobileNetV2 conv fits Phoenix and Strix memories;
a plan that would not fit is rejected with the buffer named, and still computes right."""
import pytest
import torch
import torch.nn.functional as F

import torch_aie
from conv_bounds import conv_error_bound
from torch_aie import models


@pytest.fixture(autouse=True)
def _phoenix():
    yield
    torch_aie.set_array("phoenix")


@pytest.mark.parametrize("array", ["phoenix", "strix"])
@pytest.mark.parametrize("name", ["resnet50", "mobilenet_v2"])
def test_model_layers_fit_the_array(name, array):
    torch_aie.set_array(array)
    model = models.MODELS[name]()
    shapes, hooks = [], []
    for _, m in models.conv_layers(model):
        hooks.append(m.register_forward_hook(lambda mod, i, o: shapes.append((mod, i[0].shape))))
    model.to("meta")(torch.empty(1, 3, 224, 224, device="meta"))
    for mod, shape in shapes:
        plan = torch_aie.conv_array_plan(torch.empty(shape, device="meta"), mod.weight, mod.stride,
                                         mod.padding, mod.dilation, mod.groups)
        assert plan["fits"] == 1.0 and not plan["algorithm"].startswith("cpu_fallback"), plan
        assert plan["core_bytes"] <= 64 * 1024 and plan["memtile_bytes"] <= 512 * 1024
        assert 1 <= plan["cores_used"] <= (16 if array == "phoenix" else 32)
        assert plan["modelled_us"] > 0 and 0 < plan["utilisation"] <= 1.0


def test_plan_that_does_not_fit_falls_back_with_the_buffer_named():
    # Depthwise rows are tiled, but a tile's window keeps the kernel's halo: at dilation
    # 400 even a 16-pixel tile needs 816 input pixels x 16 channels x 4 rows > 64 KiB.
    x = torch.randn(1, 16, 3, 3000)
    w = torch.randn(16, 1, 3, 3)
    torch_aie.reset_conv_stats()
    msg = torch_aie.explain_conv(x, w, padding=400, dilation=400, groups=16)
    assert msg.startswith("cpu_fallback") and "line buffers" in msg and "65536" in msg
    y = F.conv2d(x.to("aie"), w.to("aie"), padding=400, dilation=400, groups=16).cpu()
    torch.testing.assert_close(y, F.conv2d(x, w, padding=400, dilation=400, groups=16))
    assert any("does not fit phoenix" in k for k in torch_aie.conv_stats())


def test_whole_array_gemm_model_is_within_2x_of_published_measurements():
    """arXiv 2512.13282: XDNA 3.14 TFLOPS bf16 / 6.76 TOPS int8; XDNA2 14.71 / 38.05."""
    published = {("phoenix", "bf16"): 3.14, ("phoenix", "int8"): 6.76,
                 ("strix", "bf16"): 14.71, ("strix", "int8"): 38.05}
    for (array, dtype), measured in published.items():
        modelled = torch_aie.gemm_array_model(4096, 4096, 4096, array, dtype)["ops_per_s"] / 1e12
        assert 0.5 <= modelled / measured <= 2.0, (array, dtype, modelled, measured)


# (input shape, kernel, padding): whole rows of these do not fit a core's 64 KiB.
WIDE_DEPTHWISE = {
    "3x3 on 256-px rows": ((1, 32, 256, 256), 3, 1),
    "5x5 at 224 px": ((1, 32, 224, 224), 5, 2),
    "7x7 at 224 px": ((1, 32, 224, 224), 7, 3),
    "3x3 stride-2 on 1000-px rows": ((1, 16, 6, 1000), 3, 1),
    "1-D k=3 over 1000 samples": ((1, 64, 1000), 3, 1),
    "1-D k=31 over 4000 samples": ((1, 16, 4000), 31, 15),
}


@pytest.mark.parametrize("array", ["phoenix", "strix"])
@pytest.mark.parametrize("case", list(WIDE_DEPTHWISE))
def test_wide_depthwise_rows_get_tiled_plans(case, array):
    """The plan tiles the row: a tile plus its halo in core memory, whole rows (or the
    tiles' windows) in the memtile; the conv then runs in the emulator, within the bound."""
    torch_aie.set_array(array)
    shape, k, pad = WIDE_DEPTHWISE[case]
    stride = 2 if "stride-2" in case else 1
    c, dims = shape[1], len(shape) - 2
    x = torch.randn(shape, generator=torch.Generator().manual_seed(1))
    w = torch.randn((c, 1) + (k,) * dims, generator=torch.Generator().manual_seed(2))
    plan = torch_aie.conv_array_plan(x, w, stride, pad, 1, c)
    out_w = (shape[-1] + 2 * pad - k) // stride + 1
    assert plan["algorithm"] == "depthwise" and plan["fits"] == 1.0, plan
    assert 16 <= plan["tile_m"] < out_w and plan["tile_m"] % 16 == 0
    assert plan["core_bytes"] <= 64 * 1024 and plan["memtile_bytes"] <= 512 * 1024
    assert plan["modelled_us"] > 0 and 0 < plan["utilisation"] <= 1.0
    conv = F.conv1d if dims == 1 else F.conv2d
    torch_aie.reset_conv_stats()
    y = conv(x.to("aie"), w.to("aie"), None, stride, pad, 1, c).cpu().double()
    assert {k: v for k, v in torch_aie.conv_stats().items() if v} == {"npu:depthwise": 1}
    r = lambda t: t.to(torch.bfloat16).double()  # noqa: E731
    ref = conv(r(x), r(w), None, stride, pad, 1, c)
    mag = conv(r(x).abs(), r(w).abs(), None, stride, pad, 1, c)
    assert ((y - ref).abs() <= conv_error_bound("bf16", k ** dims, mag, ref)).all()


def test_rows_that_fit_keep_whole_row_plans():
    """MobileNetV2's widest depthwise layer (112 px) keeps one tile per row."""
    x = torch.empty(1, 96, 112, 112, device="meta")
    w = torch.empty(96, 1, 3, 3, device="meta")
    plan = torch_aie.conv_array_plan(x, w, 2, 1, 1, 96)
    assert plan["fits"] == 1.0 and plan["tile_m"] == 56
