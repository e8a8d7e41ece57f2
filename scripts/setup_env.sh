#!/usr/bin/env bash
# Idempotent set-up shared by the README's two commands: Debian packages, a venv
# with the pinned CPU torch, and an editable build of torch_aie (CMake + ninja).
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PKGS=(ninja-build ccache libbenchmark-dev libgtest-dev libxrt-dev)
missing=()
for p in "${APT_PKGS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if ((${#missing[@]})); then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "[setup] apt-get install ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  echo "[setup] creating .venv"
  python3 -m venv .venv
fi
# torch==2.13.0 is the CPU wheel on disk; --no-build-isolation keeps the build on it.
.venv/bin/pip install -q -r requirements.txt
# Packages whose dependency lists would replace the pinned torch (torchao): without deps.
.venv/bin/pip install -q --no-deps -r requirements-nodeps.txt
echo "[setup] building torch_aie"
.venv/bin/pip install -q --no-build-isolation -e .
# The C++ kernel tests and benchmarks share the build tree setup.py configured.
.venv/bin/cmake --build build/release --target aie_kernels_test aie_kernels_bench >/dev/null
