"""Loading and running an ncnn model from Python: one place that knows the ncnn binding's quirks.

- `ncnn.Mat(array)` does not keep the numpy array alive (and a Mat wrapping numpy memory crashed the
  extractor here), so the input is cloned into an ncnn-owned Mat from an array held in a local, and
  outputs are copied out with `np.array(mat)` before the extractor goes away.
- DetectionOutput with no detections returns an empty Mat: it becomes a (0, 6) array.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from ..errors import InputError, ToolError
from ..modelfolder import DETECTION_BLOB, INPUT_BLOB, OPTION_NAMES


def load_net(param: Path, weights: Path | None, options: dict | None = None, num_threads: int = 1):
    """An `ncnn.Net` with `options` (names of `ncnn.Option` attributes) applied before loading.
    `weights=None` loads empty weights (ncnn's DataReaderFromEmpty), for structure-only benchmarks."""
    import ncnn

    net = ncnn.Net()
    opt = net.opt
    opt.num_threads = int(num_threads)
    opt.use_vulkan_compute = False
    for key, value in (options or {}).items():
        if key not in OPTION_NAMES:
            raise InputError(f"unknown ncnn option {key!r}; known: {', '.join(OPTION_NAMES)}")
        setattr(opt, key, bool(value))
    if not Path(param).exists():
        raise InputError(f"{param} does not exist")
    if net.load_param(str(param)) != 0:
        raise ToolError(f"ncnn could not load {param}; run `ssd2ncnn param lint {param}` to find the broken line")
    if weights is None:
        ret = net.load_model(ncnn.DataReaderFromEmpty()) if hasattr(ncnn, "DataReaderFromEmpty") else -1
        if ret != 0:
            raise ToolError("ncnn could not load empty weights (DataReaderFromEmpty missing from this ncnn build)")
    elif net.load_model(str(weights)) != 0:
        raise ToolError(f"ncnn could not load weights {weights}; the .bin does not match the .param")
    return net


def mat_to_numpy(mat, name: str = "") -> np.ndarray:
    """A float32 copy of an ncnn Mat. An empty Mat (DetectionOutput found nothing) must not reach
    `np.array`, which crashes on it; `detection_out` is always returned as (D, 6)."""
    if mat.empty():
        return np.zeros((0, 6) if name == DETECTION_BLOB else (0,), dtype=np.float32)
    arr = np.array(mat, dtype=np.float32, copy=True)
    return arr.reshape(-1, 6) if name == DETECTION_BLOB else arr


def _owned_mat(chw: np.ndarray):
    """An ncnn-owned copy of `chw`: the numpy array is held in a local while the Mat is built from it, and
    the clone means the net never reads numpy's buffer."""
    import ncnn

    data = np.ascontiguousarray(chw, dtype=np.float32)
    mat = ncnn.Mat(data).clone()
    del data
    return mat


def run_net(net, chw: np.ndarray, outputs: Iterable[str], input_blob: str = INPUT_BLOB) -> dict[str, np.ndarray]:
    """Run one (3, H, W) float32 input; returns each requested blob as a float32 array (ncnn's shape,
    with `detection_out` always 2-D (D, 6)). Threads are the net's (`load_net`): ncnn's Python Extractor
    has no `set_num_threads`."""
    return run_mat(net, _owned_mat(chw), outputs, input_blob)


def run_mat(net, mat_in, outputs: Iterable[str], input_blob: str = INPUT_BLOB) -> dict[str, np.ndarray]:
    """`run_net` on an input that is already an ncnn-owned Mat (`preprocess.ncnn_input_mat`), sparing the
    two copies of a numpy round trip."""
    ex = net.create_extractor()
    ex.input(input_blob, mat_in)
    result = {}
    for name in outputs:
        ret, mat = ex.extract(name)
        if ret != 0:
            raise ToolError(f"ncnn failed to compute blob {name!r} (code {ret})")
        result[name] = mat_to_numpy(mat, name)
    del ex
    return result


def time_forward(net, chw: np.ndarray, output: str, input_blob: str = INPUT_BLOB, runs: int = 10) -> list[float]:
    """Seconds per run of input -> `output`, the input Mat built once and the output left in ncnn's packed
    layout (extract type 1): the copies `run_net` makes around the net are not timed."""
    mat_in = _owned_mat(chw)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        ex = net.create_extractor()
        ex.input(input_blob, mat_in)
        ret, _mat = ex.extract(output, 1)
        times.append(time.perf_counter() - t0)
        if ret != 0:
            raise ToolError(f"ncnn failed to compute blob {output!r} (code {ret})")
    del mat_in
    return times
