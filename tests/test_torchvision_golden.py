"""Parity with torchvision's own forward pass, without torchvision: the golden folders hold a
`ssdlite320_mobilenet_v3_large` state dict, 320 x 320 images and what torchvision's model returned on them
(scripts/make_torchvision_golden.py). Here the checkpoint is written in the form a user has, converted with
`ssd2ncnn convert` (source detected from the keys), run with `ssd2ncnn detect`, and compared."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from torchvision_helpers import CASES, GOLDEN, tie_aware, write_checkpoint

from ssd2ncnn.cli import cli
from ssd2ncnn.config import SSDConfig
from ssd2ncnn.runtime.detector import Detector
from ssd2ncnn.verify.compare import compare_tensor
from ssd2ncnn.verify.detections import candidates_from_blobs


@pytest.fixture(scope="module", params=CASES)
def tv_converted(request, tmp_path_factory):
    folder = GOLDEN / request.param
    meta = json.loads((folder / "golden.json").read_text())
    root = tmp_path_factory.mktemp(request.param)
    ckpt = write_checkpoint(folder, meta, root / "model.pth")
    res = CliRunner().invoke(cli, ["convert", str(ckpt), "-o", str(root / "out")])
    assert res.exit_code == 0, res.output
    return folder, meta, ckpt, root / "out"


@pytest.mark.slow
def test_detect_matches_torchvision(tv_converted):
    folder, meta, _, out = tv_converted
    stored = np.load(folder / "torchvision.npz")
    images = [folder / "images" / name for name in meta["images"]]
    res = CliRunner().invoke(cli, ["detect", str(out), *map(str, images), "--json", "--threshold", "0"])
    assert res.exit_code == 0, res.output
    cfg = SSDConfig.from_dict(json.loads((out / "model.json").read_text())["config"])
    assert cfg.arch == ("torchvision_full_tail" if meta["full_tail"] else "torchvision")
    detector = Detector(out)
    for doc, name in zip(json.loads(res.stdout), meta["images"], strict=True):
        # detect prints the detection_out rows in pixels, clamped as ncnn's own clients clamp them
        chw, size = detector.preprocess(folder / "images" / name)
        blobs = detector.raw(chw, ["mbox_loc", "mbox_conf_flatten", "mbox_priorbox", "detection_out"])
        assert doc["detections"] == [d.to_dict() for d in detector.to_detections(blobs["detection_out"], size)]
        # those rows against torchvision's, tie-aware: torchvision's are explained by ncnn's tensors
        scale = np.array([doc["width"], doc["height"]] * 2, dtype=np.float64)
        ref = stored[f"{name}/detections"].astype(np.float64)
        ref[:, 2:] /= scale
        assert len(ref) > 100 and len(np.unique(ref[:, 0])) > 1  # something to get wrong
        cand = candidates_from_blobs(blobs["mbox_loc"], blobs["mbox_conf_flatten"], blobs["mbox_priorbox"], cfg)
        check = tie_aware(ref, blobs["detection_out"], cand, cfg)
        assert check.passed, (name, check)
        assert check.matched >= 0.95 * len(ref), (name, check)


@pytest.mark.slow
def test_priors_and_box_regression_equal_torchvisions(tv_converted):
    """mbox_priorbox is torchvision's DefaultBoxGenerator output (centre-size clamped), mbox_loc its
    bbox_regression, in the same prior order."""
    folder, meta, _, out = tv_converted
    stored = np.load(folder / "torchvision.npz")
    detector = Detector(out)
    size = meta["input_size"]
    for name in meta["images"]:
        chw, _ = detector.preprocess(folder / "images" / name)
        blobs = detector.raw(chw, ["mbox_priorbox", "mbox_loc"])
        priors = compare_tensor("mbox_priorbox", "torchvision", blobs["mbox_priorbox"][0], stored["anchors"] / size, 1e-6)
        assert priors.passed, priors
        loc = stored[f"{name}/bbox_regression"]
        check = compare_tensor("mbox_loc", "torchvision", blobs["mbox_loc"], loc, 1e-4, 1e-4)
        assert check.passed, check


@pytest.mark.slow
def test_verify_passes_on_the_converted_folder(tv_converted):
    _, _, ckpt, out = tv_converted
    res = CliRunner().invoke(cli, ["verify", str(ckpt), str(out), "--num-images", "1"])
    assert res.exit_code == 0, res.output


@pytest.mark.slow
def test_int8_quantize_keeps_the_torchvision_box_rules(tv_converted, tmp_path):
    """quantize rewrites only convolutions: the prior clamping and clip-before-NMS layers stay float, so
    the int8 model's priors are the fp32 model's exactly and its boxes stay clipped to the image. (Random
    weights give near-tied scores, so int8 detections are compared by score correlation, not one by one.)"""
    folder, meta, _, out = tv_converted
    images = [folder / "images" / name for name in meta["images"]]
    calib = tmp_path / "calib"
    calib.mkdir()
    for path in images:
        (calib / path.name).write_bytes(path.read_bytes())
    res = CliRunner().invoke(cli, ["quantize", str(out), "--calib", str(calib), "-o", str(tmp_path / "int8"), "--select", "all"])
    assert res.exit_code == 0, res.output
    fp32, int8 = Detector(out), Detector(tmp_path / "int8")
    names = ["mbox_priorbox", "mbox_conf_flatten", "detection_out"]
    for path in images:
        chw, _ = fp32.preprocess(path)
        a, b = fp32.raw(chw, names), int8.raw(chw, names)
        assert np.array_equal(a["mbox_priorbox"], b["mbox_priorbox"])
        assert np.corrcoef(a["mbox_conf_flatten"], b["mbox_conf_flatten"])[0, 1] >= 0.999
        boxes = b["detection_out"][:, 2:]
        assert len(boxes) > 0 and boxes.min() >= 0.0 and boxes.max() <= 1.0


@pytest.mark.slow
def test_readme_cpp_snippet_path_matches_torchvision(tv_converted):
    """What an app does with the README's C++ calls (`from_pixels_resize`, `substract_mean_normalize` with
    model.json's values, `input`/`extract`), through ncnn's Python binding of the same library."""
    import ncnn
    from PIL import Image

    from ssd2ncnn.runtime.net import load_net, mat_to_numpy, run_net

    folder, meta, _, out = tv_converted
    mj = json.loads((out / "model.json").read_text())
    net = load_net(out / "model.param", out / "model.bin", mj["ncnn_options"], 2)
    stored = np.load(folder / "torchvision.npz")
    size = mj["input_size"]
    for name in meta["images"]:
        with Image.open(folder / "images" / name) as im:
            rgb = np.ascontiguousarray(np.asarray(im.convert("RGB")))
        h, w = rgb.shape[:2]
        mat = ncnn.Mat.from_pixels_resize(rgb, ncnn.Mat.PixelType.PIXEL_RGB, w, h, size, size)
        mat.substract_mean_normalize(mj["mean_vals"], mj["norm_vals"])
        ex = net.create_extractor()
        ex.input(mj["input_blob"], mat)
        ret, det = ex.extract(mj["output_blob"])
        assert ret == 0
        got = mat_to_numpy(det, "detection_out")
        ref = stored[f"{name}/detections"].astype(np.float64)
        ref[:, 2:] /= np.array([w, h, w, h])
        cfg = SSDConfig.from_dict(mj["config"])
        blobs = run_net(net, np.array(mat), ["mbox_loc", "mbox_conf_flatten", "mbox_priorbox"])
        cand = candidates_from_blobs(blobs["mbox_loc"], blobs["mbox_conf_flatten"], blobs["mbox_priorbox"], cfg)
        check = tie_aware(ref, got, cand, cfg)
        assert check.passed and check.matched >= 0.95 * len(ref), (name, check)
