"""The weight pre-transform cache: hits, invalidation on every kind of in-place
update, eviction, thread safety; and optimize()."""
import copy
import threading

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import torch_aie
from torch_aie import models


@pytest.fixture(autouse=True)
def _fresh_cache():
    torch_aie.weight_cache_clear()
    torch_aie.weight_cache_reset_counters()
    torch_aie.set_weight_cache_budget(1 << 30)
    yield
    torch_aie.set_weight_cache_budget(1 << 30)


def _net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 32, 3, 2, 1),
                         nn.ReLU(), nn.Conv2d(32, 8, 1), nn.Conv2d(8, 8, 3, groups=8))


def _bf16_ref(model, x):
    """The same net on the CPU with every conv's operands rounded to bf16 (float64 math)."""
    r = lambda t: None if t is None else t.to(torch.bfloat16).double()  # noqa: E731
    y = x.double()
    for m in model:
        if isinstance(m, nn.Conv2d):
            y = F.conv2d(r(y), r(m.weight), None if m.bias is None else m.bias.double(), m.stride,
                         m.padding, m.dilation, m.groups)
        else:
            y = m(y)
    return y


def _assert_fresh(model_aie, model_cpu, x):
    """Output of the aie model equals a bf16-operand reference built from the CPU
    model's *current* weights: a stale packed weight would fail this."""
    y = model_aie(x.to("aie")).cpu().double()
    ref = _bf16_ref(model_cpu, x)
    assert (y - ref).abs().max().item() <= 1e-3 * ref.abs().max().item() + 1e-6


def test_model_moved_to_aie_and_run_twice_packs_each_weight_once():
    model = _net().to("aie")
    x = torch.randn(2, 3, 16, 16, device="aie")
    with torch.no_grad():
        model(x)
        s1 = torch_aie.weight_cache_stats()
        model(x)
        s2 = torch_aie.weight_cache_stats()
    assert s1["misses"] == 4 and s1["hits"] == 0 and s1["entries"] == 4
    assert s2["misses"] == 4 and s2["hits"] == 4
    assert s2["bytes"] > 0


UPDATES = {
    "optimizer_step": lambda m, cpu: _sgd_step(m, cpu),
    "copy_": lambda m, cpu: _both(m, cpu, lambda w: w.copy_(torch.randn_like(w.cpu()).to(w.device))),
    "mul_no_grad": lambda m, cpu: _both(m, cpu, lambda w: w.mul_(2)),
    "load_state_dict": lambda m, cpu: _load_sd(m, cpu),
    "data_assignment": lambda m, cpu: _assign_data(m, cpu),
}


def _both(model, cpu, fn):
    with torch.no_grad():
        fn(model[0].weight)
        cpu[0].weight.copy_(model[0].weight.cpu())


def _sgd_step(model, cpu):
    x = torch.randn(1, 3, 16, 16)
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    model(x.to("aie")).sum().backward()
    opt.step()
    cpu.load_state_dict({k: v.cpu() for k, v in model.state_dict().items()})


def _load_sd(model, cpu):
    new = _net()
    for p in new.parameters():
        p.data.normal_()
    model.load_state_dict(new.state_dict())
    cpu.load_state_dict(new.state_dict())


def _assign_data(model, cpu):
    w = torch.randn_like(cpu[0].weight)
    model[0].weight.data = w.to("aie")
    cpu[0].weight.data = w.clone()


@pytest.mark.parametrize("update", list(UPDATES))
def test_in_place_update_invalidates(update):
    cpu = _net()
    model = copy.deepcopy(cpu).to("aie")
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        _assert_fresh(model, cpu, x)
    UPDATES[update](model, cpu)
    misses = torch_aie.weight_cache_stats()["misses"]
    with torch.no_grad():
        _assert_fresh(model, cpu, x)
    assert torch_aie.weight_cache_stats()["misses"] > misses


def test_freed_and_reused_weight_never_hits():
    x = torch.randn(1, 4, 8, 8, device="aie")
    for i in range(20):  # new weights each time; addresses get reused by the allocator
        w = torch.full((4, 4, 3, 3), float(i + 1)).to("aie")
        y = F.conv2d(x, w, padding=1).cpu()
        ref = F.conv2d(x.cpu().to(torch.bfloat16).double(), w.cpu().to(torch.bfloat16).double(), padding=1)
        assert torch.allclose(y.double(), ref, rtol=1e-3, atol=1e-3)
        del w
    assert torch_aie.weight_cache_stats()["hits"] == 0


