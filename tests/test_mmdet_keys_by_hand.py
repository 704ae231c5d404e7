"""The mmdet importer's reading of a state dict, on hand-made key lists: mmdetection's SSDLite MobileNetV2
(`configs/ssd/ssdlite_mobilenetv2-scratch_8xb24-600e_coco.py`: SSDHead with use_depthwise, 6 anchors per
cell from ratios [2, 3], `cls_out_channels = num_classes + 1`; MobileNetV2's layer7 has
make_divisible(320 w, 8) channels). Expected values by hand."""

from __future__ import annotations

import pytest
import torch

from ssd2ncnn.errors import CheckpointError
from ssd2ncnn.importers import ImportOptions
from ssd2ncnn.importers.mmdet import (
    LAST_STAGE,
    SIGNATURE,
    background_first,
    class_names,
    load,
    num_classes_of,
    width_of,
)


def heads(cls_outputs: int | list[int], reg_outputs: int = 24) -> dict[str, torch.Tensor]:
    per_level = cls_outputs if isinstance(cls_outputs, list) else [cls_outputs] * 6
    out = {f"bbox_head.cls_convs.{k}.1.weight": torch.empty(c, 0) for k, c in enumerate(per_level)}
    return out | {f"bbox_head.reg_convs.{k}.1.weight": torch.empty(reg_outputs, 0) for k in range(6)}


def error(fn, *args) -> str:
    with pytest.raises(CheckpointError) as info:
        fn(*args)
    return str(info.value)


def test_classes_from_the_class_heads():
    assert num_classes_of(heads(6 * 81)) == 81  # COCO: 80 + mmdet's background
    assert num_classes_of(heads(12)) == 2  # the fewest: one class + background
    expected = ("expected 6 anchors per cell (ratios [2, 3], as ssdlite_mobilenetv2's anchor generator): "
                "24 box outputs and 6 x (classes + 1) class outputs")
    for cls, reg in ((6, 24), (20, 24), (18, 16)):  # background only; not 6 anchors; 4 anchors
        assert error(num_classes_of, heads(cls, reg)) == f"mmdet checkpoint level 0: box head has {reg} outputs and class head {cls}; {expected}"
    assert error(num_classes_of, heads([486] * 5 + [18])) == "mmdet checkpoint: the class heads disagree on the number of classes ([3, 81])"
    sd = heads(12)
    del sd["bbox_head.reg_convs.3.1.weight"]
    assert error(num_classes_of, sd) == "mmdet checkpoint lacks bbox_head.reg_convs.3.1.weight: expected an SSDHead with use_depthwise=True on 6 levels"


@pytest.mark.parametrize("channels, width", [(320, 1.0), (160, 0.5), (80, 0.25), (240, 0.75), (336, 1.05)])
def test_width_from_layer7(channels, width):
    assert width_of({LAST_STAGE: torch.empty(channels, 0)}) == width  # make_divisible(320 w) = channels


def test_a_missing_layer7_is_named():
    assert error(width_of, {}) == f"mmdet checkpoint lacks {LAST_STAGE}: expected mmdet's MobileNetV2 backbone (layer1..layer7)"


@pytest.mark.parametrize("channels", [330, 8, 7])  # between grid widths (1.05 gives 336); width 0 (make_divisible(0) = 8)
def test_widths_no_multiplier_gives_are_refused(channels):
    message = error(width_of, {LAST_STAGE: torch.empty(channels, 0)})
    assert message == f"mmdet checkpoint: layer7 has {channels} channels, which no width multiplier of MobileNetV2 gives"


def test_names_must_be_non_empty_strings():
    for names in (("a", 5), ("a", "")):
        assert class_names({"CLASSES": names}, 2) == ("background", "class1", "class2")


def test_background_first_reorders_the_weights_too():
    classes = 2  # 1 foreground + mmdet's background last
    w = torch.arange(6 * classes, dtype=torch.float32).reshape(-1, 1, 1, 1)
    out = background_first({f"bbox_head.cls_convs.{k}.1.weight": w for k in range(6)}, classes)
    for k in range(6):
        assert out[f"bbox_head.cls_convs.{k}.1.weight"].flatten().tolist() == [1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10]


def test_load_names_the_missing_signature_key_and_contradicting_options():
    only_backbone = {SIGNATURE[0]: torch.empty(0)}
    assert error(load, {}, only_backbone, ImportOptions()) == (
        f"the checkpoint is not mmdetection's SSDLite MobileNetV2 (no {SIGNATURE[1]}); drop --from mmdet or pass the right file")
    signature = {k: torch.empty(0) for k in SIGNATURE}
    assert error(load, {}, signature, ImportOptions(preset="ssdlite320")) == (
        "an mmdet SSDLite checkpoint gets its priors from mmdetection's config; drop --preset")
    sd = signature | heads(12) | {LAST_STAGE: torch.empty(80, 0)}  # 2 classes, width 0.25: no weights beyond
    assert error(load, {}, sd, ImportOptions(width_mult=0.5)).startswith("--width-mult 0.5 contradicts the checkpoint's channels (width 0.25)")
    # the same width passes the option check; the hand-made dict then fails only at the weights, against a
    # net of that width: layer7 at w 0.25 maps make_divisible(160 w) * 6 = 240 channels to make_divisible(320 w) = 80
    message = error(load, {}, sd, ImportOptions(width_mult=0.25, num_classes=2))
    assert message.startswith("the checkpoint looks like mmdetection's SSDLite MobileNetV2 but does not fit it: ")
    assert f"{LAST_STAGE}: checkpoint (80, 0) vs model (80, 240, 1, 1)" in message
    assert message.endswith("; only configs/ssd/ssdlite_mobilenetv2*_coco.py's neck and head (use_depthwise) are supported")
