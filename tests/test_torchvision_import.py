"""torchvision checkpoints without torchvision and without ncnn: the network's key layout, the importer
(forms, detection from keys, errors), the priors, and the PyTorch side (network + reference
post-processing) against torchvision's stored outputs (fixtures/golden/torchvision-*)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from torchvision_helpers import CASES, GOLDEN, state_dict, tie_aware, write_checkpoint

from ssd2ncnn.checkpoint import load_model, save_checkpoint
from ssd2ncnn.cli import cli
from ssd2ncnn.config import get_preset, torchvision_ssdlite320
from ssd2ncnn.errors import CheckpointError, InputError
from ssd2ncnn.importers import IMPORTERS, detect_importer
from ssd2ncnn.importers.torchvision import COCO_91
from ssd2ncnn.model.postprocess import class_scores, decode_boxes, detect
from ssd2ncnn.model.priors import generate_priors
from ssd2ncnn.model.ssdlite import SSDLite, flatten_heads
from ssd2ncnn.model.tv_ssdlite import TorchvisionSSDLite
from ssd2ncnn.runtime.preprocess import ncnn_input
from ssd2ncnn.verify.detections import Candidates


def golden(case: str) -> tuple[Path, dict]:
    folder = GOLDEN / case
    return folder, json.loads((folder / "golden.json").read_text())


@pytest.mark.parametrize("case", CASES)
def test_state_dict_keys_and_shapes_are_torchvisions(case):
    """The golden keys are those torchvision's own model loaded strictly (scripts/make_torchvision_golden.py)."""
    folder, meta = golden(case)
    names = ("bg",) + tuple(f"c{i}" for i in range(1, meta["num_classes"]))
    ours = TorchvisionSSDLite(torchvision_ssdlite320(names, full_tail=meta["full_tail"])).state_dict()
    theirs = state_dict(folder, meta)
    assert list(ours) == meta["keys"]
    assert {k: tuple(v.shape) for k, v in ours.items()} == {k: tuple(v.shape) for k, v in theirs.items()}


@pytest.mark.parametrize("case", CASES)
def test_both_checkpoint_forms_load_by_their_keys(case, tmp_path):
    folder, meta = golden(case)
    ckpt = write_checkpoint(folder, meta, tmp_path / "model.pth")
    sd = state_dict(folder, meta)
    assert detect_importer(sd) is IMPORTERS["torchvision"]
    model = load_model(ckpt)  # source detected from the keys
    assert isinstance(model, TorchvisionSSDLite) and not model.training
    assert model.cfg.arch == ("torchvision_full_tail" if meta["full_tail"] else "torchvision")
    assert model.cfg.num_classes == meta["num_classes"]
    if meta["num_classes"] == 91:
        assert model.cfg.class_names == COCO_91 and model.cfg.class_names[1] == "person"
    assert all(torch.equal(model.state_dict()[k], v) for k, v in sd.items())
    assert load_model(ckpt, source="torchvision").cfg == model.cfg
    again = load_model(save_checkpoint(tmp_path / "ours.pth", model))  # ssd2ncnn's own format keeps the arch
    assert type(again) is TorchvisionSSDLite and again.cfg == model.cfg
    assert all(torch.equal(again.state_dict()[k], v) for k, v in sd.items())


