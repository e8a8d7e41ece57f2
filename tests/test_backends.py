"""torch_aie.backends: conv settings as attributes and flags(); the torch.backends
autoload entry point."""
import os
import subprocess
import sys

import pytest
import torch

import torch_aie


def test_conv_attributes_are_the_settings():
    c = torch_aie.backends.conv
    assert (c.fp32_precision, c.benchmark, c.algorithm) == ("bf16", False, "auto")
    c.fp32_precision = "bf16x3"
    assert torch_aie.get_conv_precision() == "bf16x3"
    torch_aie.set_conv_precision("ieee")
    assert c.fp32_precision == "ieee"
    c.algorithm = "direct"
    assert torch_aie.get_conv_algorithm() == "direct"
    c.benchmark = True
    assert c.benchmark and "benchmark=True" in repr(c)
    c.benchmark = False
    with pytest.raises(TypeError):
        c.benchmark = 1
    with pytest.raises(ValueError, match="'bf16', 'bf16x3', 'ieee'"):
        c.fp32_precision = "tf32"
    with pytest.raises(AttributeError):
        c.deterministic = True  # no such setting: refused, not silently stored


def test_flags_sets_and_restores():
    c = torch_aie.backends.conv
    c.algorithm = "im2col_gemm"
    with torch_aie.backends.flags(fp32_precision="bf16x3", benchmark=True):
        assert (c.fp32_precision, c.benchmark, c.algorithm) == ("bf16x3", True, "im2col_gemm")
        with torch_aie.backends.flags(algorithm="auto"):
            assert c.algorithm == "auto"
        assert c.algorithm == "im2col_gemm"
    assert (c.fp32_precision, c.benchmark, c.algorithm) == ("bf16", False, "im2col_gemm")
    with pytest.raises(ValueError):
        with torch_aie.backends.flags(fp32_precision="ieee"):
            raise ValueError("restored even so")
    assert c.fp32_precision == "bf16"


def test_torch_backends_entry_point_autoloads(tmp_path):
    # The distribution metadata pip writes from setup.py's entry_points, on a path of its
    # own: torch's own autoload (torch._import_device_backends) then finds it, without
    # reinstalling the shared environment.
    setup = open(os.path.join(os.path.dirname(torch_aie.__file__), "..", "setup.py")).read()
    declared = '"torch.backends": ["torch_aie = torch_aie._autoload:load"]'
    assert declared in setup
    dist = tmp_path / "torch_aie_autoload_probe-0.1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: torch_aie_autoload_probe\nVersion: 0.1.0\n")
    (dist / "entry_points.txt").write_text("[torch.backends]\ntorch_aie = torch_aie._autoload:load\n")
    root = os.path.dirname(os.path.dirname(os.path.abspath(torch_aie.__file__)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), root]))
    probe = "import sys, torch; print('torch_aie' in sys.modules, torch.device('aie:0'), torch.aie.is_available())"
    on = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True)
    assert on.returncode == 0, on.stderr
    assert on.stdout.split() == ["True", "aie:0", "True"], on.stdout
    # torch_aie imported first: its own `import torch` runs the entry point mid-import.
    first = subprocess.run([sys.executable, "-c", "import torch_aie, torch; print(torch.aie.is_available())"],
                           env=env, capture_output=True, text=True)
    assert first.returncode == 0 and first.stdout.strip() == "True", first.stderr
    env["TORCH_DEVICE_BACKEND_AUTOLOAD"] = "0"
    off = subprocess.run([sys.executable, "-c", "import sys, torch; print('torch_aie' in sys.modules)"],
                         env=env, capture_output=True, text=True)
    assert off.returncode == 0 and off.stdout.strip() == "False", off.stderr
