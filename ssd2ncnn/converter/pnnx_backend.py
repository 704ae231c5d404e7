"""Stage 3: ONNX -> ncnn with pnnx, ncnn's maintained successor of onnx2ncnn. pnnx writes a dozen files
beside its input, so it runs on a copy in a temporary folder. Two input shapes tell pnnx that height and
width are dynamic."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import ToolError
from .external_tool import find_tool, run_tool


@dataclass(frozen=True)
class PnnxResult:
    param_text: str
    bin_bytes: bytes
    version: str


def pnnx_version() -> str:
    try:
        from importlib.metadata import version

        return version("pnnx")
    except Exception:
        return "unknown"


def onnx_to_ncnn(onnx_path: Path, input_size: int, fp16: bool) -> PnnxResult:
    exe = find_tool("pnnx", "pip install pnnx")
    alt = input_size + 32
    with tempfile.TemporaryDirectory(prefix="ssd2ncnn-pnnx-") as tmp:
        work = Path(tmp)
        shutil.copy(onnx_path, work / "model.onnx")
        args = [
            exe,
            "model.onnx",
            f"inputshape=[1,3,{input_size},{input_size}]f32",
            f"inputshape2=[1,3,{alt},{alt}]f32",
            f"fp16={int(fp16)}",
            "ncnnparam=model.ncnn.param",
            "ncnnbin=model.ncnn.bin",
        ]
        run_tool(args, work, "pnnx")
        param, weights = work / "model.ncnn.param", work / "model.ncnn.bin"
        if not param.exists() or not weights.exists():
            raise ToolError("pnnx exited cleanly but wrote no model.ncnn.param/.bin; the ONNX graph may be empty")
        return PnnxResult(param.read_text(), weights.read_bytes(), pnnx_version())
