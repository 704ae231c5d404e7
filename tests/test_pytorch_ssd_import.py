"""pytorch-ssd import without ncnn: the twins against the original nets' layout and outputs (stored by
scripts/make_pytorch_ssd_golden.py from their code), the priors against theirs, dusty-nv's --resolution
priors against values computed by hand from their `set_image_size`, and the one-line errors."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image
from pytorch_ssd_helpers import CASES, GOLDEN, PRIOR_ATOL, state_dict, write_checkpoint

from ssd2ncnn.checkpoint import load_model
from ssd2ncnn.cli import cli
from ssd2ncnn.config import pytorch_ssd
from ssd2ncnn.errors import CheckpointError
from ssd2ncnn.importers.pytorch_ssd import detect_net
from ssd2ncnn.model.factory import build_model
from ssd2ncnn.model.priors import generate_priors

SMALL = "pytorch-ssd-mb3-small-ssd-lite"


def _meta(case: str) -> dict:
    return json.loads((GOLDEN / case / "golden.json").read_text())


@pytest.fixture(scope="module")
def small_ckpt(tmp_path_factory):
    root = tmp_path_factory.mktemp("small")
    return write_checkpoint(GOLDEN / SMALL, _meta(SMALL), root), _meta(SMALL)


@pytest.mark.parametrize("case", CASES)
def test_twin_has_their_state_dict_layout(case):
    """Key names, order and shapes of the net their create_* built (golden.json lists them)."""
    meta = _meta(case)
    cfg = replace(pytorch_ssd(tuple(meta["class_names"]), meta["net"]), width_mult=meta["width_mult"])
    sd = build_model(cfg).state_dict()
    assert [(k, list(v.shape)) for k, v in sd.items()] == list(meta["shapes"].items())


@pytest.mark.parametrize("case", CASES)
def test_net_is_recognised_from_the_keys(case):
    meta = _meta(case)
    assert detect_net({k: torch.empty(s) for k, s in meta["shapes"].items()}) == meta["net"]


# one net in the quick suite, every net with the slow tests (a forward pass each)
SLOW_BUT_SMALL = [pytest.param(c, marks=() if c == SMALL else pytest.mark.slow) for c in CASES]


@pytest.mark.parametrize("case", SLOW_BUT_SMALL)
def test_twin_reproduces_their_scores_and_boxes(case, tmp_path):
    """Loaded through the importer (net, width and names found from the files), the twin's softmax scores
    and decoded boxes equal their net's (is_test=True) on the same picture."""
    from ssd2ncnn.model.boxes import decode
    from ssd2ncnn.model.postprocess import class_scores
    from ssd2ncnn.model.ssdlite import flatten_heads

    meta = _meta(case)
    model = load_model(write_checkpoint(GOLDEN / case, meta, tmp_path))
    assert model.cfg.class_names == tuple(meta["class_names"]) and model.cfg.width_mult == meta["width_mult"]
    stored = np.load(GOLDEN / case / "predictor.npz")
    name = meta["images"][0]
    rgb = np.asarray(Image.open(GOLDEN / case / "images" / name).convert("RGB"), dtype=np.float32)
    x = torch.from_numpy((rgb - 127.0) / 128.0).permute(2, 0, 1)[None]  # their PredictionTransform at 300
    with torch.no_grad():
        loc, conf = flatten_heads(*model(x), model.cfg.num_classes)
    priors = generate_priors(model.cfg, model.feature_sizes(300, 300), (300, 300))
    assert np.abs(class_scores(conf[0], model.cfg).numpy() - stored[f"{name}/confidences"]).max() <= 1e-5
    assert np.abs(decode(loc[0], priors, model.cfg.variances).numpy() - stored[f"{name}/boxes_all"]).max() <= 1e-5


def test_priors_equal_theirs():
    """Fixed steps 16..300 and the clamp of cx, cy, w, h: their `generate_ssd_priors(clamp=True)`."""
    cfg = pytorch_ssd(("BACKGROUND", "a"), "mb1-ssd")
    theirs = np.load(GOLDEN / CASES[0] / "predictor.npz")["priors"]
    ours = generate_priors(cfg, [(19, 19), (10, 10), (5, 5), (3, 3), (2, 2), (1, 1)], (300, 300)).numpy()
    center = np.concatenate([(ours[:, :2] + ours[:, 2:]) / 2, ours[:, 2:] - ours[:, :2]], axis=1)
    assert len(theirs) == 3000 and np.abs(center - theirs).max() <= PRIOR_ATOL
    assert (theirs[:, :2] == 1.0).any() and (theirs[:, 2:] == 1.0).any()  # the clamp bites on both


