"""Tensor comparison by max abs / max rel error (detections: `verify.detections`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass
class TensorCheck:
    name: str
    stage: str  # the pipeline stage that produced the compared tensor: export, pnnx, patch
    max_abs: float
    max_rel: float
    limit: float
    passed: bool
    shape_ok: bool = True

    def as_dict(self) -> dict:
        return asdict(self)


def compare_tensor(name: str, stage: str, got: np.ndarray, ref: np.ndarray, atol: float, rtol: float = 0.0) -> TensorCheck:
    got = np.asarray(got, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    if got.size != ref.size:
        return TensorCheck(name, stage, float("inf"), float("inf"), atol, False, shape_ok=False)
    got, ref = got.reshape(-1), ref.reshape(-1)
    diff = np.abs(got - ref)
    max_abs = float(diff.max()) if diff.size else 0.0
    if not np.all(np.isfinite(got)):
        max_abs = float("inf")
    scale = float(np.abs(ref).max()) if ref.size else 0.0
    max_rel = float((diff / np.maximum(np.abs(ref), 1e-6)).max()) if diff.size else 0.0
    limit = atol + rtol * scale
    return TensorCheck(name, stage, max_abs, max_rel, limit, max_abs <= limit)
