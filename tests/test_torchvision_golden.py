"""Parity with torchvision's own forward pass, without torchvision: the golden folders hold a
`ssdlite320_mobilenet_v3_large` state dict, 320 x 320 images and what torchvision's model returned on them
(scripts/make_torchvision_golden.py). Here the checkpoint is written in the form a user has, converted with
`ssd2ncnn convert` (source detected from the keys), run with `ssd2ncnn detect`, and compared."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from ssd2ncnn.cli import cli
from ssd2ncnn.runtime.detector import Detector
from ssd2ncnn.verify.compare import compare_detections, compare_tensor

GOLDEN = Path(__file__).resolve().parents[1] / "fixtures" / "golden"
CASES = ("torchvision-coco91", "torchvision-finetune3")
# the bar: scores to 1e-4, boxes to 1e-3 of the image size, matched tie-aware by label and IoU
SCORE_ATOL, BOX_ATOL, MATCH_IOU = 1e-4, 1e-3, 0.5


def state_dict(folder: Path, meta: dict) -> dict[str, torch.Tensor]:
    arrays = np.load(folder / "weights.npz")
    sd = {}
    for key in meta["keys"]:
        if f"q:{key}" in arrays:
            sd[key] = torch.from_numpy(arrays[f"q:{key}"].astype(np.float32) * arrays[f"s:{key}"])
        else:
            sd[key] = torch.from_numpy(arrays[f"t:{key}"])
    return sd


def write_checkpoint(folder: Path, meta: dict, path: Path) -> Path:
    """The state dict as torchvision saves it, or the dict references/detection/train.py saves."""
    sd = state_dict(folder, meta)
    if meta["form"] == "state_dict":
        torch.save(sd, path)
    else:
        params = [torch.nn.Parameter(v) for v in sd.values() if v.is_floating_point()]
        optimizer = torch.optim.SGD(params, lr=0.15, momentum=0.9, weight_decay=4e-5)
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=600)
        args = argparse.Namespace(model="ssdlite320_mobilenet_v3_large", weights_backbone="MobileNet_V3_Large_Weights.IMAGENET1K_V1",
                                  epochs=600, lr=0.15, data_augmentation="ssdlite", amp=False, output_dir="out")
        torch.save({"model": sd, "optimizer": optimizer.state_dict(), "lr_scheduler": scheduler.state_dict(), "args": args, "epoch": 599}, path)
    return path


@pytest.fixture(scope="module", params=CASES)
def converted(request, tmp_path_factory):
    folder = GOLDEN / request.param
    meta = json.loads((folder / "golden.json").read_text())
    root = tmp_path_factory.mktemp(request.param)
    ckpt = write_checkpoint(folder, meta, root / "model.pth")
    res = CliRunner().invoke(cli, ["convert", str(ckpt), "-o", str(root / "out")])
    assert res.exit_code == 0, res.output
    return folder, meta, ckpt, root / "out"


@pytest.mark.slow
def test_detect_matches_torchvision(converted):
    folder, meta, _, out = converted
    stored = np.load(folder / "torchvision.npz")
    images = [folder / "images" / name for name in meta["images"]]
    res = CliRunner().invoke(cli, ["detect", str(out), *map(str, images), "--json", "--threshold", "0"])
    assert res.exit_code == 0, res.output
    cfg = json.loads((out / "model.json").read_text())["config"]
    assert cfg["arch"] == ("torchvision_full_tail" if meta["full_tail"] else "torchvision")
    for doc, name in zip(json.loads(res.stdout), meta["images"], strict=True):
        scale = np.array([doc["width"], doc["height"]] * 2, dtype=np.float64)
        got = np.array([[d["label"], d["score"], *(np.array(d["box"]) / scale)] for d in doc["detections"]]).reshape(-1, 6)
        ref = stored[f"{name}/detections"].astype(np.float64)
        ref[:, 2:] /= scale
        assert len(ref) > 100 and len(np.unique(ref[:, 0])) > 1  # something to get wrong
        check = compare_detections(got, ref, cfg["conf_threshold"], cfg["keep_top_k"], SCORE_ATOL, BOX_ATOL, MATCH_IOU)
        assert check.passed, (name, check)
        assert check.matched >= 0.95 * len(ref), (name, check)


@pytest.mark.slow
def test_priors_and_box_regression_equal_torchvisions(converted):
    """mbox_priorbox is torchvision's DefaultBoxGenerator output (centre-size clamped), mbox_loc its
    bbox_regression, in the same prior order."""
    folder, meta, _, out = converted
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
def test_verify_passes_on_the_converted_folder(converted):
    _, _, ckpt, out = converted
    res = CliRunner().invoke(cli, ["verify", str(ckpt), str(out), "--num-images", "2"])
    assert res.exit_code == 0, res.output
