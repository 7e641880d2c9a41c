#!/usr/bin/env bash
# The project's whole test suite: Rust (runtime, golden vectors) and the
# numpy-only Python tests (scenes renderer). No torch needed. The Python
# tests run in .venv (scripts/venv.sh makes it and installs numpy, pytest,
# onnx and onnxruntime on the first run), never in the system Python. The
# MQTT tests start Debian's mosquitto (scripts/test_deps.sh installs it).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/venv.sh
scripts/test_deps.sh
cargo test --locked
scripts/check_nnef_only.sh
"${VENV:-.venv}/bin/python" -m pytest -q scripts/tests
