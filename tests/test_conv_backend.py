"""The conv-backend seam (csrc/runtime/conv_backend.h) and the build options around it."""
import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest
import torch

import torch_aie

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_host_emulator_is_the_registered_default():
    assert torch.ops._aie.get_conv_backend() == "host_emulator"
    assert "host_emulator" in torch.ops._aie.conv_backends()


def test_unknown_backend_is_refused_with_the_names_it_knows():
    with pytest.raises(ValueError, match=r"'no_such_backend' is not a registered conv backend.*'host_emulator'"):
        torch.ops._aie.set_conv_backend("no_such_backend")
    assert torch.ops._aie.get_conv_backend() == "host_emulator"
    torch.ops._aie.set_conv_backend("host_emulator")  # selecting the active one is a no-op
    x, w = torch.randn(1, 8, 6, 6), torch.randn(8, 8, 3, 3)
    y = torch.ops.aie.conv2d(x.to("aie"), w.to("aie"), None, [1, 1], [1, 1], [1, 1], 1, "auto", False)
    xb = x.to(torch.bfloat16).double()
    wb = w.to(torch.bfloat16).double()
    ref = torch.nn.functional.conv2d(xb, wb, padding=1)
    mag = torch.nn.functional.conv2d(xb.abs(), wb.abs(), padding=1)
    assert ((y.cpu().double() - ref).abs() <= 2 ** -20 * mag + 1e-30).all()


def _run(code, env_extra):
    env = dict(os.environ, PYTHONPATH=str(ROOT), **env_extra)
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)


CONV = ("import torch, torch_aie; x = torch.randn(1, 4, 5, 5).to('aie'); w = torch.randn(4, 4, 3, 3).to('aie');"
        "torch.nn.functional.conv2d(x, w, padding=1); print(torch.ops._aie.get_conv_backend())")


def test_backend_chosen_by_environment():
    ok = _run(CONV, {"TORCH_AIE_CONV_BACKEND": "host_emulator"})
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == "host_emulator"
    bad = _run(CONV, {"TORCH_AIE_CONV_BACKEND": "bogus_backend"})
    assert bad.returncode != 0
    assert "TORCH_AIE_CONV_BACKEND 'bogus_backend' is not a registered conv backend" in bad.stderr


def test_cmake_names_only_sources_that_exist():
    text = (ROOT / "CMakeLists.txt").read_text()
    named = re.findall(r"[\w/]+\.cpp", text)
    assert named, "expected CMakeLists.txt to list the kernel sources"
    missing = [n for n in named if not (ROOT / n).exists()]
    assert missing == [], f"CMakeLists.txt names sources that do not exist: {missing}"


def test_xrt_option_stops_configure_with_a_clear_message(tmp_path):
    cmake = shutil.which("cmake", path=os.path.dirname(sys.executable)) or shutil.which("cmake")
    if cmake is None:
        pytest.skip("no cmake on this host")
    r = subprocess.run([cmake, "-S", str(ROOT), "-B", str(tmp_path / "b"), "-DTORCH_AIE_XRT=ON"],
                       capture_output=True, text=True, timeout=300)
    out = r.stdout + r.stderr
    assert r.returncode != 0
    assert "TORCH_AIE_XRT=ON" in out
    # Whichever XRT this host has (none, 2.13 as in Debian 12, or a newer one), configure says why it stops.
    assert ("no XRT found" in out or "has no xrt::hw_context" in out or
            "the XRT backend is not written" in out), out
