"""The pytorch-ssd importer's reading of a bare state dict, on hand-made key lists (no network is built).
Keys and shapes are those of qfgaohao/pytorch-ssd's nets (`vision/ssd/mobilenetv1_ssd.py`,
`mobilenet_v2_ssd_lite.py`, `mobilenetv3_ssd_lite.py`; the table in importers/pytorch_ssd.py); 6 anchors
per cell in every net, mb2's first head round(576 w) channels, dusty-nv's --resolution for mb1-ssd only."""

from __future__ import annotations

import json

import pytest
import torch
from pytorch_ssd_helpers import GOLDEN, state_dict

from ssd2ncnn.errors import CheckpointError
from ssd2ncnn.importers import ImportOptions
from ssd2ncnn.importers.pytorch_ssd import (
    _check_options,
    _class_names,
    _num_classes,
    _width,
    detect_net,
    load,
    matches,
)

MB1 = {"base_net.0.0.weight": (32, 3, 3, 3), "base_net.13.3.weight": (1024, 1024, 1, 1)}
MB2 = {"base_net.1.conv.0.weight": (32, 1, 3, 3), "base_net.18.0.weight": (1280, 320, 1, 1)}
MB3 = {"base_net.3.conv1.weight": (64, 16, 1, 1)}


def sd(*parts: dict[str, tuple[int, ...]]) -> dict[str, torch.Tensor]:
    return {k: torch.empty(s) for part in parts for k, s in part.items()}


@pytest.mark.parametrize("keys, net", [
    (sd(MB1, {"classification_headers.0.weight": (126, 512, 3, 3)}), "mb1-ssd"),
    (sd(MB1, {"classification_headers.0.0.weight": (512, 1, 3, 3)}), "mb1-ssd-lite"),
    (sd(MB1, {"classification_headers.0.2.weight": (126, 512, 1, 1)}), "mb1-ssd-lite"),
    (sd(MB1), None),  # no head: no net of theirs
    (sd(MB1, {"base_net.13.3.weight": (1024, 512, 1, 1), "classification_headers.0.weight": (126, 512, 3, 3)}), None),
    (sd({"base_net.13.3.weight": (1024, 1024, 1, 1), "classification_headers.0.weight": (126, 512, 3, 3)}), None),
    (sd(MB2), "mb2-ssd-lite"),
    (sd({"base_net.1.conv.0.weight": (32, 1, 3, 3)}), None),
    (sd({"base_net.18.0.weight": (1280, 320, 1, 1)}), None),
    (sd(MB3, {"base_net.18.weight": (960, 160, 1, 1)}), "mb3-large-ssd-lite"),
    (sd(MB3, {"base_net.14.weight": (576, 96, 1, 1)}), "mb3-small-ssd-lite"),
    (sd(MB3, {"base_net.18.weight": (960, 80, 1, 1), "base_net.14.weight": (576, 48, 1, 1)}), None),
    (sd({"base_net.18.weight": (960, 160, 1, 1)}), None),
])
def test_net_from_keys_and_shapes(keys, net):
    assert detect_net(keys) == net


def test_the_layout_is_the_ssd_wrappers_four_prefixes_and_nothing_else():
    four = sd({"base_net.0.0.weight": (1,), "extras.0.weight": (1,), "classification_headers.0.weight": (1,), "regression_headers.0.weight": (1,)})
    assert matches(four)
    assert matches(four | sd({"source_layer_add_ons.0.running_mean": (1,)}))  # their vgg16-ssd: recognised, then named
    assert not matches(four | sd({"backbone.conv1.weight": (1,)}))
    for missing in four:
        assert not matches({k: v for k, v in four.items() if k != missing})


def test_classes_from_the_last_class_head():
    assert _num_classes(sd({"classification_headers.5.weight": (6 * 21, 64, 1, 1)})) == 21
    assert _num_classes(sd({"classification_headers.5.weight": (12, 64, 1, 1)})) == 2
    for outputs in (6, 125):  # one class (background only), not a multiple of 6 anchors
        with pytest.raises(CheckpointError, match=rf"^classification_headers.5.weight has {outputs} outputs, expected 6 anchors x \(classes incl. BACKGROUND >= 2\); is this a pytorch-ssd checkpoint\?$"):
            _num_classes(sd({"classification_headers.5.weight": (outputs, 64, 1, 1)}))
    with pytest.raises(CheckpointError, match="has 0 outputs"):
        _num_classes({})


