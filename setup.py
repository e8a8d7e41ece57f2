"""Build torch_aie's native library with CMake and install the Python package.

Build with the pinned torch already installed:  pip install --no-build-isolation -e .
The native library is a plain shared object (no Python C-API); `torch_aie` loads
it with `torch.ops.load_library`, which runs its static dispatcher registrations.
"""
import os
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent
_EXT_NAME = "torch_aie.lib.libtorch_aie"


class CMakeExtension(Extension):
    def __init__(self, name):
        super().__init__(name, sources=[])


class CMakeBuild(build_ext):
    # _library.py loads torch_aie/lib/libtorch_aie.so: a plain shared object, not a
    # CPython extension, so its file name carries no ABI suffix. setuptools calls this
    # with the dotted name and with its last component alone.
    def get_ext_filename(self, fullname):
        parts = fullname.split(".")
        if parts[-1] == _EXT_NAME.split(".")[-1]:
            return os.path.join(*parts[:-1], "libtorch_aie.so")
        return super().get_ext_filename(fullname)

    def build_extension(self, ext):
        import torch.utils

        # CMake writes into the source tree so that a plain `cmake --build` after a
        # C++ edit updates the library the editable install loads.
        lib_dir = ROOT / "torch_aie" / "lib"
        build_dir = ROOT / "build" / os.environ.get("TORCH_AIE_BUILD_FLAVOUR", "release")
        build_type = os.environ.get("CMAKE_BUILD_TYPE", "Release")
        cfg = [
            "cmake", "-S", str(ROOT), "-B", str(build_dir), "-G", "Ninja",
            f"-DCMAKE_BUILD_TYPE={build_type}",
            f"-DCMAKE_PREFIX_PATH={torch.utils.cmake_prefix_path}",
            f"-DTORCH_AIE_LIB_DIR={lib_dir}",
            f"-DPython_EXECUTABLE={sys.executable}",
        ]
        extra = os.environ.get("TORCH_AIE_CMAKE_ARGS", "")
        cfg += extra.split() if extra else []
        subprocess.check_call(cfg)
        subprocess.check_call(["cmake", "--build", str(build_dir), "--target", "torch_aie"])
        # setuptools packages whatever sits at the extension's path (a temporary
        # build-lib for editable and wheel builds).
        built = lib_dir / "libtorch_aie.so"
        target = Path(self.get_ext_fullpath(ext.name)).resolve()
        if target != built:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(built, target)


setup(
    name="torch_aie",
    version="0.1.0",
    description="AMD AI Engine (XDNA NPU) as a PyTorch device, with a host emulator",
    packages=["torch_aie"],
    ext_modules=[CMakeExtension(_EXT_NAME)],
    cmdclass={"build_ext": CMakeBuild},
    python_requires=">=3.10",
    install_requires=["torch==2.13.0"],
)
