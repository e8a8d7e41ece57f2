"""Leaks, concurrency and out-of-memory on the conv path."""
import copy
import gc
import threading

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import torch_aie


def _rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def _model(seed, width):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
                         nn.Conv2d(width, width, 3, stride=2, padding=1, groups=width), nn.ReLU(),
                         nn.Conv2d(width, 10, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten()).eval()


def _cycle(seed):
    model = _model(seed, 32).to("aie")
    with torch.no_grad():
        out = model(torch.randn(4, 3, 32, 32, device="aie")).cpu()
    del model
    return out


def test_load_run_delete_cycles_return_memory_to_baseline():
    """Device memory in use returns exactly to its start after every cycle, and reserved
    memory too once the allocator's cache is emptied; process RSS grows by at most 64 MiB
    over 30 cycles after a warm-up (allocator and thread-local workspaces settle)."""
    for i in range(3):
        _cycle(i)
    gc.collect()
    torch.aie.empty_cache()
    base_dev = torch.aie.memory_allocated()
    base_reserved = torch.aie.memory_reserved()
    assert base_reserved == base_dev
    base_rss = _rss_bytes()
    for i in range(30):
        _cycle(i)
        gc.collect()
        assert torch.aie.memory_allocated() == base_dev
        # The cache keeps the cycle's blocks for the next one, so it stops growing.
        if i == 0:
            cycle_reserved = torch.aie.memory_reserved()
        assert torch.aie.memory_reserved() <= max(cycle_reserved, base_reserved)
    torch.aie.empty_cache()
    assert torch.aie.memory_reserved() == base_reserved
    growth = _rss_bytes() - base_rss
    assert growth <= 64 << 20, f"RSS grew by {growth / 2**20:.1f} MiB over 30 cycles"


def test_threads_running_different_models_agree_with_serial_runs():
    models = [_model(i, w).to("aie") for i, w in enumerate((8, 16, 24, 40))]
    inputs = [torch.randn(2, 3, 24, 24, generator=torch.Generator().manual_seed(i)).to("aie") for i in range(4)]
    with torch.no_grad():
        expected = [m(x).cpu() for m, x in zip(models, inputs)]
    bad = []

    def run(i):
        with torch.no_grad():
            for _ in range(25):
                if not torch.equal(models[i](inputs[i]).cpu(), expected[i]):
                    bad.append(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not bad


def test_conv_output_over_capacity_raises_oom_and_the_process_continues():
    old = torch_aie.memory_capacity()
    x = torch.randn(1, 8, 64, 64, device="aie")
    w = torch.randn(64, 8, 3, 3, device="aie")
    torch_aie.set_memory_capacity(torch.aie.memory_allocated() + (256 << 10))
    try:
        with pytest.raises(torch.OutOfMemoryError, match="capacity"):
            F.conv2d(x, w, padding=1)  # a 1 MiB output
    finally:
        torch_aie.set_memory_capacity(old)
    y = F.conv2d(x, w, padding=1).cpu()
    r = lambda t: t.cpu().to(torch.bfloat16).double()  # noqa: E731
    ref = F.conv2d(r(x), r(w), padding=1)
    assert (y.double() - ref).abs().max().item() < 1e-3 * ref.abs().max().item()
