#!/usr/bin/env bash
# Create .venv and install ssd2ncnn into it (editable, with the dev tools). Used by demo.sh and test.sh.
#
# The exact CPU torch is pinned here, not in the package (pyproject.toml declares the tested range), and
# installed before the package so pip never swaps in another build. Where PyPI's default torch wheel is the
# CUDA one, point SSD2NCNN_TORCH_INDEX at the CPU wheels: https://download.pytorch.org/whl/cpu
#
# The install is skipped when pyproject.toml and this script are unchanged since the last successful one
# (their sha256 is kept in .venv/.ssd2ncnn-setup); the code itself is installed editable, so edits to it
# need no reinstall.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
TORCH_PIN="torch==2.13.0"
STAMP=.venv/.ssd2ncnn-setup
want=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1)
if [ -x .venv/bin/ssd2ncnn ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
  exit 0
fi
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $("$PY" --version 2>&1)" >&2
  "$PY" -m venv .venv
fi
echo "setup: installing $TORCH_PIN (CPU), then ssd2ncnn and its dependencies (onnx, onnxruntime, pnnx, ncnn," \
     "pytest, ruff, mypy) into .venv; the first run takes a few minutes" >&2
.venv/bin/python -m pip install --quiet --upgrade pip >/dev/null
.venv/bin/python -m pip install --quiet ${SSD2NCNN_TORCH_INDEX:+--index-url "$SSD2NCNN_TORCH_INDEX"} "$TORCH_PIN"
.venv/bin/python -m pip install --quiet -e ".[dev]"
echo "$want" > "$STAMP"
echo "setup: done; .venv/bin/ssd2ncnn is ready" >&2
