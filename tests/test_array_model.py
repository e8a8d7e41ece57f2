"""AIE array plans: every ResNet-50 / MobileNetV2 conv fits Phoenix and Strix memories;
a plan that would not fit is rejected with the buffer named, and still computes right."""
import pytest
import torch
import torch.nn.functional as F

import torch_aie
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
    x = torch.randn(1, 16, 3, 3000)  # a 3000-wide row of 16 channels x 4 rows > 64 KiB of core memory
    w = torch.randn(16, 1, 3, 3)
    torch_aie.reset_conv_stats()
    msg = torch_aie.explain_conv(x, w, padding=1, groups=16)
    assert msg.startswith("cpu_fallback") and "line buffers" in msg and "65536" in msg
    y = F.conv2d(x.to("aie"), w.to("aie"), padding=1, groups=16).cpu()
    torch.testing.assert_close(y, F.conv2d(x, w, padding=1, groups=16))
    assert any("does not fit phoenix" in k for k in torch_aie.conv_stats())


def test_whole_array_gemm_model_is_within_2x_of_published_measurements():
    """arXiv 2512.13282: XDNA 3.14 TFLOPS bf16 / 6.76 TOPS int8; XDNA2 14.71 / 38.05."""
    published = {("phoenix", "bf16"): 3.14, ("phoenix", "int8"): 6.76,
                 ("strix", "bf16"): 14.71, ("strix", "int8"): 38.05}
    for (array, dtype), measured in published.items():
        modelled = torch_aie.gemm_array_model(4096, 4096, 4096, array, dtype)["ops_per_s"] / 1e12
        assert 0.5 <= modelled / measured <= 2.0, (array, dtype, modelled, measured)
