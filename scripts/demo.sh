#!/usr/bin/env bash
# The main job on the bundled default: convert, verify and detect with the shipped checkpoint and images.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ssd2ncnn demo -o "${1:-demo-out}"
