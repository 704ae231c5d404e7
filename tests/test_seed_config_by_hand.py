"""The seed importer's reading of a state dict, on hand-made key lists (no network is built): what
`seed_config`, `matches` and `our_state` make of the keys of ujsyehao/mobilenetv3-ssd's
`Mobilenetv3SSDHead` (keys and shapes: `tests/test_seed_keys_by_hand.py`, from that repository's module
names). Expected values by hand: anchors = 2 + 2 * len(ratios) per level, classes = class outputs /
anchors, and `ssd300_mobilenetv3_pascal.py`'s test_cfg (score_thr 0.02, nms iou_thr 0.45, max_per_img 200)."""

from __future__ import annotations

import pytest
import torch
from seed_helpers import seed_model
from test_seed_keys_by_hand import DEPLOYED, REPOSITORY, head_keys

from ssd2ncnn.config import VOC_CLASSES
from ssd2ncnn.errors import CheckpointError
from ssd2ncnn.importers import ImportOptions
from ssd2ncnn.importers.mmdet_seed import load, matches, our_state, seed_config, seed_layout

NO_OPTIONS = ImportOptions()


def last_convs(anchors: tuple[int, ...], classes: int = 21) -> dict[str, torch.Tensor]:
    """Only the heads' 1x1 convs (`.3.weight`), the tensors whose output counts say anchors and classes;
    zero-size stand-ins of the right output count (nothing reads their values)."""
    keys = head_keys(anchors)
    out = {}
    for key, shape in keys.items():
        if key.endswith(".3.weight"):
            outputs = shape[0] if ".reg_convs." in key else shape[0] // 21 * classes
            out[key] = torch.empty(outputs, 0)
    return out


@pytest.mark.parametrize("anchors, ratios", [
    (DEPLOYED, ((2.0,), (2.0, 3.0), (2.0, 3.0), (2.0, 3.0), (2.0,), (2.0,))),
    (REPOSITORY, ((2.0,),) + ((2.0, 3.0),) * 5),
], ids=["deployed-446644", "repository-466666"])
def test_anchors_classes_and_test_cfg_come_from_the_heads(anchors, ratios):
    cfg = seed_config(last_convs(anchors), {}, NO_OPTIONS)
    assert cfg.aspect_ratios == ratios
    assert cfg.num_classes == 21 and cfg.class_names == VOC_CLASSES
    assert (cfg.conf_threshold, cfg.nms_threshold, cfg.keep_top_k) == (0.02, 0.45, 200)
    assert (cfg.preset, cfg.arch, cfg.width_mult) == ("voc300", "seed", 1.0)


def test_class_names_come_from_meta_when_they_fit():
    sd = last_convs(DEPLOYED, classes=3)
    assert seed_config(sd, {"CLASSES": ("cat", "dog")}, NO_OPTIONS).class_names == ("background", "cat", "dog")
    for meta in ({}, {"CLASSES": ("cat",)}, {"CLASSES": ("cat", 2)}, {"CLASSES": "cd"}, ["cat", "dog"]):
        assert seed_config(sd, meta, NO_OPTIONS).class_names == ("background", "class1", "class2"), meta  # type: ignore[arg-type]
    # 21 classes without names in meta: VOC's, as the seed's config trains on VOC
    assert seed_config(last_convs(DEPLOYED), ["x"], NO_OPTIONS).class_names == VOC_CLASSES  # type: ignore[arg-type]


def test_options_that_agree_are_taken_and_those_that_contradict_are_named():
    sd = last_convs(DEPLOYED)
    cfg = seed_config(sd, {}, ImportOptions(preset="voc300", num_classes=21, width_mult=0.5))
    assert cfg.num_classes == 21 and cfg.width_mult == 0.5
    with pytest.raises(CheckpointError, match=r"voc300 priors its head hard-codes .*; drop --preset ssdlite320$"):
        seed_config(sd, {}, ImportOptions(preset="ssdlite320"))
    with pytest.raises(CheckpointError, match=r"^--num-classes 5 contradicts the checkpoint's class heads \(21 including background\); drop the option$"):
        seed_config(sd, {}, ImportOptions(num_classes=5))


@pytest.mark.parametrize("outputs, message", [
    ({"reg_convs.2": 20}, "level 2: box head has 20 outputs and class head 126"),  # 5 anchors
    ({"reg_convs.2": 20, "cls_convs.2": 105}, "level 2: box head has 20 outputs and class head 105"),  # 5 x 21
    ({"cls_convs.2": 105}, "level 2: box head has 24 outputs and class head 105"),  # 6 anchors x 17.5
    ({"reg_convs.0": 18}, "level 0: box head has 18 outputs and class head 84"),  # not x4 (84 = 4 x 21)
    ({"cls_convs.4": 85}, "level 4: box head has 16 outputs and class head 85"),  # not x4 anchors
    ({"cls_convs.5": 20}, "the class heads disagree on the number of classes (21 vs 5)"),
])
def test_heads_that_fit_no_anchor_count_are_named(outputs, message):
    sd = last_convs(DEPLOYED) | {f"bbox_head.{k}.3.weight": torch.empty(n, 0) for k, n in outputs.items()}
    with pytest.raises(CheckpointError) as info:
        seed_config(sd, {}, NO_OPTIONS)
    assert message in str(info.value)
    if "level" in message:
        assert "expected 4 or 6 anchors per cell (16 or 24 box outputs) and a class head of anchors x classes" in str(info.value)


