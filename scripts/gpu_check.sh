#!/usr/bin/env bash
# Training on a GPU (issue 10): the `gpu` tests (train 2 epochs, evaluate, resume, torchrun + --sync-bn)
# and benchmarks/train_speed.py, in under 6 minutes on one H100/H200. Run from anywhere in the repo:
#
#     scripts/gpu_check.sh [OUT_DIR]        # default: $OUT if set, else ./gpu_check_out
#
# Installs nothing: the repository goes on PYTHONPATH and the machine's own torch (2.11 on the device
# machine), numpy, Pillow, click, rich and pytest are used as they are.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:-${OUT:-gpu_check_out}}
py=${PYTHON:-python3}
mkdir -p "$out"
export PYTHONPATH=$PWD
status=0

$py - <<'PY' 2>&1 | tee "$out/env.txt" || exit 1
import importlib, sys
import torch
missing = [m for m in ("numpy", "PIL", "click", "rich", "pytest") if importlib.util.find_spec(m) is None]
print("python", sys.version.split()[0], "torch", torch.__version__, "cuda", torch.cuda.is_available(),
      torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")
if missing or not torch.cuda.is_available():
    sys.exit(f"cannot run: missing {missing}" if missing else "cannot run: no CUDA device")
PY

echo "== gpu tests" | tee "$out/gpu_tests.txt"
start=$(date +%s)
timeout 240 $py -m pytest -p no:cacheprovider -q -rs tests/test_train_gpu.py tests/test_device.py 2>&1 | tee -a "$out/gpu_tests.txt"
[ "${PIPESTATUS[0]}" = 0 ] || status=1
echo "tests: $(( $(date +%s) - start )) s" | tee -a "$out/gpu_tests.txt"

echo "== benchmarks/train_speed.py" | tee "$out/train_speed.txt"
start=$(date +%s)
timeout 200 $py benchmarks/train_speed.py --json "$out/train_speed.json" 2>&1 | tee -a "$out/train_speed.txt"
[ "${PIPESTATUS[0]}" = 0 ] || status=1
echo "benchmark: $(( $(date +%s) - start )) s" | tee -a "$out/train_speed.txt"
exit $status
