#!/usr/bin/env bash
# Create .venv (once) and install ssd2ncnn with its pinned CPU torch. Used by demo.sh and test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
# torch is pinned (==2.13.0) in pyproject.toml: that resolves to the CPU build; an unpinned torch pulls CUDA.
.venv/bin/python -m pip install --quiet --upgrade pip >/dev/null
.venv/bin/python -m pip install --quiet -e ".[dev]"
