#!/usr/bin/env bash
# The main job from a fresh machine: ResNet-50 and MobileNetV2 on `aie` vs CPU fp32.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup_env.sh
exec .venv/bin/python -m torch_aie.main "$@"