def test_resolution_follows_dusty_nv_set_image_size():
    """At 512, by hand from their set_image_size: mb1-ssd maps 32, 16, 8, 4, 2, 1 -> steps ceil(512 / f)
    = 16, 32, 64, 128, 256, 512; min sizes 10, 20, 37, 54, 71, 88 % of 512, max 20, 37, .., 105 %."""
    cfg = pytorch_ssd(("BACKGROUND", "a"), "mb1-ssd", resolution=512)
    sizes = [(32, 32), (16, 16), (8, 8), (4, 4), (2, 2), (1, 1)]
    assert [cfg.step_for(512, f) for f, _ in sizes] == [16, 32, 64, 128, 256, 512]
    priors = generate_priors(cfg, sizes, (512, 512)).numpy()
    # level 0, cell 0, box 0: centre 0.5 * 16 / 512, side 51.2 / 512 = 0.1
    assert np.allclose(priors[0], [0.015625 - 0.05, 0.015625 - 0.05, 0.015625 + 0.05, 0.015625 + 0.05], atol=1e-6)
    # the 1x1 level's sqrt(450.56 * 537.6) / 512 = 0.961249 box, and its 450.56 * sqrt(3) / 512 = 1.524 box clamped to 1
    last = priors[-6:]
    assert np.allclose(last[1], [0.5 - 0.4806246, 0.5 - 0.4806246, 0.5 + 0.4806246, 0.5 + 0.4806246], atol=1e-5)
    assert np.allclose(last[4, [0, 2]], [0.0, 1.0], atol=1e-6)


def test_dataset_labels_without_background_are_accepted(small_ckpt, tmp_path):
    ckpt, meta = small_ckpt
    labels = tmp_path / "classes.txt"
    labels.write_text("\n".join(meta["class_names"][1:]) + "\n\n")
    assert load_model(ckpt, labels=labels).cfg.class_names == ("BACKGROUND", *meta["class_names"][1:])


@pytest.mark.parametrize("args, message", [
    (["--labels", "{bad}"], "has 5 names (first 'BACKGROUND'), but the checkpoint's heads have 3 classes"),
    (["--resolution", "512"], "mb3-small-ssd-lite's priors exist for 300 only"),
    (["--width-mult", "0.5"], "--width-mult 0.5 contradicts the checkpoint's shapes"),
    (["--num-classes", "21"], "--num-classes 21 contradicts the checkpoint's heads (3 classes"),
    (["--preset", "voc300"], "drop --preset"),
    (["--from", "torchvision"], "is not torchvision's ssdlite320_mobilenet_v3_large"),
])
def test_wrong_options_are_one_line_errors(small_ckpt, tmp_path, args, message):
    ckpt, _ = small_ckpt
    bad = tmp_path / "bad.txt"
    bad.write_text("BACKGROUND\na\nb\nc\nd")
    res = CliRunner().invoke(cli, ["convert", str(ckpt), "-o", str(tmp_path / "out"), *[a.format(bad=bad) for a in args]])
    assert res.exit_code == 2 and message in res.output and "Traceback" not in res.output, res.output
    assert len(res.output.strip().splitlines()) <= 2 and not (tmp_path / "out").exists()


def test_labels_option_is_refused_for_other_checkpoints(tmp_path):
    from ssd2ncnn.assets import asset_path

    with pytest.raises(CheckpointError, match="--labels apply to pytorch-ssd checkpoints"):
        load_model(asset_path("demo", "shapes_ssdlite.pth"), labels=tmp_path / "labels.txt")


def test_disagreeing_label_files_beside_the_checkpoint_are_an_error(small_ckpt):
    ckpt, meta = small_ckpt
    other = ckpt.parent / "labels.txt"
    other.write_text("BACKGROUND\nx\ny")
    try:
        with pytest.raises(CheckpointError, match="name different classes; choose one with --labels"):
            load_model(ckpt)
    finally:
        other.unlink()


def test_unsupported_net_of_theirs_is_named(small_ckpt, tmp_path):
    ckpt, meta = small_ckpt
    sd = state_dict(GOLDEN / SMALL, meta) | {"base_net.3.squeeze.weight": torch.zeros(1)}
    del sd["base_net.14.weight"]
    torch.save(sd, tmp_path / "sq.pth")
    with pytest.raises(CheckpointError, match="sq-ssd-lite, which ssd2ncnn does not convert"):
        load_model(tmp_path / "sq.pth")


def test_fixed_step_rule_needs_a_stride_per_level():
    from ssd2ncnn.config import SSDConfig
    from ssd2ncnn.errors import InputError

    d = pytorch_ssd(("BACKGROUND", "a"), "mb1-ssd").to_dict() | {"strides": [16, 32, 64]}
    with pytest.raises(InputError, match='step_rule "fixed" needs one "strides" entry per level \\(6\\), got 3'):
        SSDConfig.from_dict(d)
