"""`--from mmdet` without converting: the PyTorch twin against what mmdetection 3.3.0 computed on the same
weights (fixtures/golden/mmdet-*, scripts/make_mmdet_golden.py), names from meta, the background-last
permutation, and the one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from mmdet_helpers import CASES, GOLDEN, write_checkpoint
from PIL import Image
from torchvision_helpers import state_dict

from ssd2ncnn.checkpoint import load_model
from ssd2ncnn.config import mmdet_ssdlite320
from ssd2ncnn.errors import CheckpointError
from ssd2ncnn.importers.mmdet import COCO_80, background_first, class_names, width_of
from ssd2ncnn.model.mmdet_ssdlite import MmdetSSDLite
from ssd2ncnn.model.priors import generate_priors
from ssd2ncnn.model.ssdlite import flatten_heads


def _case(name: str):
    folder = GOLDEN / name
    return folder, json.loads((folder / "golden.json").read_text())


@pytest.fixture(scope="module", params=CASES)
def imported(request, tmp_path_factory):
    folder, meta = _case(request.param)
    path = write_checkpoint(folder, meta, tmp_path_factory.mktemp(request.param) / "epoch_120.pth")
    return folder, meta, path, load_model(path)


def _input(folder, name: str, model) -> torch.Tensor:
    """mmdet's data preprocessor on a 320 x 320 PNG: RGB, (x - mean) / std."""
    pixels = torch.from_numpy(np.array(Image.open(folder / "images" / name).convert("RGB"))).permute(2, 0, 1).float()
    mean, std = (torch.tensor(v)[:, None, None] for v in (model.cfg.mean, model.cfg.std))
    return ((pixels - mean) / std)[None]


def test_config_names_and_keys(imported):
    folder, meta, _, model = imported
    cfg = model.cfg
    assert cfg.arch == "mmdet_ssdlite" and cfg.source_class_order == "background_last" and cfg.bn_eps == 1e-3
    assert cfg.class_names == ("background", *meta["classes"])  # 3.x dataset_meta / 2.x CLASSES
    assert (cfg.conf_threshold, cfg.nms_threshold, cfg.keep_top_k, cfg.clip_boxes) == (0.02, 0.45, 200, True)
    assert all(m.eps == 1e-3 for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))
    assert list(model.state_dict()) == meta["keys"]  # mmdetection's own key names, in its order


def test_priors_equal_ssd_anchor_generator(imported):
    """SSDAnchorGenerator's anchors at 320 (stored in pixels) against our ncnn-exact prior generator."""
    folder, _, _, model = imported
    anchors = np.load(folder / "mmdet.npz")["anchors"] / 320.0
    maps = [(20, 20), (10, 10), (5, 5), (3, 3), (2, 2), (1, 1)]  # 320 / 16, then stride-2 3x3 convs with padding 1
    ours = generate_priors(model.cfg, maps, (320, 320)).numpy()
    assert ours.shape == anchors.shape == (3234, 4)
    assert np.abs(ours - anchors).max() <= 1e-6


@pytest.mark.slow
def test_heads_equal_mmdets(tmp_path):
    """The twin's box regression equals mmdet's (same keys, BN eps, taps); its class scores, with the
    background moved first, give mmdet's detections' scores for those boxes."""
    folder, meta = _case("mmdet-custom3")
    model = load_model(write_checkpoint(folder, meta, tmp_path / "latest.pth"))
    assert model.feature_sizes(320, 320) == [(20, 20), (10, 10), (5, 5), (3, 3), (2, 2), (1, 1)]
    stored = np.load(folder / "mmdet.npz")
    name = meta["images"][0]
    with torch.no_grad():
        locs, confs = model(_input(folder, name, model))
    loc, conf = flatten_heads(locs, confs, model.cfg.num_classes)
    assert np.abs(loc[0].numpy() - stored[f"{name}/bbox_regression"]).max() <= 1e-4
    scores = torch.softmax(conf[0], -1).numpy()
    rows = stored[f"{name}/detections"]
    # each mmdet detection's score is one of our (prior, label + 1) scores
    for label, score in rows[:20, :2]:
        assert np.abs(scores[:, int(label) + 1] - score).min() <= 1e-5


def test_background_first_moves_each_anchors_last_channel_to_the_front():
    classes = 3  # 2 foreground + mmdet's background last
    sd = {f"bbox_head.cls_convs.{k}.1.bias": torch.arange(6 * classes, dtype=torch.float32) for k in range(6)}
    out = background_first(sd, classes)
    assert out["bbox_head.cls_convs.0.1.bias"][:6].tolist() == [2, 0, 1, 5, 3, 4]  # by hand
    assert out["bbox_head.cls_convs.5.1.bias"][-3:].tolist() == [17, 15, 16]


def test_names_from_meta_in_both_versions():
    assert class_names({"dataset_meta": {"classes": ("a", "b")}}, 2) == ("background", "a", "b")
    assert class_names({"dataset_meta": {"CLASSES": ["a", "b"]}}, 2) == ("background", "a", "b")
    assert class_names({"CLASSES": ("x", "y")}, 2) == ("background", "x", "y")
    assert class_names({"CLASSES": ("x",)}, 2) == ("background", "class1", "class2")  # wrong length: ignored
    assert class_names(None, 80) == ("background", *COCO_80) and COCO_80[:3] == ("person", "bicycle", "car")
    assert len(COCO_80) == 80 and COCO_80[-1] == "toothbrush"


def test_width_is_read_from_the_shapes():
    half = MmdetSSDLite(mmdet_ssdlite320(("background", "a"), width_mult=0.5))
    assert width_of(half.state_dict()) == 0.5
    assert half.backbone.tap_channels == 48 and half.backbone.conv1.conv.out_channels == 16  # make_divisible(96/2), (32/2)


def test_contradicting_options_are_one_line_errors(tmp_path):
    folder, meta = _case("mmdet-custom3")
    path = write_checkpoint(folder, meta, tmp_path / "latest.pth")
    for kw, words in (({"preset": "ssdlite320"}, "drop --preset"), ({"num_classes": 5}, "--num-classes 5"),
                      ({"width_mult": 0.5}, "--width-mult 0.5")):
        with pytest.raises(CheckpointError) as info:
            load_model(path, **kw)
        assert words in str(info.value) and "\n" not in str(info.value)


def test_other_anchor_counts_are_refused(tmp_path):
    folder, meta = _case("mmdet-custom3")
    sd = state_dict(folder, meta)
    sd["bbox_head.reg_convs.2.1.weight"] = sd["bbox_head.reg_convs.2.1.weight"][:16]
    torch.save({"state_dict": sd, "meta": {}}, tmp_path / "four.pth")
    with pytest.raises(CheckpointError, match="level 2: box head has 16 outputs"):
        load_model(tmp_path / "four.pth", source="mmdet")
