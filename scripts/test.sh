#!/usr/bin/env bash
# The project's whole test suite: Rust (runtime, golden vectors) and the
# numpy-only Python tests (scenes renderer). No torch needed.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -c "import numpy, pytest, onnx, onnxruntime" 2>/dev/null || python3 -m pip install -q -r scripts/requirements-ci.txt
cargo test --locked
scripts/check_nnef_only.sh
python3 -m pytest -q scripts/tests
