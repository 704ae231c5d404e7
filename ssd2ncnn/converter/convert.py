"""`convert`: checkpoint -> ONNX -> onnx-simplifier -> pnnx -> SSD patch -> OUT/{model.param, model.bin,
model.onnx, model.json}. Each stage is a function from files to files; this module only sequences them,
times them, and writes the folder atomically."""

from __future__ import annotations

import os
import platform
import shutil
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from ..fileio import atomic_dir
from ..model.ssdlite import SSDDetector
from ..modelfolder import BIN, ONNX, PARAM, ModelInfo, write_info
from ..ncnn_format import format_param
from ..owned_temp import owned_tempdir
from ..patches import run_passes
from ..version import __version__
from .export import export_onnx
from .pnnx_backend import onnx_to_ncnn
from .simplify import check_simplified, simplify_onnx

T = TypeVar("T")


@dataclass
class StageReport:
    name: str
    seconds: float
    output: str
    size_bytes: int


@dataclass
class ConvertResult:
    out_dir: Path
    stages: list[StageReport] = field(default_factory=list)
    layer_count: int = 0
    blob_count: int = 0
    simplify_max_diff: float | None = None


def _pause_for_fault_test(stage: str) -> None:
    """`SSD2NCNN_PAUSE_AFTER=<stage>`: stop this process (SIGSTOP) once `stage` has written its output, so
    tests/test_convert_kill.py can SIGKILL convert at a known stage and check what is left behind."""
    if os.environ.get("SSD2NCNN_PAUSE_AFTER") == stage:
        print(f"paused after {stage}", file=sys.stderr, flush=True)
        os.kill(os.getpid(), signal.SIGSTOP)


def tool_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"ssd2ncnn": __version__, "python": platform.python_version()}
    for pkg in ("torch", "onnx", "onnxsim", "onnxruntime", "pnnx", "ncnn"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def model_info(model: SSDDetector, input_size: int, fp16: bool, simplified: bool) -> ModelInfo:
    """model.json's content (the file hashes are added when it is written)."""
    return ModelInfo(
        input_size=input_size,
        config=model.cfg,
        fp16_weights=fp16,
        simplified=simplified,
        tools=tool_versions(),
    )


def convert_model(
    model: SSDDetector,
    out_dir: Path,
    input_size: int | None = None,
    fp16: bool = False,
    simplify: bool = True,
    force: bool = False,
    log: Callable[[StageReport], None] | None = None,
) -> ConvertResult:
    cfg = model.cfg
    size = int(input_size or cfg.input_size)
    result = ConvertResult(out_dir=Path(out_dir))

    def stage(name: str, fn: Callable[[], T], output: Callable[[T], Path] | None = None) -> T:
        """Run `fn`, time it and report its output file (`fn`'s own result when it is a path)."""
        t0 = time.perf_counter()
        value = fn()
        _pause_for_fault_test(name)
        path = output(value) if output else Path(str(value))
        report = StageReport(name, time.perf_counter() - t0, path.name, path.stat().st_size)
        result.stages.append(report)
        if log:
            log(report)
        return value

    with atomic_dir(Path(out_dir), force) as out, owned_tempdir("ssd2ncnn-convert-") as work:
        raw = stage("export", lambda: export_onnx(model, work / "exported.onnx", size))
        if simplify:
            onnx_path = stage("simplify", lambda: simplify_onnx(raw, work / "model.onnx", size))
            diffs = check_simplified(raw, onnx_path, size)
            result.simplify_max_diff = max(diffs.values())
        else:
            onnx_path = work / "model.onnx"
            os.replace(raw, onnx_path)

        backend = stage("pnnx", lambda: onnx_to_ncnn(onnx_path, size, fp16, work), lambda r: r.param_path)

        def run_patch() -> Path:
            graph = backend.graph
            run_passes(graph, cfg)  # patches/registry.py: the SSD tail, box rules, speed rewrites, in order
            (out / PARAM).write_text(format_param(graph))
            shutil.move(backend.bin_path, out / BIN)
            result.layer_count, result.blob_count = len(graph.layers), len(graph.blobs())
            return out / PARAM

        stage("patch", run_patch)
        shutil.copy(onnx_path, out / ONNX)
        write_info(out, model_info(model, size, fp16, simplify))
    return result
