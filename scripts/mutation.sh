#!/usr/bin/env bash
# Mutation score of the modules that carry the proof (pyproject.toml [tool.mutmut]: only_mutate, and the
# fast tests that cover them): mutmut changes one operator, constant or call at a time and runs the tests
# that reach it; a mutant the tests do not notice "survives". Prints the score and every survivor; the
# survivors left are named in docs/testing.md (equivalent, or left, with why). Not in CI: slow (the whole
# scope is ~4,200 mutants, about an hour on 2 cores; pass mutant names to run some:
# `bash scripts/mutation.sh "ssd2ncnn.runtime.*"`). Needs `pip install 'ssd2ncnn[mutation]'` (mutmut) in .venv.
#   bash scripts/mutation.sh            # a fresh run
#   bash scripts/mutation.sh --resume   # continue the last run (mutants/ keeps its results)
set -euo pipefail
cd "$(dirname "$0")/.."
unset PYTHONPATH  # mutmut runs the tests against its mutated copy in mutants/: nothing may shadow it
# mutmut forks each mutant from a process whose OpenMP (ncnn's, torch's) already ran a thread pool; the child's
# next parallel region can wait forever on pool threads that fork did not copy (seen: a one-thread child in a
# futex wait inside an ncnn test), and the mutant reads "timeout", counted as caught. One thread: no pool to lose
# (pyproject's process_isolation = "forkserver" avoids the fork after ncnn ran as well; both are kept).
export OMP_THREAD_LIMIT=1
if [ "${1:-}" = "--resume" ]; then shift; else rm -rf mutants; fi
.venv/bin/mutmut run --max-children "${MUTATION_JOBS:-2}" "$@" >/dev/null || true
.venv/bin/mutmut export-cicd-stats >/dev/null
.venv/bin/python - <<'PY'
import json
s = json.load(open("mutants/mutmut-cicd-stats.json"))
caught = s["killed"] + s["timeout"] + s["suspicious"] + s["segfault"]
missed = s["survived"] + s["no_tests"]  # a mutant no selected test reaches is not caught either
print(f"mutants {s['total']}: killed {s['killed']}, timeout {s['timeout']}, suspicious {s['suspicious']}, "
      f"survived {s['survived']}, no tests {s['no_tests']}, skipped {s['skipped']}")
print(f"mutation score {100 * caught / max(caught + missed, 1):.1f}% ({caught} of {caught + missed} caught)")
PY
echo "survivors (mutmut show NAME for the diff):"
.venv/bin/mutmut results
