"""Stage 2: onnx-simplifier, then a separate check that the simplified graph computes what the exported
one does (onnxruntime on both, max abs difference per output)."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np

from ..errors import ToolError
from ..modelfolder import INPUT_BLOB
from ..ort_session import import_ort, ort_session

SIMPLIFY_TOLERANCE = 1e-4  # constant folding reorders float math; anything larger is a simplifier bug


def simplify_onnx(src: Path, dst: Path, input_size: int) -> Path:
    import_ort()  # before onnxsim imports onnxruntime itself: telemetry off (ort_session.py)
    import onnx
    import onnxsim

    model = onnx.load(str(src))
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            # check_n=0: onnxsim's own comparison is off and its `ok` flag is then always True, so it is not
            # read; the real check is `check_simplified`, run on the saved file by the caller.
            simplified, _ = onnxsim.simplify(
                model, check_n=0, test_input_shapes={INPUT_BLOB: [1, 3, input_size, input_size]}
            )
    except Exception as exc:
        raise ToolError(
            f"onnx-simplifier failed ({type(exc).__name__}: {str(exc).splitlines()[0][:200]}); "
            f"convert with --no-simplify to skip this stage"
        ) from exc
    onnx.save(simplified, str(dst))
    return dst


def run_onnx(path: Path, x: np.ndarray) -> dict[str, np.ndarray]:
    sess = ort_session(path)
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(names, {INPUT_BLOB: x.astype(np.float32)})))


def check_simplified(original: Path, simplified: Path, input_size: int, seed: int = 0) -> dict[str, float]:
    """Max abs difference per output between the two graphs on one seeded input (onnxruntime on both);
    raises when an output is missing, not finite, or past `SIMPLIFY_TOLERANCE`."""
    x = np.random.default_rng(seed).normal(size=(1, 3, input_size, input_size)).astype(np.float32)
    a, b = run_onnx(original, x), run_onnx(simplified, x)
    if list(a) != list(b):
        raise ToolError(
            f"the simplified ONNX has outputs {list(b)}, the exported one {list(a)}; convert with --no-simplify"
        )
    diffs = {k: float(np.max(np.abs(a[k] - b[k]))) if a[k].size else 0.0 for k in a}
    worst = max(diffs, key=lambda k: diffs[k] if np.isfinite(diffs[k]) else np.inf)
    if not diffs[worst] <= SIMPLIFY_TOLERANCE:  # `not <=` also catches NaN
        raise ToolError(
            f"the simplified ONNX differs from the exported one on {worst} by {diffs[worst]:.3g} "
            f"(tolerance {SIMPLIFY_TOLERANCE}); convert with --no-simplify"
        )
    return diffs
