"""Peak memory of one engine, measured in a fresh subprocess.

What it measures (and what it does not): the child imports the engine's libraries first and reads its
resident set size (VmRSS from /proc/self/status) as the baseline; it then builds the engine (loads the
model), runs it `runs` times and reads the peak resident set size (VmHWM, the kernel's high-water mark for
the process). `delta_mb` = peak - baseline: model weights as loaded (ncnn may repack them), thread pools,
workspace and blob allocations, allocator caching. It excludes the shared libraries themselves (they are in
the baseline) and counts any file pages the engine maps and touches (onnxruntime and ncnn may mmap
weights). Linux only; elsewhere the probe reports null."""

from __future__ import annotations

import json
import subprocess
import sys


def _status_kb(key: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def probe(spec: dict, timeout: float = 300.0) -> dict:
    """Run the probe for `spec` (see `_child`) in a subprocess; returns {baseline_mb, peak_mb, delta_mb}
    or {error: ...}."""
    proc = subprocess.run([sys.executable, "-m", "ssd2ncnn.bench.memory", json.dumps(spec)],
                          capture_output=True, text=True, timeout=timeout)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        return {"error": f"memory probe failed (exit {proc.returncode}): {tail[0]}"}
    return json.loads(lines[-1])


def _child(spec: dict) -> dict:
    kind = spec["kind"]
    import numpy  # noqa: F401

    if kind.startswith("ncnn"):
        import ncnn  # noqa: F401
    else:
        import torch  # noqa: F401

        if kind == "onnxruntime":
            from ..ort_session import import_ort

            import_ort()  # telemetry off, as everywhere (ort_session.py)
    from .specs import build_engine

    base = _status_kb("VmRSS")
    eng = build_engine(spec)
    eng.activate()
    for _ in range(int(spec.get("runs", 5))):
        eng.run()
    peak = _status_kb("VmHWM")
    if base is None or peak is None:
        return {"baseline_mb": None, "peak_mb": None, "delta_mb": None}
    return {"baseline_mb": base / 1024, "peak_mb": peak / 1024, "delta_mb": (peak - base) / 1024}


if __name__ == "__main__":
    print(json.dumps(_child(json.loads(sys.argv[1]))))
