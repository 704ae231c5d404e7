"""Stage 2: onnx-simplifier, then a separate check that the simplified graph computes what the exported
one does (onnxruntime on both, max abs difference per output)."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np

from ..errors import ToolError

SIMPLIFY_TOLERANCE = 1e-4  # constant folding reorders float math; anything larger is a simplifier bug


def simplify_onnx(src: Path, dst: Path, input_size: int) -> Path:
    import onnx
    import onnxsim

    model = onnx.load(str(src))
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            simplified, ok = onnxsim.simplify(model, test_input_shapes={"input": [1, 3, input_size, input_size]})
    except Exception as exc:
        raise ToolError(
            f"onnx-simplifier failed ({type(exc).__name__}: {str(exc).splitlines()[0][:200]}); "
            f"convert with --no-simplify to skip this stage"
        ) from exc
    if not ok:
        raise ToolError("onnx-simplifier could not validate its result; convert with --no-simplify to skip this stage")
    onnx.save(simplified, str(dst))
    return dst


def run_onnx(path: Path, x: np.ndarray) -> dict[str, np.ndarray]:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(names, {"input": x.astype(np.float32)})))


def check_simplified(original: Path, simplified: Path, input_size: int, seed: int = 0) -> dict[str, float]:
    """Max abs difference per output between the two graphs on one seeded input; raises past tolerance."""
    x = np.random.default_rng(seed).normal(size=(1, 3, input_size, input_size)).astype(np.float32)
    a, b = run_onnx(original, x), run_onnx(simplified, x)
    diffs = {k: float(np.max(np.abs(a[k] - b[k]))) for k in a}
    worst = max(diffs, key=diffs.__getitem__)
    if diffs[worst] > SIMPLIFY_TOLERANCE:
        raise ToolError(
            f"the simplified ONNX differs from the exported one on {worst} by {diffs[worst]:.3g} "
            f"(tolerance {SIMPLIFY_TOLERANCE}); convert with --no-simplify"
        )
    return diffs
