"""torch.compile support: Inductor generates host C++ for "aie" tensors.

The emulated NPU's memory is host memory, so Inductor's CPU code generator and
wrapper serve aie tensors as they are; convolutions stay extern calls to
aten::convolution, which dispatch to the aie kernels. On a real NPU this would be
replaced by an AIE code generator.
"""
import functools

import torch

_registered = False



def register() -> None:
    global _registered
    if _registered:
        return
    from torch._dynamo.device_interface import CpuInterface, register_interface_for_device
    from torch._inductor.codegen.common import (DeviceOpOverrides, register_backend_for_device,
                                                register_device_op_overrides)
    from torch._inductor.codegen.cpp import CppScheduling
    from torch._inductor.codegen.cpp_wrapper_cpu import CppWrapperCpu
    from torch._inductor.codegen.wrapper import PythonWrapperCodegen

    class AieInterface(CpuInterface):
        @staticmethod
        def is_available():
            return True

        @staticmethod
        def device_count():
            return torch.aie.device_count()

    class AieDeviceOpOverrides(DeviceOpOverrides):
        # One device, no streams: the emulator runs every kernel synchronously.
        def import_get_raw_stream_as(self, name):
            return f"{name} = lambda device_index: 0"

        def set_device(self, device_idx):
            return f"torch.aie.set_device({device_idx})"

        def synchronize(self):
            return "torch.aie.synchronize()"

        def device_guard(self, device_idx):
            return f"torch.aie.device({device_idx})"

    class AieWrapperCodegen(PythonWrapperCodegen):
        """Calls host C++ kernels for aie tensors as it does for cpu ones."""

        @staticmethod
        def create(is_subgraph, subgraph_name, parent_wrapper, partition_signatures=None):
            if is_subgraph:
                return PythonWrapperCodegen.create(is_subgraph, subgraph_name, parent_wrapper,
                                                   partition_signatures)
            return AieWrapperCodegen()

        def _generate_kernel_call_helper(self, kernel_name, call_args, *, device=None,
                                         triton=True, **kwargs):
            if device is not None and device.type == "aie" and not triton:
                self.writeline(self.wrap_kernel_call(kernel_name, call_args))
                return
            super()._generate_kernel_call_helper(kernel_name, call_args, device=device,
                                                 triton=triton, **kwargs)

    # Inductor's layout optimisation rewrites conv weights to channels_last when it
    # expects an oneDNN/cuDNN convolution; the aie conv follows ATen's eager CPU
    # format rule instead, so graphs with aie convs keep their layouts.
    from torch._inductor.graph import GraphLowering

    original = GraphLowering.decide_layout_opt

    def decide_layout_opt(gm, *, is_inference):
        for n in gm.graph.nodes:
            val = n.meta.get("val")
            if isinstance(val, torch.Tensor) and val.device.type == "aie":
                return False
        return original(gm, is_inference=is_inference)

    GraphLowering.decide_layout_opt = staticmethod(decide_layout_opt)
    register_interface_for_device("aie", AieInterface)
    for index in range(torch.aie.device_count()):
        register_interface_for_device(f"aie:{index}", AieInterface)
    register_device_op_overrides("aie", AieDeviceOpOverrides())
    from torch._inductor.codegen.wrapper_fxir import WrapperFxCodegen

    register_backend_for_device("aie", CppScheduling, AieWrapperCodegen, CppWrapperCpu,
                                WrapperFxCodegen)
    from . import _inductor_device

    _inductor_device.install()
    _registered = True


def inductor_codegen(name: str):
    """The Inductor classes torch.aie.<name> names (PyTorch's PrivateUse1 hook: Inductor's
    init_backend_registration asks the device module for Scheduling, PythonWrapperCodegen,
    CppWrapperCodegen), so compiling through torch._dynamo / torch._inductor directly
    registers aie as well."""
    register()
    from torch._inductor.codegen.common import get_wrapper_codegen_for_device, get_scheduling_for_device

    if name == "Scheduling":
        return get_scheduling_for_device("aie")
    return get_wrapper_codegen_for_device("aie", cpp_wrapper=name == "CppWrapperCodegen",
                                          fx_wrapper=name == "WrapperFxCodegen")


def install_lazy_registration() -> None:
    """Registers on the first torch.compile call: importing Inductor costs seconds,
    too much for `import torch_aie`."""
    original = torch.compile
    if getattr(original, "_torch_aie_wrapped", False):
        return

    @functools.wraps(original)
    def compile(*args, **kwargs):
        register()
        return original(*args, **kwargs)

    compile._torch_aie_wrapped = True
    torch.compile = compile