def test_a_missing_head_names_the_key_and_the_head_option():
    sd = last_convs(DEPLOYED)
    for key in ("bbox_head.reg_convs.5.3.weight", "bbox_head.cls_convs.0.3.weight"):
        with pytest.raises(CheckpointError, match=rf"^seed checkpoint lacks {key}: expected depthwise heads \(depthwise_heads=True\) on 6 levels$"):
            seed_config({k: v for k, v in sd.items() if k != key}, {}, NO_OPTIONS)


def test_the_layout_is_recognised_by_a_backbone_key_and_a_box_head():
    backbone = {"backbone.bneck.0.conv1.weight": torch.empty(0)}
    assert matches(backbone | {"bbox_head.reg_convs.0.3.weight": torch.empty(0)})
    assert not matches(backbone | {"bbox_head.cls_convs.0.3.weight": torch.empty(0)})
    assert not matches({"bbox_head.reg_convs.0.3.weight": torch.empty(0)})


def test_our_state_renames_the_heads_and_drops_the_imagenet_classifier():
    t = [torch.empty(0) for _ in range(4)]
    theirs = {
        "backbone.conv1.weight": t[0], "bbox_head.reg_convs.0.3.weight": t[1], "bbox_head.cls_convs.5.1.running_var": t[2],
        "backbone.bneck.3.bbox_head.reg_convs.x": t[3],  # a head prefix not at the start is not a head
        "backbone.linear3.weight": t[0], "backbone.bn3.running_mean": t[0], "backbone.linear4.bias": t[0],
    }
    ours = our_state(theirs)
    assert list(ours) == ["backbone.conv1.weight", "loc_heads.0.3.weight", "conf_heads.5.1.running_var", "backbone.bneck.3.bbox_head.reg_convs.x"]
    assert all(ours[k] is v for k, v in zip(ours, t, strict=True))


def test_seed_layout_adds_the_seed_backbones_imagenet_classifier():
    """pytorch_model/mobilenetv3.py: linear3 = Linear(960, 1280), bn3 = BatchNorm1d(1280), linear4 =
    Linear(1280, num_classes=1000); init_weights draws Linear weights from normal(std=0.001), zero biases."""
    sd = seed_layout(seed_model(spread=False))
    classifier = {k: v for k, v in sd.items() if k.startswith(("backbone.linear3.", "backbone.bn3.", "backbone.linear4."))}
    assert {k: tuple(v.shape) for k, v in classifier.items()} == {
        "backbone.linear3.weight": (1280, 960), "backbone.linear3.bias": (1280,),
        "backbone.bn3.weight": (1280,), "backbone.bn3.bias": (1280,), "backbone.bn3.running_mean": (1280,),
        "backbone.bn3.running_var": (1280,), "backbone.bn3.num_batches_tracked": (),
        "backbone.linear4.weight": (1000, 1280), "backbone.linear4.bias": (1000,),
    }
    for key in ("backbone.linear3.weight", "backbone.linear4.weight"):
        assert 0.9e-3 < float(classifier[key].std()) < 1.1e-3 and float(classifier[key].mean().abs()) < 1e-4
    assert classifier["backbone.bn3.num_batches_tracked"].item() == 0  # a fresh BatchNorm1d
    assert not classifier["backbone.linear3.bias"].any() and not classifier["backbone.linear4.bias"].any()
    assert tuple(seed_layout(seed_model(spread=False), classifier_classes=21)["backbone.linear4.weight"].shape) == (21, 1280)


def test_load_names_another_layout_and_weights_that_do_not_fit():
    with pytest.raises(CheckpointError) as info:
        load({}, {}, NO_OPTIONS)
    assert str(info.value) == ("the checkpoint is not ujsyehao/mobilenetv3-ssd's mmdetection v1 layout (no "
                               "backbone.bneck.0.conv1.weight and bbox_head.reg_convs.*); drop --from seed or pass the right file")
    heads_only = last_convs(DEPLOYED, classes=3) | {"backbone.bneck.0.conv1.weight": torch.empty(0)}
    with pytest.raises(CheckpointError) as info:
        load({"meta": None}, heads_only, ImportOptions(width_mult=0.5))
    message = str(info.value)
    assert message.startswith("checkpoint does not fit the seed model (width 0.5, 3 classes): ")
    assert message.endswith("; check --from and --width-mult")
