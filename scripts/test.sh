#!/usr/bin/env bash
# The test suite: lint, type check, unit and end-to-end tests (real torch, onnxruntime, pnnx, ncnn),
# and the golden-output check. `bash scripts/test.sh --fast` skips the tests marked slow (conversions,
# training, subprocesses: pytest -m "not slow") for a quick loop while developing.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check ssd2ncnn tests benchmarks
.venv/bin/mypy ssd2ncnn
if [ "${1:-}" = "--fast" ]; then
  .venv/bin/python -m pytest -m "not slow"
else
  .venv/bin/python -m pytest
  # only checks: the goldens are rewritten by scripts/update_golden.sh alone (the variable is unset anyway)
  env -u SSD2NCNN_UPDATE_GOLDEN .venv/bin/ssd2ncnn verify --golden fixtures/golden/voc300-tiny
fi
