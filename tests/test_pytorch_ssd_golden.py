"""Parity with qfgaohao/pytorch-ssd's own nets and Predictor, without their code: the golden folders hold
their state dict, label file, 300 x 300 pictures and what their Predictor returned on them
(scripts/make_pytorch_ssd_golden.py). Here the checkpoint is written as train_ssd.py writes it, converted
with `ssd2ncnn convert` and no option (net, classes, width and names found from the files), run with
`ssd2ncnn detect`, compared, and verified."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from pytorch_ssd_helpers import (
    BOX_ATOL,
    CASES,
    GOLDEN,
    PRIOR_ATOL,
    SCORE_ATOL,
    judge,
    predictor_rows,
    write_checkpoint,
)

from ssd2ncnn.cli import cli
from ssd2ncnn.config import SSDConfig
from ssd2ncnn.runtime.detector import Detector
from ssd2ncnn.verify.detections import candidates_from_blobs


@pytest.fixture(scope="module", params=CASES)
def converted(request, tmp_path_factory):
    folder = GOLDEN / request.param
    meta = json.loads((folder / "golden.json").read_text())
    root = tmp_path_factory.mktemp(request.param)
    ckpt = write_checkpoint(folder, meta, root / "train")
    res = CliRunner().invoke(cli, ["convert", str(ckpt), "-o", str(root / "out")])
    assert res.exit_code == 0, res.output
    return folder, meta, ckpt, root / "out"


def corners(center_form: np.ndarray) -> np.ndarray:
    return np.concatenate([center_form[:, :2] - center_form[:, 2:] / 2, center_form[:, :2] + center_form[:, 2:] / 2], axis=1)


@pytest.mark.slow
def test_detect_matches_their_predictor(converted):
    folder, meta, _, out = converted
    stored = np.load(folder / "predictor.npz")
    cfg = SSDConfig.from_dict(json.loads((out / "model.json").read_text())["config"])
    assert (cfg.arch, cfg.width_mult, cfg.class_names) == (meta["net"], meta["width_mult"], tuple(meta["class_names"]))
    images = [folder / "images" / name for name in meta["images"]]
    res = CliRunner().invoke(cli, ["detect", str(out), *map(str, images), "--json", "--threshold", "0"])
    assert res.exit_code == 0, res.output
    detector = Detector(out)
    for doc, name in zip(json.loads(res.stdout), meta["images"], strict=True):
        chw, size = detector.preprocess(folder / "images" / name)
        blobs = detector.raw(chw, ["mbox_loc", "mbox_conf_flatten", "mbox_priorbox", "detection_out"])
        assert doc["detections"] == [d.to_dict() for d in detector.to_detections(blobs["detection_out"], size)]
        # their priors (centre form, clamped) and softmax scores, tensor by tensor
        priors = blobs["mbox_priorbox"][0].reshape(-1, 4)
        assert np.abs(priors - corners(stored["priors"])).max() <= PRIOR_ATOL
        scores = blobs["mbox_conf_flatten"].reshape(-1, cfg.num_classes)
        assert np.abs(scores - stored[f"{name}/confidences"]).max() <= SCORE_ATOL
        cand = candidates_from_blobs(blobs["mbox_loc"], blobs["mbox_conf_flatten"], blobs["mbox_priorbox"], cfg)
        assert np.abs(cand.boxes - stored[f"{name}/boxes_all"]).max() <= BOX_ATOL
        ref = predictor_rows(stored, name, *size)
        assert len(ref) > 100 and len(np.unique(ref[:, 0])) == cfg.num_classes - 1  # something to get wrong
        check = judge(ref, blobs["detection_out"], cand, cfg)
        # the figures docs/pytorch-ssd.md quotes (pytest -rA shows them)
        print(f"{meta['case']} {name}: {len(ref)} Predictor rows, {check.matched} matched, excused {check.excused}, "
              f"priors {np.abs(priors - corners(stored['priors'])).max():.2g}, "
              f"scores {np.abs(scores - stored[f'{name}/confidences']).max():.2g}, "
              f"detection score/box {check.max_score_err:.2g}/{check.max_box_err:.2g}")
        assert check.passed, (name, check)
        assert check.max_score_err <= SCORE_ATOL and check.max_box_err <= BOX_ATOL, (name, check)
        assert check.matched >= len(ref) - check.excused.get("iou epsilon", 0), (name, check)


@pytest.mark.slow
def test_verify_passes_on_the_converted_folder(converted):
    _, _, ckpt, out = converted
    res = CliRunner().invoke(cli, ["verify", str(ckpt), str(out), "--num-images", "1"])
    assert res.exit_code == 0, res.output


@pytest.mark.slow
def test_check_passes_on_the_converted_folder(converted):
    _, _, _, out = converted
    res = CliRunner().invoke(cli, ["check", str(out)])
    assert res.exit_code == 0, res.output
