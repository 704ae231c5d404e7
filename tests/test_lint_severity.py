"""`param lint` severities agree with ncnn: an error is a file the installed ncnn fails to load or runs
wrongly, a warning one it loads and runs as written. Each case is loaded by ncnn here to prove it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from ssd2ncnn.assets import reference_param
from ssd2ncnn.cli import cli
from ssd2ncnn.ncnn_format import lint_param

ncnn = pytest.importorskip("ncnn")

HEAD = "7767517\n"
# code -> a file with that one finding; ncnn fails on each (load != 0, extract != 0, or inf boxes)
ERRORS = {
    "magic": ("header", "1234\n2 2\nInput in 0 1 in\nReLU r 1 1 in out\n"),
    "more layers than lines": ("header", HEAD + "3 2\nInput in 0 1 in\nReLU r 1 1 in out\n"),
    "blob table too small": ("header", HEAD + "3 1\nInput in 0 1 in\nReLU r 1 1 in a\nAbsVal q 1 1 a out\n"),
    "softmax-axis": ("softmax-axis", HEAD + "2 2\nInput in 0 1 in\nSoftmax s 1 1 in out 0=1\n"),
    "use-before-produce": ("use-before-produce", HEAD + "3 4\nInput in 0 1 in\nReLU r 1 1 b out\nAbsVal q 1 1 in b\n"),
    "never produced": ("use-before-produce", HEAD + "2 3\nInput in 0 1 in\nReLU r 1 1 ghost out\n"),
    "priorbox-image-size": ("priorbox-image-size",
                            HEAD + "2 2\nInput in 0 1 in\nPriorBox p 1 1 in out -23300=1,2.0 -23301=1,4.0\n"),
}
# ncnn loads and runs each as written
WARNINGS = {
    "duplicate-name": HEAD + "3 3\nInput in 0 1 in\nReLU r 1 1 in a\nAbsVal r 1 1 a out\n",
    "duplicate-param": HEAD + "2 2\nInput in 0 1 in\nClip c 1 1 in out 0=0 0=-1\n",
    "produced-twice": HEAD + "3 3\nInput in 0 1 in\nReLU r 1 1 in out\nInput x 0 1 out\n",
    "fewer layers than lines": HEAD + "2 2\nInput in 0 1 in\nReLU r 1 1 in out\nAbsVal q 1 1 out z\n",
    "spare blob slots": HEAD + "2 5\nInput in 0 1 in\nReLU r 1 1 in out\n",
}
CONSUMED_TWICE = HEAD + "4 4\nInput in 0 1 in\nReLU r 1 1 in a\nAbsVal q 1 1 in b\nBinaryOp s 2 1 a b out 0=0\n"


def ncnn_run(text: str) -> tuple[int, np.ndarray | None]:
    """(load_param's return code, else extract's return code; blob `out`, or the last blob, or None)."""
    net = ncnn.Net()
    net.opt.use_vulkan_compute = False
    rc = net.load_param_mem(text)
    if rc != 0:
        return rc, None
    net.load_model_mem(b"")
    ex = net.create_extractor()
    data = np.arange(18, dtype=np.float32).reshape(2, 3, 3) - 8  # held: ncnn.Mat does not keep it alive
    x = ncnn.Mat(data).clone()
    ex.input("in", x)
    rc, out = ex.extract("out")
    return rc, (np.array(out).copy() if rc == 0 else None)


def lint_cli(tmp_path: Path, text: str) -> tuple[int, str]:
    path = tmp_path / "m.param"
    path.write_text(text)
    result = CliRunner().invoke(cli, ["param", "lint", str(path)])
    return result.exit_code, result.output


def test_the_reference_params_lint_with_exit_0() -> None:
    names = ("mobilenet_ssd_voc_ncnn.param", "mobilenetv2_ssdlite_voc.param", "mobilenetv3_ssdlite_voc.param")
    result = CliRunner().invoke(cli, ["param", "lint", *(str(reference_param(n)) for n in names)])
    assert result.exit_code == 0, result.output
    assert result.output.count(": warning: duplicate-name: ") == 9  # the zoo's v2 file: ncnn runs it


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_an_error_is_a_file_ncnn_fails_on(case: str, tmp_path: Path) -> None:
    code, text = ERRORS[case]
    assert [(f.code, f.severity) for f in lint_param(text)] == [(code, "error")]
    rc, out = ncnn_run(text)
    assert rc != 0 or (out is not None and not np.isfinite(out).all()), (rc, out)
    exit_code, output = lint_cli(tmp_path, text)
    assert exit_code == 1 and f": error: {code}: " in output


@pytest.mark.parametrize("case", sorted(WARNINGS))
def test_a_warning_is_a_file_ncnn_loads_and_runs(case: str, tmp_path: Path) -> None:
    text = WARNINGS[case]
    findings = lint_param(text)
    assert findings and all(f.severity == "warning" for f in findings), findings
    rc, out = ncnn_run(text)
    assert rc == 0 and out is not None and np.isfinite(out).all()
    exit_code, output = lint_cli(tmp_path, text)
    assert exit_code == 0 and ": warning: " in output and "no errors" in output


@pytest.mark.slow  # spawns a process: ncnn crashes on it
def test_a_blob_consumed_twice_is_an_error_and_crashes_ncnn(tmp_path: Path) -> None:
    assert [(f.code, f.severity) for f in lint_param(CONSUMED_TWICE)] == [("consumed-twice", "error")]
    script = (f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import test_lint_severity as t; "
              "rc, out = t.ncnn_run(t.CONSUMED_TWICE); print('ran', rc)")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 or "ran 0" not in proc.stdout, (proc.returncode, proc.stdout, proc.stderr[-300:])
    # with the Split that ncnn needs, the same network runs
    split = CONSUMED_TWICE.replace("4 4", "5 6").replace("ReLU r 1 1 in a\nAbsVal q 1 1 in b",
                                                         "Split sp 1 2 in i0 i1\nReLU r 1 1 i0 a\nAbsVal q 1 1 i1 b")
    assert lint_param(split) == [] and ncnn_run(split)[0] == 0
    assert lint_cli(tmp_path, CONSUMED_TWICE)[0] == 1
