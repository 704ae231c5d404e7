"""Conversion faults: each a one-line error with the tool's stderr tail and a command to reproduce it,
and an existing output folder left exactly as it was."""

import os
import stat

import onnx
import pytest
import torch
from click.testing import CliRunner
from onnx import TensorProto, helper

from ssd2ncnn.cli import cli
from ssd2ncnn.config import get_preset
from ssd2ncnn.converter.convert import convert_model
from ssd2ncnn.converter.simplify import simplify_onnx
from ssd2ncnn.errors import InputError, ToolError
from ssd2ncnn.model.ssdlite import SSDLite

pytestmark = pytest.mark.slow  # converts, trains or runs processes: `pytest -m "not slow"` skips it


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory):
    path = tmp_path_factory.mktemp("faults") / "m.pth"
    res = CliRunner().invoke(cli, ["init", "--preset", "voc300", "--num-classes", "3", "--width-mult", "0.25", "-o", str(path)])
    assert res.exit_code == 0, res.output
    return path


def _snapshot(folder):
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.iterdir())}


def _failing_pnnx(tmp_path):
    script = tmp_path / "pnnx"
    script.write_text("#!/bin/sh\necho 'pnnx: unsupported op FancyOp' >&2\nexit 3\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script


def test_failing_pnnx_reports_stderr_and_command_and_keeps_out(tiny_ckpt, tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    (out / "model.param").write_text("precious")
    before = _snapshot(out)
    monkeypatch.setenv("SSD2NCNN_PNNX", str(_failing_pnnx(tmp_path)))
    res = CliRunner().invoke(cli, ["convert", str(tiny_ckpt), "-o", str(out), "--force"])
    assert res.exit_code == 2
    err = res.output.strip().splitlines()[-1]
    assert "pnnx failed with exit code 3" in err and "unsupported op FancyOp" in err and "reproduce with:" in err
    assert "Traceback" not in res.output
    assert _snapshot(out) == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]  # no temporary folder left


def test_missing_pnnx_is_a_clear_error(tiny_ckpt, tmp_path, monkeypatch):
    monkeypatch.setenv("SSD2NCNN_PNNX", str(tmp_path / "no-such-pnnx"))
    res = CliRunner().invoke(cli, ["convert", str(tiny_ckpt), "-o", str(tmp_path / "out")])
    assert res.exit_code == 2 and "not an executable file" in res.output
    assert not (tmp_path / "out").exists()


def test_non_empty_output_needs_force_and_force_replaces(tiny_ckpt, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("old")
    runner = CliRunner()
    res = runner.invoke(cli, ["convert", str(tiny_ckpt), "-o", str(out)])
    assert res.exit_code == 2 and "--force" in res.output
    assert (out / "old.txt").read_text() == "old"
    res = runner.invoke(cli, ["convert", str(tiny_ckpt), "-o", str(out), "--force"])
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in out.iterdir()) == ["model.bin", "model.json", "model.onnx", "model.param"]
    assert oct(out.stat().st_mode & 0o777) != oct(0o700)


def test_onnx_simplifier_failure_names_the_flag(tmp_path):
    # a real, broken graph that onnx-simplifier refuses: a node reads a tensor nothing produces
    node = helper.make_node("Add", ["input", "ghost"], ["loc0"])
    graph = helper.make_graph(
        [node], "g",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("loc0", TensorProto.FLOAT, [1, 3, 8, 8])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    src = tmp_path / "m.onnx"
    onnx.save(model, str(src))
    with pytest.raises(ToolError, match="--no-simplify"):
        simplify_onnx(src, tmp_path / "s.onnx", 8)


def test_no_simplify_still_converts(tiny_ckpt, tmp_path):
    res = CliRunner().invoke(cli, ["convert", str(tiny_ckpt), "-o", str(tmp_path / "out"), "--no-simplify"])
    assert res.exit_code == 0, res.output
    stages = [line.split()[0] for line in res.output.splitlines() if line.startswith("  ")]
    assert stages == ["export", "pnnx", "patch"]


class _Unexportable(SSDLite):
    def forward(self, x):
        locs, confs = super().forward(x)
        # torch.linalg.eigh has no ONNX export: stands in for a user's unsupported layer
        w = torch.linalg.eigh(locs[0][0, :2, :2, 0].T @ locs[0][0, :2, :2, 0]).eigenvalues.sum()
        return [locs[0] + w] + locs[1:], confs


def test_unsupported_layer_is_a_tool_error(tmp_path):
    model = _Unexportable(get_preset("voc300", num_classes=3, width_mult=0.25)).eval()
    with pytest.raises(ToolError, match="torch.onnx.export failed"):
        convert_model(model, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_output_path_that_is_a_file(tiny_ckpt, tmp_path):
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(InputError, match="not a folder"):
        convert_model(SSDLite(get_preset("voc300", num_classes=3, width_mult=0.25)).eval(), target)
    assert target.read_text() == "x"
    assert os.path.exists(target)


def test_unwritable_output_location_is_bad_input(tiny_ckpt):
    res = CliRunner().invoke(cli, ["convert", str(tiny_ckpt), "-o", "/proc/ssd2ncnn-out"])
    assert res.exit_code == 2 and "cannot write into /proc" in res.output
