"""torch_aie: an AMD AI Engine (AIE-ML / XDNA NPU) as the PyTorch device "aie".

`import torch_aie` registers the device (PrivateUse1 renamed to "aie"), the
`torch.aie` device module, tensor/module methods, and the aie kernels. Without an
NPU, kernels run in the host emulator with the NPU's numerics.
"""
import torch

from . import _library

_library.load()

from . import _device  # noqa: E402  (registers the "aie" device; needs the library)
from ._device import *  # noqa: E402,F401,F403
from ._library import host_isa  # noqa: E402,F401
from .conv_op import *  # noqa: E402,F401,F403
from .qconv_op import *  # noqa: E402,F401,F403
from .optimize import AieConv1d, AieConv2d, AieLinear, optimize  # noqa: E402,F401
from .npu_profile import NpuProfile, profile  # noqa: E402,F401
from .weight_cache import *  # noqa: E402,F401,F403
from . import backends  # noqa: E402,F401
from . import compile as _compile  # noqa: E402
from . import _conv_layout  # noqa: E402

_conv_layout.install()

_compile.install_lazy_registration()
from . import _shutdown  # noqa: E402

_shutdown.register()
from . import autocast as _autocast  # noqa: E402

_autocast.set_default_dtype()


def __getattr__(name):
    # torch_aie.quantization imports torchao (slow); load it on first use only.
    if name in ("quantization", "quantize"):
        import importlib

        mod = importlib.import_module(".quantization", __name__)
        return mod if name == "quantization" else mod.quantize
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
