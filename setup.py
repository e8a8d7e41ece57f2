"""Build torch_aie's native library with CMake and install the Python package.

Build with the pinned torch already installed:  pip install --no-build-isolation -e .
The native library is a plain shared object (no Python C-API); `torch_aie` loads
it with `torch.ops.load_library`, which runs its static dispatcher registrations.
"""
import os
import subprocess
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent


class CMakeExtension(Extension):
    def __init__(self, name):
        super().__init__(name, sources=[])


class CMakeBuild(build_ext):
    def build_extension(self, ext):
        import torch.utils

        # get_ext_fullpath points into the source tree for editable installs.
        out_dir = Path(self.get_ext_fullpath(ext.name)).resolve().parent
        build_dir = ROOT / "build" / os.environ.get("TORCH_AIE_BUILD_FLAVOUR", "release")
        build_type = os.environ.get("CMAKE_BUILD_TYPE", "Release")
        cfg = [
            "cmake", "-S", str(ROOT), "-B", str(build_dir), "-G", "Ninja",
            f"-DCMAKE_BUILD_TYPE={build_type}",
            f"-DCMAKE_PREFIX_PATH={torch.utils.cmake_prefix_path}",
            f"-DTORCH_AIE_LIB_DIR={out_dir}",
            f"-DPython_EXECUTABLE={sys.executable}",
        ]
        extra = os.environ.get("TORCH_AIE_CMAKE_ARGS", "")
        cfg += extra.split() if extra else []
        subprocess.check_call(cfg)
        subprocess.check_call(["cmake", "--build", str(build_dir), "--target", "torch_aie"])


setup(
    name="torch_aie",
    version="0.1.0",
    description="AMD AI Engine (XDNA NPU) as a PyTorch device, with a host emulator",
    packages=["torch_aie"],
    ext_modules=[CMakeExtension("torch_aie.lib.torch_aie")],
    cmdclass={"build_ext": CMakeBuild},
    python_requires=">=3.10",
    install_requires=["torch==2.13.0"],
)
