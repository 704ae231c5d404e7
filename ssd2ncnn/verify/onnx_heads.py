"""The exported ONNX graph in onnxruntime: the raw head maps verify compares at the export stage."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..ort_session import ort_session


class OnnxHeads:
    def __init__(self, path: Path, num_threads: int = 2):
        self.session = ort_session(path, num_threads)  # telemetry off, one set-up (ort_session.py)
        self.names = [o.name for o in self.session.get_outputs()]

    def heads(self, chw: np.ndarray) -> dict[str, np.ndarray]:
        """(3, H, W) input -> {loc0.., conf0..: (A*K, H_k, W_k)}."""
        outs = self.session.run(self.names, {"input": chw[None].astype(np.float32)})
        return {n: o[0] for n, o in zip(self.names, outs)}