def test_mb2_width_from_its_first_head():
    head0 = "classification_headers.0.0.weight"
    assert _width("mb2-ssd-lite", sd({head0: (576, 1, 3, 3)}), None) == 1.0
    assert _width("mb2-ssd-lite", sd({head0: (432, 1, 3, 3)}), 0.75) == 0.75  # round(576 * 0.75), int(96 * 0.75) * 6
    with pytest.raises(CheckpointError, match=r"^mb2-ssd-lite's first head has 346 channels, which no width multiplier"):
        _width("mb2-ssd-lite", sd({head0: (346, 1, 3, 3)}), None)  # round(576 * 0.6); int(96 * 0.6) * 6 = 342
    assert _width("mb1-ssd", sd({head0: (432, 1, 3, 3)}), 1.0) == 1.0  # only mb2 has a width
    with pytest.raises(CheckpointError, match=r"^--width-mult 0.5 contradicts the checkpoint's shapes \(mb1-ssd width 1\); drop the option$"):
        _width("mb1-ssd", {}, 0.5)


def test_class_names_from_labels_beside_or_numbered(tmp_path):
    ckpt = tmp_path / "mb1-ssd.pth"
    assert _class_names(ImportOptions(path=ckpt), 3) == ("BACKGROUND", "class1", "class2")
    assert _class_names(ImportOptions(), 2) == ("BACKGROUND", "class1")
    (tmp_path / "labels.txt").write_text("cat\ndog\n")
    assert _class_names(ImportOptions(path=ckpt), 3) == ("BACKGROUND", "cat", "dog")
    given = tmp_path / "given.txt"
    given.write_text("BACKGROUND\nbird\nfish\n")
    assert _class_names(ImportOptions(path=ckpt, labels=given), 3) == ("BACKGROUND", "bird", "fish")


def test_options_that_contradict_the_checkpoint_are_named():
    _check_options("mb1-ssd", ImportOptions(num_classes=21, resolution=512), 21)  # agreeing options pass
    _check_options("mb2-ssd-lite", ImportOptions(resolution=300), 21)
    cases = [
        (ImportOptions(preset="voc300"), "a pytorch-ssd checkpoint is recognised from its keys (mb2-ssd-lite); drop --preset"),
        (ImportOptions(num_classes=3), "--num-classes 3 contradicts the checkpoint's heads (21 classes including BACKGROUND); drop the option"),
        (ImportOptions(resolution=512), "--resolution 512: mb2-ssd-lite's priors exist for 300 only (dusty-nv's --resolution is for mb1-ssd); drop the option"),
    ]
    for opts, message in cases:
        with pytest.raises(CheckpointError) as info:
            _check_options("mb2-ssd-lite", opts, 21)
        assert str(info.value) == message


@pytest.mark.parametrize("keys, what", [
    (sd(MB3), "no net ssd2ncnn knows"),
    (sd(MB3, {"base_net.3.squeeze.weight": (1,)}), "their sq-ssd-lite, which ssd2ncnn does not convert"),
])
def test_a_layout_of_theirs_that_is_no_known_net_is_named(keys, what):
    with pytest.raises(CheckpointError) as info:
        load({}, keys, ImportOptions())
    assert str(info.value) == (f"the checkpoint has pytorch-ssd's layout but is {what}; supported: mb1-ssd, mb1-ssd-lite, "
                               f"mb2-ssd-lite, mb3-large-ssd-lite, mb3-small-ssd-lite")


def test_load_takes_the_width_from_the_keys_and_the_resolution_from_the_option():
    """Two of the stored nets of theirs (fixtures/golden, written by their code at width 0.5 and at 1.0)."""
    def weights(case):
        folder = GOLDEN / case
        return state_dict(folder, json.loads((folder / "golden.json").read_text()))

    assert load({}, weights("pytorch-ssd-mb2-ssd-lite-w050"), ImportOptions()).cfg.width_mult == 0.5
    assert load({}, weights("pytorch-ssd-mb1-ssd"), ImportOptions(resolution=512)).cfg.input_size == 512


def test_weights_that_do_not_fit_the_recognised_net_are_named():
    keys = sd(MB3, {"base_net.14.weight": (576, 96, 1, 1), "classification_headers.5.weight": (12, 64, 1, 1)})
    with pytest.raises(CheckpointError) as info:
        load({}, keys, ImportOptions())
    message = str(info.value)
    assert message.startswith("the checkpoint looks like pytorch-ssd's mb3-small-ssd-lite but does not fit it: ")
    assert message.endswith("; was the net changed after train_ssd.py built it?")
