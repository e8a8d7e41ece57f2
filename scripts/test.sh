#!/usr/bin/env bash
# The whole test suite from a fresh machine: set-up, C++ kernel tests, pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup_env.sh
echo "[test] C++ kernel tests"
build/release/aie_kernels_test --gtest_brief=1
echo "[test] pytest"
exec .venv/bin/python -m pytest -q tests "$@"
