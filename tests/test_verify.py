"""verify passes on good conversions and fails, naming the stage, on deliberately broken ones."""

import shutil

import numpy as np
import onnx
import pytest
from click.testing import CliRunner
from onnx import numpy_helper

from ssd2ncnn.cli import cli
from ssd2ncnn.ncnn_format import read_param, write_param
from ssd2ncnn.verify.inputs import synthetic_images
from ssd2ncnn.verify.parity import verify_checkpoint
from ssd2ncnn.verify.tolerances import FP32

pytestmark = pytest.mark.slow  # converts, trains or runs processes: `pytest -m "not slow"` skips it


def _broken(converted, tmp_path, edit):
    ckpt, out = converted("voc300")
    bad = tmp_path / "bad"
    shutil.copytree(out, bad)
    graph = read_param(bad / "model.param")
    edit(graph)
    write_param(graph, bad / "model.param")
    return ckpt, bad


def _failures(ckpt, out):
    report = verify_checkpoint(ckpt, out, synthetic_images(1, seed=3), [300], FP32)
    assert not report.passed
    return report.failures()


def _swap_priorboxes(g):
    a, b = g.layer("priorbox1"), g.layer("priorbox2")
    a.params, b.params = b.params, a.params


def _wrong_variance(g):
    g.layer("priorbox0").params[5] = 0.1


def _wrong_permute(g):
    g.layer("loc0_perm").params[0] = 5  # (c, w, h) instead of (h, w, c)


def _softmax_wrong_axis(g):
    g.layer("mbox_conf_softmax").params = {0: 0}


@pytest.mark.parametrize(
    "edit, blob",
    [
        (_swap_priorboxes, "mbox_priorbox"),
        (_wrong_variance, "mbox_priorbox"),
        (_wrong_permute, "mbox_loc"),
        (_softmax_wrong_axis, "mbox_conf_flatten"),
    ],
)
def test_broken_patch_is_caught_at_the_patch_stage(converted, tmp_path, edit, blob):
    failures = _failures(*_broken(converted, tmp_path, edit))
    assert any(f"{blob} (patch stage)" in f for f in failures), failures
    assert not any("(pnnx stage)" in f or "(export stage)" in f for f in failures), failures


def test_corrupted_weights_are_caught_at_the_pnnx_stage(converted, tmp_path):
    ckpt, out = converted("voc300")
    bad = tmp_path / "bad"
    shutil.copytree(out, bad)
    data = bytearray((bad / "model.bin").read_bytes())
    weights = np.frombuffer(data, dtype=np.float32, count=(len(data) // 4))
    corrupt = weights.copy()
    corrupt[len(corrupt) // 2 : len(corrupt) // 2 + 4096] *= -2.0  # a run of weights in the middle of the net
    (bad / "model.bin").write_bytes(corrupt.tobytes() + bytes(data[len(corrupt) * 4 :]))
    failures = _failures(ckpt, bad)
    assert any("(pnnx stage)" in f for f in failures), failures
    assert not any("(export stage)" in f for f in failures), failures


def test_wrong_onnx_is_caught_at_the_export_stage(converted, tmp_path):
    ckpt, out = converted("voc300")
    bad = tmp_path / "bad"
    shutil.copytree(out, bad)
    model = onnx.load(str(bad / "model.onnx"))
    init = max(model.graph.initializer, key=lambda t: np.prod(t.dims))
    init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init) * 1.5, init.name))
    onnx.save(model, str(bad / "model.onnx"))
    failures = _failures(ckpt, bad)
    assert any("(export stage)" in f for f in failures), failures


def test_verify_cli_exit_codes_and_report(converted, tmp_path):
    ckpt, out = converted("ssdlite320")
    report = tmp_path / "r.json"
    runner = CliRunner()
    res = runner.invoke(cli, ["verify", str(ckpt), str(out), "--sizes", "320,352", "--num-images", "1", "--report", str(report)])
    assert res.exit_code == 0, res.output
    assert "all checks within tolerance" in res.output
    import json

    data = json.loads(report.read_text())
    assert data["passed"] is True and data["sizes"] == [320, 352] and len(data["cases"]) == 2

    _, bad = _broken(converted, tmp_path, _softmax_wrong_axis)
    ckpt300, _ = converted("voc300")
    res = runner.invoke(cli, ["verify", str(ckpt300), str(bad), "--sizes", "300", "--num-images", "1", "--report", str(report)])
    assert res.exit_code == 1 and isinstance(res.exception, SystemExit), res.exception
    assert "mbox_conf_flatten (patch stage)" in res.output or "out of tolerance" in res.output
    data = json.loads(report.read_text())  # a failed run writes its report too: that is when it is read
    assert data["passed"] is False and data["failures"]

    # only the detection check fails (every detection matched, scores off by more than 1e-12): its verdict must serialise as well
    report2 = tmp_path / "r2.json"
    res = runner.invoke(cli, ["verify", str(ckpt), str(out), "--sizes", "320", "--num-images", "1",
                              "--tol", "score_atol=1e-12", "--report", str(report2)])
    assert res.exit_code == 1 and isinstance(res.exception, SystemExit), (res.output, res.exception)
    data = json.loads(report2.read_text())
    assert data["passed"] is False and data["cases"][0]["detections"]["passed"] is False

    res = runner.invoke(cli, ["verify", str(ckpt), str(out), "--tol", "bogus=1"])
    assert res.exit_code == 2 and "unknown tolerance" in res.output


def test_mean_ap_is_compared_on_an_annotated_set(converted):
    from pathlib import Path

    from ssd2ncnn.verify.inputs import folder_images

    voc = Path(__file__).resolve().parents[1] / "fixtures" / "data" / "voc"
    if not voc.exists():
        pytest.skip("no VOC fixture")
    images = folder_images(voc)
    assert all(im.gt is not None for im in images)
    ckpt, out = converted("voc300")
    report = verify_checkpoint(ckpt, out, images[:2], [300], FP32)
    assert 300 in report.map_ncnn and 300 in report.map_torch
    assert abs(report.map_ncnn[300] - report.map_torch[300]) * 100 <= FP32.map_atol


def test_checkpoint_that_does_not_match_the_folder_is_bad_input(converted):
    ckpt300, _ = converted("voc300")
    _, out320 = converted("ssdlite320")
    res = CliRunner().invoke(cli, ["verify", str(ckpt300), str(out320), "--sizes", "320", "--num-images", "1"])
    assert res.exit_code == 2
    assert "config differs" in res.output and "Traceback" not in res.output
