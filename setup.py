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
    def get_ext_filename(self, fullname):
        # A plain shared library (loaded by torch.ops.load_library), not a CPython module.
        return str(Path(*fullname.split(".")[:-1]) / "libtorch_aie.so")

    def build_extension(self, ext):
        import shutil

        import torch.utils

        # Built into the source tree (what an editable install imports) and copied to
        # wherever setuptools wants the extension (what a wheel ships).
        out_dir = ROOT / "torch_aie" / "lib"
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
        dest = Path(self.get_ext_fullpath(ext.name)).resolve()
        if dest != (out_dir / "libtorch_aie.so").resolve():
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(out_dir / "libtorch_aie.so", dest)


setup(
    name="torch_aie",
    version="0.1.0",
    description="AMD AI Engine (XDNA NPU) as a PyTorch device, with a host emulator",
    packages=["torch_aie"],
    ext_modules=[CMakeExtension("torch_aie.lib.torch_aie")],
    cmdclass={"build_ext": CMakeBuild},
    python_requires=">=3.10",
    install_requires=["torch==2.13.0"],
    # PyTorch's device-backend autoload: `import torch` imports torch_aie
    # (TORCH_DEVICE_BACKEND_AUTOLOAD=0 turns it off).
    entry_points={"torch.backends": ["torch_aie = torch_aie._autoload:load"]},
)
