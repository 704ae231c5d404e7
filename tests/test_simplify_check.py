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


# ------------------------------------------------------------- genuinely different graphs, measured (#21)
def _two_adds(path: Path, a: float, b: float) -> Path:
    """input -> Add(a) -> Add(b) -> loc0: another graph (two nodes, two constants) than `_graph`'s."""
    consts = [helper.make_tensor(n, TensorProto.FLOAT, [1], [v]) for n, v in (("ca", a), ("cb", b))]
    nodes = [helper.make_node("Add", ["input", "ca"], ["t"]), helper.make_node("Add", ["t", "cb"], ["loc0"])]
    graph = helper.make_graph(
        nodes, "g2", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("loc0", TensorProto.FLOAT, [1, 3, 8, 8])], consts,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def test_a_different_graph_is_measured_and_judged_by_its_difference(tmp_path: Path) -> None:
    base = _graph(tmp_path / "a.onnx", 0.5)
    # the same function by other nodes: differences of float rounding only (0.25 + 0.25 is exact)
    assert check_simplified(base, _two_adds(tmp_path / "same.onnx", 0.25, 0.25), 8)["loc0"] <= 1e-6
    # off by half the tolerance: passes, and the reported difference is that offset
    d = SIMPLIFY_TOLERANCE / 2
    got = check_simplified(base, _two_adds(tmp_path / "near.onnx", 0.25, 0.25 + d), 8)["loc0"]
    assert got == pytest.approx(d, rel=0.05)
    # off by three times the tolerance: refused, naming the output and the measured difference
    with pytest.raises(ToolError, match=f"on loc0 by {3 * SIMPLIFY_TOLERANCE:.3g} "):
        check_simplified(base, _two_adds(tmp_path / "far.onnx", 0.25, 0.25 + 3 * SIMPLIFY_TOLERANCE), 8)
