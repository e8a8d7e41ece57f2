#!/usr/bin/env bash
# AddressSanitizer + UBSan: builds the kernels' gtest and the extension with both,
# runs the gtest, then a short pytest run against the sanitized extension.
# Any report fails the run (UBSan does not recover; ASan aborts on the first error).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup_env.sh
B=build/asan
.venv/bin/cmake -S . -B "$B" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTORCH_AIE_SANITIZE=ON \
  -DCMAKE_PREFIX_PATH="$(.venv/bin/python -c 'import torch.utils; print(torch.utils.cmake_prefix_path)')" \
  -DTORCH_AIE_LIB_DIR="$PWD/$B/lib" >/dev/null
.venv/bin/cmake --build "$B" --target torch_aie aie_kernels_test
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:halt_on_error=1
# No allocator cache: a freed block goes straight back to malloc, so ASan reports any
# use after free of device memory instead of it landing in a cached block.
export TORCH_AIE_ALLOCATOR_CACHE_BYTES=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
echo "[sanitize] gtest"
"$B/aie_kernels_test" --gtest_brief=1
echo "[sanitize] pytest (Python is not instrumented: the sanitizer runtimes are preloaded;"
echo "           leak detection is off because CPython keeps its objects until exit)"
TORCH_AIE_LIBRARY="$PWD/$B/lib/libtorch_aie.so" TORCH_AIE_FUZZ_CASES=500 \
  LD_PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libubsan.so)" \
  .venv/bin/python -m pytest -q -x -p no:cacheprovider \
  tests/test_conv_op.py tests/test_fuzz_conv.py tests/test_small_cnn.py tests/test_device.py tests/test_fallback.py \
  tests/test_weight_cache.py tests/test_robustness.py tests/test_host_layout.py "$@"
