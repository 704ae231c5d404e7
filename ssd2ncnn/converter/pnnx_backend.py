"""Stage 3: ONNX -> ncnn with pnnx, ncnn's maintained successor of onnx2ncnn. pnnx writes a dozen files
beside its input, so it runs on a copy in a folder of its own. Two input shapes tell pnnx that height and
width are dynamic.

pnnx names the graph's blobs itself: the inputs `in0`, `in1`.. and the outputs `out0`, `out1`.. in the
ONNX graph's order. This module gives them back the ONNX names (the contract's `input`, `loc0`..,
`conf0`..), so nothing downstream knows pnnx's naming."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from ..errors import ToolError
from ..ncnn_format import Graph, read_param
from .external_tool import find_tool, run_tool


@dataclass
class PnnxResult:
    graph: Graph  # blobs named as in the ONNX graph
    param_path: Path  # what pnnx wrote, read once into `graph`
    bin_path: Path  # left in the work folder for the caller to move


def _onnx_io_names(onnx_path: Path) -> tuple[list[str], list[str]]:
    import onnx

    g = onnx.load(str(onnx_path), load_external_data=False).graph
    weights = {t.name for t in g.initializer}
    return [i.name for i in g.input if i.name not in weights], [o.name for o in g.output]


def restore_onnx_names(graph: Graph, inputs: list[str], outputs: list[str]) -> None:
    """pnnx's `in{i}`/`out{i}` blobs (and the Input layers named after them) -> the ONNX names."""
    renames = [(f"in{i}", name) for i, name in enumerate(inputs)] + [(f"out{i}", n) for i, n in enumerate(outputs)]
    for old, new in renames:
        layer = graph.producer(old)
        if layer is None:
            raise ToolError(f"pnnx wrote no blob {old!r} for ONNX {new!r}; its naming may have changed")
        graph.rename_blob(old, new)
        if layer.type == "Input":
            layer.name = new


def onnx_to_ncnn(onnx_path: Path, input_size: int, fp16: bool, work: Path) -> PnnxResult:
    exe = find_tool("pnnx", "pip install pnnx")
    alt = input_size + 32
    work = Path(work) / "pnnx"
    work.mkdir()
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
    graph = read_param(param, unique_names=True)
    restore_onnx_names(graph, *_onnx_io_names(onnx_path))
    return PnnxResult(graph, param, weights)