def test_importer_errors_name_the_fix(tmp_path):
    folder, meta = golden("torchvision-finetune3")
    ckpt = write_checkpoint(folder, meta, tmp_path / "tv.pth")
    with pytest.raises(CheckpointError, match="drop --preset"):
        load_model(ckpt, preset="ssdlite320")
    with pytest.raises(CheckpointError, match="--num-classes 5 contradicts.*3 classes"):
        load_model(ckpt, num_classes=5)
    with pytest.raises(CheckpointError, match="no width multiplier"):
        load_model(ckpt, width_mult=0.5)
    sd = state_dict(folder, meta)
    sd["backbone.features.1.3.0.weight"] = torch.zeros(512, 80, 1, 1)
    torch.save(sd, tmp_path / "odd.pth")
    with pytest.raises(CheckpointError, match="960 \\(full\\) or 480 \\(reduced\\)"):
        load_model(tmp_path / "odd.pth")
    ours = save_checkpoint(tmp_path / "ours.pth", SSDLite(get_preset("ssdlite320", width_mult=0.25)))
    with pytest.raises(CheckpointError, match="written by ssd2ncnn, not by torchvision"):
        load_model(ours, source="torchvision")
    torch.save(SSDLite(get_preset("ssdlite320", width_mult=0.25)).state_dict(), tmp_path / "bare.pth")
    with pytest.raises(CheckpointError, match="not torchvision's ssdlite320.*drop --from torchvision"):
        load_model(tmp_path / "bare.pth", source="torchvision")
    with pytest.raises(InputError, match="no width multiplier"):
        TorchvisionSSDLite(replace(torchvision_ssdlite320(("bg", "a")), width_mult=0.5))


def test_cli_reports_a_contradicting_option_as_bad_input(tmp_path):
    folder, meta = golden("torchvision-finetune3")
    ckpt = write_checkpoint(folder, meta, tmp_path / "tv.pth")
    res = CliRunner().invoke(cli, ["convert", str(ckpt), "-o", str(tmp_path / "out"), "--preset", "voc300"])
    assert res.exit_code == 2 and "drop --preset" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("case", CASES)
def test_priors_equal_torchvisions_anchors(case):
    """Centre-size clamping as torchvision's DefaultBoxGenerator; ncnn's corner clip would not be."""
    folder, meta = golden(case)
    anchors = np.load(folder / "torchvision.npz")["anchors"] / meta["input_size"]
    cfg = torchvision_ssdlite320(("bg", "a"))
    sizes = [(20, 20), (10, 10), (5, 5), (3, 3), (2, 2), (1, 1)]
    priors = generate_priors(cfg, sizes, (320, 320)).numpy()
    assert np.abs(priors - anchors).max() <= 2e-7
    corners = generate_priors(replace(cfg, clip_rule="corners"), sizes, (320, 320)).numpy()
    assert np.abs(corners - anchors).max() > 0.3  # what ncnn's PriorBox clip=1 would give instead


@pytest.mark.parametrize("case", CASES)
def test_pytorch_side_matches_torchvision(case, tmp_path):
    """Our network + reference post-processing (what verify compares ncnn with) against torchvision."""
    folder, meta = golden(case)
    model = load_model(write_checkpoint(folder, meta, tmp_path / "m.pth"))
    cfg = model.cfg
    stored = np.load(folder / "torchvision.npz")
    from PIL import Image

    for name in meta["images"]:
        with Image.open(folder / "images" / name) as im:
            chw = ncnn_input(im, cfg.input_size, cfg)
        with torch.no_grad():
            locs, confs = model(torch.from_numpy(chw)[None])
        loc, conf = flatten_heads(locs, confs, cfg.num_classes)
        assert np.abs(loc[0].numpy() - stored[f"{name}/bbox_regression"]).max() <= 1e-4
        priors = generate_priors(cfg, [(int(t.shape[2]), int(t.shape[3])) for t in locs], (320, 320))
        scores = class_scores(conf, cfg)[0]
        got = detect(loc[0], scores, priors, cfg)
        ref = stored[f"{name}/detections"].astype(np.float64)
        ref[:, 2:] /= meta["input_size"]
        # torchvision's rows, explained by our tensors up to near-ties
        check = tie_aware(ref, got, Candidates(decode_boxes(loc[0], priors, cfg), scores.numpy()), cfg)
        assert check.passed and check.matched >= 0.95 * len(ref), check
        # without clip-before-NMS the same tensors give other detections: the check can fail
        plain = replace(cfg, clip_boxes=False)
        unclipped = detect(loc[0], scores, priors, plain)
        assert not tie_aware(ref, unclipped, Candidates(decode_boxes(loc[0], priors, plain), scores.numpy()), plain).passed
