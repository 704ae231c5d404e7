"""The torchvision importer's reading of a state dict, on hand-made key lists: pytorch/vision's
`ssdlite320_mobilenet_v3_large` (`models/detection/ssdlite.py`: 6 anchors per cell on every level, the
classification head's first 1x1 conv has 6 x num_classes outputs; MobileNetV3-Large's last conv 960
channels, 480 with `reduced_tail`). Expected values by hand."""

from __future__ import annotations

import json

import pytest
import torch
from torchvision_helpers import GOLDEN, state_dict

from ssd2ncnn.errors import CheckpointError
from ssd2ncnn.importers import ImportOptions
from ssd2ncnn.importers.torchvision import (
    CONF0,
    LAST_CONV,
    SIGNATURE,
    _full_tail,
    _num_classes,
    load,
    matches,
)


def error(fn, *args) -> str:
    with pytest.raises(CheckpointError) as info:
        fn(*args)
    return str(info.value)


def test_the_layout_is_the_five_signature_keys():
    keys = {k: torch.empty(0) for k in SIGNATURE}
    assert matches(keys)
    assert not any(matches({k: v for k, v in keys.items() if k != missing}) for missing in keys)


def test_classes_from_the_first_class_head():
    assert _num_classes({CONF0: torch.empty(6 * 91, 0)}) == 91 and _num_classes({CONF0: torch.empty(12, 0)}) == 2
    for outputs in (6, 125):
        assert error(_num_classes, {CONF0: torch.empty(outputs, 0)}) == (
            f"{CONF0} has {outputs} outputs, expected 6 anchors x (classes incl. background >= 2); "
            f"is this torchvision's ssdlite320_mobilenet_v3_large?")


def test_the_tail_from_the_last_backbone_conv():
    assert _full_tail({LAST_CONV: torch.empty(960, 0)}) is True
    assert _full_tail({LAST_CONV: torch.empty(480, 0)}) is False
    assert error(_full_tail, {LAST_CONV: torch.empty(640, 0)}) == (
        f"{LAST_CONV} has 640 outputs; torchvision's MobileNetV3-Large tail has 960 (full) or 480 (reduced); "
        f"other widths are not ssdlite320_mobilenet_v3_large")


def test_load_names_the_first_missing_key_and_each_contradicting_option():
    keys = {k: torch.empty(0) for k in SIGNATURE[:2]}
    assert error(load, {}, keys, ImportOptions()) == (
        f"the checkpoint is not torchvision's ssdlite320_mobilenet_v3_large (no {SIGNATURE[2]}); "
        f"drop --from torchvision or pass the right file")
    sd = {k: torch.empty(0) for k in SIGNATURE} | {CONF0: torch.empty(18, 0)}  # 3 classes
    assert error(load, {}, sd, ImportOptions(preset="ssdlite320")) == "a torchvision checkpoint carries its own architecture; drop --preset"
    assert error(load, {}, sd, ImportOptions(width_mult=0.5)) == (
        "torchvision's ssdlite320_mobilenet_v3_large has no width multiplier; drop --width-mult 0.5")
    assert error(load, {}, sd, ImportOptions(num_classes=5)) == (
        "--num-classes 5 contradicts the checkpoint's heads (3 classes including the background); drop the option")
    # agreeing options pass; the hand-made dict (an odd tail) then fails at the tail, before any weights
    assert "has 0 outputs" in error(load, {}, sd, ImportOptions(width_mult=1.0, num_classes=3))


def test_load_names_the_classes_and_weights_that_do_not_fit():
    """A 3-class fine-tune of torchvision's (fixtures/golden, written by torchvision itself): background, class1, class2."""
    folder = GOLDEN / "torchvision-finetune3"
    sd = state_dict(folder, json.loads((folder / "golden.json").read_text()))
    assert load({}, sd, ImportOptions()).cfg.class_names == ("background", "class1", "class2")
    del sd["head.regression_head.module_list.5.1.bias"]
    message = error(load, {}, sd, ImportOptions())
    assert message.startswith("the checkpoint looks like torchvision's ssdlite320_mobilenet_v3_large but does not fit it: ")
    assert message.endswith("; was the model changed after building it?")
