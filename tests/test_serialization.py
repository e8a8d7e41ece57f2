"""torch.save / torch.load of aie tensors and state_dicts."""
import copy

import pytest
import torch
from torch import nn

import torch_aie  # registers the aie device


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 8 * 8, 5)
    )


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.int64, torch.bool])
@pytest.mark.parametrize("map_location, expected", [(None, "aie"), ("cpu", "cpu"), ("aie", "aie"),
                                                    (torch.device("aie:0"), "aie")])
def test_tensor_round_trip(tmp_path, dtype, map_location, expected):
    x = (torch.randn(4, 6) * 10).to(dtype)
    path = tmp_path / "t.pt"
    torch.save(x.to("aie"), path)
    loaded = torch.load(path, map_location=map_location)
    assert loaded.device.type == expected and loaded.dtype == dtype
    assert torch.equal(loaded.cpu(), x)


def test_views_keep_sharing_storage(tmp_path):
    base = torch.arange(12.0, device="aie")
    path = tmp_path / "views.pt"
    torch.save({"base": base, "view": base.view(3, 4)[1:, ::2]}, path)
    loaded = torch.load(path)
    assert loaded["view"].device.type == "aie"
    torch.testing.assert_close(loaded["view"].cpu(), torch.arange(12.0).view(3, 4)[1:, ::2])
    loaded["base"][4] = -1.0  # still one storage after loading
    assert loaded["view"][0, 0].item() == -1.0


def test_cpu_checkpoint_loads_onto_aie(tmp_path):
    x = torch.randn(3, 3)
    path = tmp_path / "cpu.pt"
    torch.save(x, path)
    loaded = torch.load(path, map_location="aie")
    assert loaded.device.type == "aie"
    torch.testing.assert_close(loaded.cpu(), x)


@pytest.mark.parametrize("map_location", [None, "cpu"])
def test_state_dict_round_trip(tmp_path, map_location):
    model = _model().to("aie")
    model.train()
    model(torch.randn(2, 3, 8, 8, device="aie"))  # moves the BatchNorm running stats
    model.eval()
    path = tmp_path / "model.pt"
    torch.save(model.state_dict(), path)

    state = torch.load(path, map_location=map_location)
    expected_device = "cpu" if map_location == "cpu" else "aie"
    assert all(v.device.type == expected_device for v in state.values())

    fresh = _model()
    fresh.apply(lambda m: [p.data.zero_() for p in m.parameters(recurse=False)])
    fresh = fresh.to("aie")
    fresh.load_state_dict(state)
    fresh.eval()
    assert all(p.device.type == "aie" for p in fresh.parameters())
    x = torch.randn(3, 3, 8, 8, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        torch.testing.assert_close(fresh(x.to("aie")).cpu(), model(x.to("aie")).cpu())
        cpu_model = copy.deepcopy(model).cpu()
        # Exact fp32 convs ("ieee") so that only the loaded values are compared.
        with torch_aie.conv_precision("ieee"):
            torch.testing.assert_close(fresh(x.to("aie")).cpu(), cpu_model(x), rtol=1e-4, atol=1e-5)


def test_whole_module_and_optimizer_round_trip(tmp_path):
    model = _model().to("aie")
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.randn(2, 3, 8, 8, device="aie")).sum().backward()
    opt.step()
    path = tmp_path / "ckpt.pt"
    torch.save({"model": model, "opt": opt.state_dict()}, path)
    ckpt = torch.load(path, weights_only=False)
    assert all(p.device.type == "aie" for p in ckpt["model"].parameters())
    momentum = [s["momentum_buffer"] for s in ckpt["opt"]["state"].values()]
    assert momentum and all(m.device.type == "aie" for m in momentum)
    for a, b in zip(ckpt["model"].parameters(), model.parameters()):
        assert torch.equal(a.cpu(), b.cpu())


def test_untyped_storage_methods():
    s = torch.arange(4, dtype=torch.uint8).untyped_storage()
    a = s.aie()
    assert a.is_aie and a.device.type == "aie"
    assert a.cpu().tolist() == [0, 1, 2, 3]