def test_eviction_under_small_budget_stays_correct():
    cpu = _net()
    model = copy.deepcopy(cpu).to("aie")
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        _assert_fresh(model, cpu, x)
    full = torch_aie.weight_cache_stats()["bytes"]
    torch_aie.weight_cache_clear()
    torch_aie.set_weight_cache_budget(full - 1)  # the four packed weights no longer fit together
    with torch.no_grad():
        for _ in range(3):
            _assert_fresh(model, cpu, x)
    s = torch_aie.weight_cache_stats()
    assert s["evictions"] > 0 and s["bytes"] <= full - 1


def test_threads_share_the_cache_and_agree():
    model = _net().to("aie").eval()
    x = torch.randn(1, 3, 16, 16, device="aie")
    with torch.no_grad():
        expected = model(x).cpu()
    torch_aie.weight_cache_reset_counters()
    n_threads, runs = 8, 200
    failures = []

    def worker():
        with torch.no_grad():
            for _ in range(runs):
                if not torch.equal(model(x).cpu(), expected):
                    failures.append(1)

    threads = [threading.Thread(target=worker) for _ in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures
    s = torch_aie.weight_cache_stats()
    assert s["hits"] == n_threads * runs * 4 and s["misses"] == 0 and s["entries"] == 4


def test_optimize_refuses_training_mode_and_shared_weights():
    with pytest.raises(ValueError, match="eval"):
        torch_aie.optimize(_net().train())
    conv = nn.Conv2d(4, 4, 3, padding=1)
    twin = nn.Sequential(conv, nn.ReLU(), conv).eval()  # one weight, two call sites
    with pytest.raises(ValueError, match="shared"):
        torch_aie.optimize(twin)


def test_optimized_resnet50_matches_unoptimised():
    """optimize() folds BN and fuses ReLU: on ResNet-50 its logits must be as close
    to CPU fp32 as the unoptimised aie model's, and both within 3x the error that
    ATen itself makes when every conv's operands are rounded to bf16 (the bf16
    bound of this network, measured in the same run)."""
    model = models.build("resnet50")
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        ref = model(x)
        e_bf16 = (models.bf16_operand_model(model)(x) - ref).abs().max().item()
        aie_model = copy.deepcopy(model).to("aie")
        plain = aie_model(x.to("aie")).cpu()
        opt = torch_aie.optimize(aie_model)
        fused = opt(x.to("aie")).cpu()
    assert sum(isinstance(m, torch_aie.AieConv2d) for m in opt.modules()) == 53
    assert not any(isinstance(m, nn.BatchNorm2d) for m in opt.modules())
    assert sum(m.relu for m in opt.modules() if isinstance(m, torch_aie.AieConv2d)) == 33
    assert (plain - ref).abs().max().item() <= 3 * e_bf16
    assert (fused - ref).abs().max().item() <= 3 * e_bf16


def test_weight_cache_enabled_restores_the_previous_state():
    assert torch_aie.get_weight_cache_enabled()
    with torch_aie.weight_cache_enabled(False):
        assert not torch_aie.get_weight_cache_enabled()
        with torch_aie.weight_cache_enabled(False):
            pass
        assert not torch_aie.get_weight_cache_enabled()  # the inner exit keeps it off
        with torch_aie.weight_cache_enabled(True):
            assert torch_aie.get_weight_cache_enabled()
        assert not torch_aie.get_weight_cache_enabled()
    assert torch_aie.get_weight_cache_enabled()


def test_verify_mode_names_a_stale_weight():
    conv = nn.Conv2d(3, 4, 3).to("aie")
    x = torch.randn(1, 3, 6, 6).to("aie")
    conv(x)  # packs
    with torch.no_grad():
        conv.weight.data.mul_(2)  # .data: the version counter of conv.weight does not move
    assert not torch_aie.get_weight_cache_verify()
    stale = conv(x).cpu()  # documented: without verify mode the stale pack is served
    expected = F.conv2d(x.cpu(), conv.weight.cpu(), conv.bias.cpu())
    assert not torch.allclose(stale, expected, atol=1e-2)
    torch_aie.set_weight_cache_verify(True)
    try:
        with pytest.raises(RuntimeError, match=r"\[4, 3, 3, 3\].*Float.*data_ptr.*is stale") as e:
            conv(x)
        assert str(conv.weight.data_ptr()) in str(e.value)
        torch_aie.weight_cache_clear()
        torch.testing.assert_close(conv(x).cpu(), expected, rtol=2e-2, atol=2e-2)  # repacked
        hits = torch_aie.weight_cache_stats()["hits"]
        conv(x)  # an honest hit passes the check
        assert torch_aie.weight_cache_stats()["hits"] == hits + 1
    finally:
        torch_aie.set_weight_cache_verify(False)
