"""converter.simplify.check_simplified is a real check: onnxruntime on both graphs, and it fails on a
difference past tolerance, on NaN, and on a changed output list. Graphs built by hand with onnx.helper."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ssd2ncnn.converter.simplify import SIMPLIFY_TOLERANCE, check_simplified
from ssd2ncnn.errors import ToolError

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper  # noqa: E402


def _graph(path: Path, add: float, outputs: tuple[str, ...] = ("loc0",)) -> Path:
    """input -> Add(add) -> each output (an Identity per output)."""
    const = helper.make_tensor("c", TensorProto.FLOAT, [1], [add])
    nodes = [helper.make_node("Add", ["input", "c"], ["y"])]
    nodes += [helper.make_node("Identity", ["y"], [name]) for name in outputs]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 3, 8, 8]) for n in outputs], [const],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def test_equal_graphs_pass_with_their_differences(tmp_path: Path) -> None:
    diffs = check_simplified(_graph(tmp_path / "a.onnx", 0.5), _graph(tmp_path / "b.onnx", 0.5), 8)
    assert diffs == {"loc0": 0.0}


def test_difference_nan_and_missing_output_fail(tmp_path: Path) -> None:
    base = _graph(tmp_path / "a.onnx", 0.0)
    off = _graph(tmp_path / "off.onnx", SIMPLIFY_TOLERANCE * 10)
    with pytest.raises(ToolError, match="differs from the exported one on loc0"):
        check_simplified(base, off, 8)
    with pytest.raises(ToolError, match="by nan"):
        check_simplified(base, _graph(tmp_path / "nan.onnx", float("nan")), 8)
    with pytest.raises(ToolError, match="outputs"):
        check_simplified(_graph(tmp_path / "two.onnx", 0.0, ("loc0", "conf0")), base, 8)
    assert np.isfinite(check_simplified(base, base, 8)["loc0"])
