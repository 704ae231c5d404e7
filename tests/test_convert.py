"""End-to-end conversion: files and contracts, ncnn runs at several sizes, parity with PyTorch."""

import hashlib
import json

import numpy as np
import pytest
from click.testing import CliRunner

from ssd2ncnn.cli import cli
from ssd2ncnn.modelfolder import read_info
from ssd2ncnn.ncnn_format import lint_param, read_param
from ssd2ncnn.runtime.net import load_net, run_net
from ssd2ncnn.verify.parity import verify_checkpoint
from ssd2ncnn.verify.tolerances import FP32
from ssd2ncnn.verify.verify_images import synthetic_images

pytestmark = pytest.mark.slow  # converts, trains or runs processes: `pytest -m "not slow"` skips it

BLOBS = ["mbox_loc", "mbox_conf_flatten", "mbox_priorbox", "detection_out"]


def test_init_and_convert_cli_full_width_runs_at_three_sizes(tmp_path):
    runner = CliRunner()
    ckpt, out = tmp_path / "m.pth", tmp_path / "out"
    res = runner.invoke(cli, ["init", "--preset", "voc300", "-o", str(ckpt)])
    assert res.exit_code == 0, res.output
    res = runner.invoke(cli, ["convert", str(ckpt), "-o", str(out)])
    assert res.exit_code == 0, res.output
    for stage in ("export", "simplify", "pnnx", "patch"):
        assert stage in res.output
    assert sorted(p.name for p in out.iterdir()) == ["model.bin", "model.json", "model.onnx", "model.param"]
    meta = read_info(out)
    net = load_net(out / "model.param", out / "model.bin", meta.ncnn_options, num_threads=2)
    for size, priors in ((300, 2268), (320, 2424), (384, 3458)):
        x = np.random.default_rng(size).normal(size=(3, size, size)).astype(np.float32)
        got = run_net(net, x, BLOBS)
        assert got["mbox_loc"].shape == (priors * 4,)
        assert got["mbox_conf_flatten"].shape == (priors * 21,)
        assert got["mbox_priorbox"].shape == (2, priors * 4)
        assert got["detection_out"].shape[1] == 6
    # an untrained model scores every prior 1/21: verify must still pass (ties at the cut-off)
    res = runner.invoke(cli, ["verify", str(ckpt), str(out), "--sizes", "320", "--num-images", "1"])
    assert res.exit_code == 0, res.output


def test_model_json_describes_the_files(converted):
    _, out = converted("voc300")
    meta = read_info(out).to_dict()
    for name in ("model.param", "model.bin", "model.onnx"):
        assert meta["sha256"][name] == hashlib.sha256((out / name).read_bytes()).hexdigest()
    assert meta["input_blob"] == "input" and meta["output_blob"] == "detection_out"
    assert meta["mean_vals"] == [123.675, 116.28, 103.53] and meta["norm_vals"] == [1.0, 1.0, 1.0]
    assert len(meta["class_names"]) == 21 and meta["config"]["preset"] == "voc300"
    assert {"torch", "pnnx", "ncnn", "onnx"} <= set(meta["tools"])
    json.dumps(meta)


@pytest.mark.parametrize("preset", ["voc300", "ssdlite320"])
def test_written_param_is_lint_clean_and_has_the_ssd_tail(converted, preset):
    _, out = converted(preset)
    assert lint_param((out / "model.param").read_text()) == []
    graph = read_param(out / "model.param")
    types = [layer.type for layer in graph.layers]
    assert types.count("PriorBox") == 6 and types.count("DetectionOutput") == 1
    assert types.count("Permute") == 12 and types.count("Softmax") == 1
    assert graph.layer("mbox_conf_softmax").params == {0: 1, 1: 1}
    prior = graph.layer("priorbox0").params
    assert prior[9] == -233 and prior[10] == -233  # image size from the input blob: size stays free
    det = graph.layer("detection_out").params
    assert det[0] == 21 and det[1] == pytest.approx(0.45) and det[4] == pytest.approx(0.01)
    assert {"input", "mbox_loc", "mbox_conf_flatten", "mbox_priorbox", "detection_out"} <= set(graph.blobs())


@pytest.mark.parametrize("preset", ["voc300", "ssdlite320"])
def test_parity_with_pytorch_at_three_sizes(converted, preset):
    ckpt, out = converted(preset)
    report = verify_checkpoint(ckpt, out, synthetic_images(2, seed=1), [300, 320, 384], FP32)
    assert report.passed, report.failures()
    for case in report.cases:
        assert case.detections.matched > 0
        assert len(np.unique(case.torch_dets[:, 0])) > 1  # labels differ: the check is not on tied scores
        prior = next(t for t in case.tensors if t.name == "mbox_priorbox")
        assert prior.max_abs <= 1e-6


def test_fp16_conversion_is_half_the_size_and_within_fp16_tolerances(converted):
    from ssd2ncnn.verify.tolerances import FP16

    ckpt, out32 = converted("voc300")
    _, out16 = converted("voc300", fp16=True)
    assert (out16 / "model.bin").stat().st_size < 0.6 * (out32 / "model.bin").stat().st_size
    assert read_info(out16).fp16_weights is True
    report = verify_checkpoint(ckpt, out16, synthetic_images(1, seed=2), [320], FP16)
    assert report.passed, report.failures()


def test_sigmoid_scores_and_clipped_priors_convert_and_match(tmp_path):
    """The config's other switches: Sigmoid instead of Softmax (the MobileNetV2-SSDLite lineage) and
    clipped priors both reach the .param and keep parity."""
    from dataclasses import replace

    import torch

    from ssd2ncnn.config import get_preset
    from ssd2ncnn.converter.convert import convert_model
    from ssd2ncnn.model.spread_init import spread_init
    from ssd2ncnn.model.ssdlite import SSDLite
    from ssd2ncnn.verify.parity import verify

    cfg = replace(get_preset("ssdlite320", num_classes=5, width_mult=0.25), score_activation="sigmoid", clip=True)
    torch.manual_seed(0)
    model = spread_init(SSDLite(cfg), seed=0)
    convert_model(model, tmp_path / "out")
    graph = read_param(tmp_path / "out" / "model.param")
    types = {layer.type for layer in graph.layers}
    assert "Sigmoid" in types and "Softmax" not in types
    assert graph.layer("priorbox0").params[8] == 1
    report = verify(model, tmp_path / "out", synthetic_images(1, seed=4), [320, 288], FP32)
    assert report.passed, report.failures()
    priors = run_net(load_net(tmp_path / "out" / "model.param", tmp_path / "out" / "model.bin"), np.zeros((3, 288, 288), np.float32), ["mbox_priorbox"])["mbox_priorbox"]
    assert priors[0].min() >= 0.0 and priors[0].max() <= 1.0
