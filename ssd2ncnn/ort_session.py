"""onnxruntime sessions, set up one way for simplify's check, verify and bench: the CPU provider, quiet
logs, an optional thread count, and onnxruntime's telemetry off.

onnxruntime's Linux wheels (1.32 here) carry 1DS telemetry, which writes a `.ses` session file into
$TMPDIR when the library initialises (seen by importing it with a private TMPDIR), so every convert left
one behind. `ORT_DISABLE_TELEMETRY=1`, read once before initialisation, turns it off entirely
(microsoft/onnxruntime PR #27379, "Add POSIX telemetry"); a value the user set is kept."""

from __future__ import annotations

import os
from pathlib import Path
from types import ModuleType
from typing import Any


def import_ort() -> ModuleType:
    """onnxruntime, imported with its telemetry off. Call it before anything that imports onnxruntime
    itself (onnxsim does)."""
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    import onnxruntime

    return onnxruntime


def ort_session(path: str | Path, threads: int | None = None) -> Any:
    """A CPU `InferenceSession` on `path`; with `threads`, intra-op threads = `threads` and one inter-op
    thread, so a timing or a parity run does not depend on how many cores the machine has."""
    ort = import_ort()
    opts = ort.SessionOptions()
    opts.log_severity_level = 3  # warnings about unused initialisers etc. are not the user's concern
    if threads is not None:
        opts.intra_op_num_threads = int(threads)
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
