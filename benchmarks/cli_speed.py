"""Start-up time of the `ssd2ncnn` command line: `--help`, `param fmt` and `param lint` (goal: < 0.5 s each).

Each command runs in a fresh interpreter (`python -m ssd2ncnn ...`), as a user runs it; the script prints
min and median wall time over --runs. With --baseline TREE it times that source tree too (for example an
older commit checked out with `git worktree add /tmp/base <commit>`), so before and after come from the
same machine in the same minute:

    python benchmarks/cli_speed.py --runs 7 --baseline /tmp/base
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PARAM = REPO / "ssd2ncnn" / "assets" / "reference" / "mobilenetv3_ssdlite_voc.param"


def _time(tree: Path, args: list[str], runs: int) -> list[float]:
    env_cmd = [sys.executable, "-m", "ssd2ncnn", *args]
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        proc = subprocess.run(env_cmd, cwd=tree, capture_output=True, text=True,
                              env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"})
        times.append(time.perf_counter() - start)
        if proc.returncode not in (0, 1):  # lint exits 1 on findings; anything else is a broken run
            raise SystemExit(f"{' '.join(args)} in {tree} failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5, help="runs per command (default 5)")
    ap.add_argument("--baseline", type=Path, help="another source tree of ssd2ncnn to time the same way")
    ap.add_argument("--param", type=Path, default=PARAM, help=f"the .param for fmt and lint (default {PARAM.name})")
    opts = ap.parse_args()
    trees = [("this tree", REPO)] + ([("baseline", opts.baseline.resolve())] if opts.baseline else [])
    with tempfile.TemporaryDirectory() as tmp:
        commands = {
            "--help": ["--help"],
            "param fmt": ["param", "fmt", str(opts.param), "-o", str(Path(tmp) / "out.param")],
            "param lint": ["param", "lint", str(opts.param)],
        }
        print(f"python {sys.version.split()[0]}, {opts.runs} runs each, seconds")
        print(f"{'tree':<10} {'command':<12} {'min':>7} {'median':>7}")
        for label, tree in trees:
            for name, args in commands.items():
                t = _time(tree, args, opts.runs)
                print(f"{label:<10} {name:<12} {min(t):7.3f} {statistics.median(t):7.3f}")


if __name__ == "__main__":
    main()
