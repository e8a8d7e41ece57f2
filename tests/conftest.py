import os
import sys

import pytest
import torch

sys.path.insert(0, os.path.dirname(__file__))

import torch_aie  # noqa: E402,F401  (registers the aie device)


@pytest.fixture(autouse=True)
def _default_conv_settings():
    """Every test starts from the documented defaults and cannot leak settings."""
    torch_aie.set_conv_precision("bf16")
    torch_aie.set_conv_algorithm("auto")
    yield
    torch_aie.set_conv_precision("bf16")
    torch_aie.set_conv_algorithm("auto")
