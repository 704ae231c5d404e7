#!/usr/bin/env bash
# Rewrite a golden fixture's tensors on purpose (a deliberate change of outputs; say why in the commit),
# with the sizes, image count and seed it records in golden.json. The check (`verify --golden DIR`, the
# last step of scripts/test.sh) never writes.
#   bash scripts/update_golden.sh [fixtures/golden/voc300-tiny]
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${1:-fixtures/golden/voc300-tiny}"
read -r sizes images seed < <(.venv/bin/python -c \
  'import json, sys; m = json.load(open(sys.argv[1])); print(",".join(map(str, m["sizes"])), m["images"], m["seed"])' \
  "$dir/golden.json")
.venv/bin/ssd2ncnn verify --golden "$dir" --update-golden --sizes "$sizes" --num-images "$images" --seed "$seed"
