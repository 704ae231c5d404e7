#!/usr/bin/env bash
# The test suite: lint, type check, unit and end-to-end tests (real torch, onnxruntime, pnnx, ncnn),
# and the golden-output check.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check ssd2ncnn tests benchmarks
.venv/bin/mypy ssd2ncnn
.venv/bin/python -m pytest -q
.venv/bin/ssd2ncnn verify --golden fixtures/golden/voc300-tiny
