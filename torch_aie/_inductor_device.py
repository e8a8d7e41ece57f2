"""Makes Inductor treat a device whose kernels its C++ CPU code generator emits as such.

torch 2.13's Inductor has no device property for "this device's kernels come from
CppScheduling": it answers that question with ``device.type == "cpu"``. Every other
device type is taken for a GPU with Triton kernels, which breaks a CPU-codegen
device in these places (each found by compiling a conv net on aie):

- ``utils.get_current_backend`` names the kernel language of the device being
  generated. It answers "triton" (``config.cuda_backend``) for aie, so the C++
  kernel's ops handler takes Triton's branch for ``masked`` loads (padded max-pool,
  concat with masked reads: ``'str' object has no attribute 'dtype'``) and Triton's
  dtype-upcast and assert rules.
- ``BaseSchedulerNode.is_cpu`` gates the loop reordering / reindexing fusions,
  which are written for SIMD (Triton) kernel groups of two sizes; CppScheduling's
  groups are tuples of sizes (``can't multiply sequence by non-int of type 'tuple'``
  in ``_try_reindex_pointwise_for_reduction``: BN + ReLU + pooling, SE blocks,
  layer_norm).
- ``ir.is_cpu`` picks the realisation thresholds tuned for the C++ code generator.

Each is extended here to say "cpu" for devices registered with CppScheduling (only
aie), and left as it is for every other device. Predicates that ask whether a
device runs ATen's CPU kernels (oneDNN fusion passes, pinned memory, cpu scalars)
are deliberately untouched: aie convolutions must stay aten.convolution calls so
that they reach the aie kernels.
"""
from __future__ import annotations

import functools
import sys

_installed = False


def _is_cpp_codegen_device(device_type) -> bool:
    """True for a non-cpu device type whose registered Inductor scheduling is C++."""
    if device_type is None or device_type == "cpu":
        return False
    from torch._inductor.codegen.common import get_scheduling_for_device
    from torch._inductor.codegen.cpp import CppScheduling

    scheduling = get_scheduling_for_device(device_type)
    return isinstance(scheduling, type) and issubclass(scheduling, CppScheduling)


def _patch_get_current_backend() -> None:
    from torch._inductor import config, utils

    original = utils.get_current_backend

    @functools.wraps(original)
    def get_current_backend(device_type: str | None = None) -> str:
        if not device_type:
            from torch._inductor.virtualized import V

            device_type = V.graph.get_current_device_or_throw().type
        if _is_cpp_codegen_device(device_type):
            return config.cpu_backend
        return original(device_type)

    # Modules that imported the function by name keep their own binding.
    for name, module in list(sys.modules.items()):
        if name.startswith("torch._inductor") and getattr(module, "get_current_backend", None) is original:
            module.get_current_backend = get_current_backend


def _patch_is_cpu() -> None:
    from torch._inductor import ir, scheduler

    original_node_is_cpu = scheduler.BaseSchedulerNode.is_cpu

    def node_is_cpu(self) -> bool:
        device = self.get_device()
        return original_node_is_cpu(self) or (device is not None and _is_cpp_codegen_device(device.type))

    scheduler.BaseSchedulerNode.is_cpu = node_is_cpu

    original_ir_is_cpu = ir.is_cpu

    @functools.wraps(original_ir_is_cpu)
    def ir_is_cpu(x) -> bool:
        return original_ir_is_cpu(x) or _is_cpp_codegen_device(ir.get_device_type(x))

    ir.is_cpu = ir_is_cpu


def install() -> None:
    """Idempotent; imports Inductor (seconds), so it runs on first use of torch.compile."""
    global _installed
    if _installed:
        return
    import torch._inductor.kernel.mm_common  # noqa: F401  (binds get_current_backend by name)
    import torch._inductor.scheduler  # noqa: F401

    _patch_get_current_backend()
    _patch_is_cpu()
    _installed = True
