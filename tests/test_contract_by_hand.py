"""The deploy contract against expectations written by hand, for each preset and source: the PriorBox,
Softmax and DetectionOutput params of the `.param`, model.json's mean/norm and what ncnn does with them,
the priors, scores and boxes ncnn computes on crafted head maps, and the pixel boxes `detect` prints.

Every expected value below is a literal worked out from ncnn's `src/layer/*.cpp` and the source's own
config (cited per table), never from the functions that write the `.param`. Fast: the network is a
MemoryData stand-in (tests/contract_by_hand.py), no conversion."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from contract_by_hand import LN2, head_maps, tail_folder
from PIL import Image

from ssd2ncnn.assets import asset_path
from ssd2ncnn.cli import cli
from ssd2ncnn.config import VOC_CLASSES, get_preset, torchvision_ssdlite320
from ssd2ncnn.importers import ImportOptions
from ssd2ncnn.importers.mmdet_seed import seed_config
from ssd2ncnn.modelfolder import read_info
from ssd2ncnn.ncnn_format import read_param
from ssd2ncnn.runtime.detector import Detector
from ssd2ncnn.runtime.net import load_net, run_net

VAR = {3: 0.1, 4: 0.1, 5: 0.2, 6: 0.2}
FROM_INPUT = {9: -233, 10: -233, 11: -233.0, 12: -233.0}


def _priorbox(mn, mx, ratios, clip=0, offset=0.5, step_mmdet=1, center_mmdet=1):
    return {0: [mn], 1: [mx], 2: ratios, **VAR, 7: 1, 8: clip, **FROM_INPUT, 13: offset, 14: step_mmdet, 15: center_mmdet}


# voc300 = the seed as deployed: ssd2ncnn/assets/reference/mobilenetv3_ssdlite_voc.param's PriorBox lines
# (min/max 60..300, ratios 2 | 2,3, 13=0.5 14=1 15=1), and its DetectionOutput 0=21 1=0.45 2=300 3=100 4=0.01
VOC300_RATIOS = ([2.0], [2.0, 3.0], [2.0, 3.0], [2.0, 3.0], [2.0], [2.0])
VOC300 = [_priorbox(mn, mx, r) for mn, mx, r in zip(
    (60.0, 105.0, 150.0, 195.0, 240.0, 285.0), (105.0, 150.0, 195.0, 240.0, 285.0, 300.0), VOC300_RATIOS)]
# mmdetection v2 SSDLite (configs/ssd/ssdlite_mobilenetv2_scratch_600e_coco.py): strides 16..320 as
# ceil(320 / f) (14=1), centres at stride / 2 (15=0), min 48..304, max 100..320, ratios [2, 3] everywhere
SSDLITE320 = [_priorbox(mn, mx, [2.0, 3.0], center_mmdet=0) for mn, mx in zip(
    (48.0, 100.0, 150.0, 202.0, 253.0, 304.0), (100.0, 150.0, 202.0, 253.0, 304.0, 320.0))]
# torchvision ssdlite320: scales 0.2 + 0.15 k of 320 px, exact steps and (j + 0.5) centres (14=0 15=0); the
# centre-size clamp is a graph rewrite, not PriorBox's corner clip (8=0)
TORCHVISION = [_priorbox(mn, mx, [2.0, 3.0], step_mmdet=0, center_mmdet=0) for mn, mx in zip(
    (64.0, 112.0, 160.0, 208.0, 256.0, 304.0), (112.0, 160.0, 208.0, 256.0, 304.0, 320.0))]
# qfgaohao/pytorch-ssd (vision/ssd/config/mobilenetv1_ssd_config.py): SSDSpec shrinkages 16..300 written as
# fixed steps (11/12), centres (i + 0.5) * shrinkage (14=0 15=0), min 60..285, max 105..330; the
# centre-size clamp is a graph rewrite (8=0)
PYTORCH_SSD = [_priorbox(mn, mx, [2.0, 3.0], step_mmdet=0, center_mmdet=0) | {11: st, 12: st} for mn, mx, st in zip(
    (60.0, 105.0, 150.0, 195.0, 240.0, 285.0), (105.0, 150.0, 195.0, 240.0, 285.0, 330.0),
    (16.0, 32.0, 64.0, 100.0, 150.0, 300.0))]
# the seed repository's config (ssd300_mobilenetv3_pascal.py): anchor_ratios 2 | 2,3 x5 on the voc300 sizes
SEED_REPO = [p | {2: r} for p, r in zip(VOC300, ([2.0],) + ([2.0, 3.0],) * 5)]


def _detout(num_class, nms, nms_top_k, keep_top_k, conf):
    return {0: num_class, 1: nms, 2: nms_top_k, 3: keep_top_k, 4: conf, 5: 0.1, 6: 0.1, 7: 0.2, 8: 0.2}


def _seed_cfg(anchors):
    """The seed importer's config from head shapes alone: 1x1 convs with anchors x 4 / anchors x 21 outputs."""
    sd = {}
    for k, a in enumerate(anchors):
        sd[f"bbox_head.reg_convs.{k}.3.weight"] = torch.zeros(a * 4, 1, 1, 1)
        sd[f"bbox_head.cls_convs.{k}.3.weight"] = torch.zeros(a * 21, 1, 1, 1)
    return seed_config(sd, {}, ImportOptions())


def _pytorch_ssd_cfg():
    from ssd2ncnn.config import pytorch_ssd

    return pytorch_ssd(("BACKGROUND", *VOC_CLASSES[1:]), "mb1-ssd")  # what importers/pytorch_ssd.py builds


def _mmdet_cfg():
    from ssd2ncnn.config import mmdet_ssdlite320

    return mmdet_ssdlite320(("background", *(f"c{i}" for i in range(80))))  # what importers/mmdet.py builds


def _torchvision_cfg():
    from ssd2ncnn.importers.torchvision import IMPORTER
    from ssd2ncnn.model.tv_ssdlite import TorchvisionSSDLite

    names = tuple(f"c{i}" for i in range(91))
    sd = TorchvisionSSDLite(torchvision_ssdlite320(names)).state_dict()
    return IMPORTER.load({}, sd, ImportOptions()).cfg


# source -> (config, PriorBox per level, DetectionOutput)
CASES = {
    "own voc300": (lambda: get_preset("voc300"), VOC300, _detout(21, 0.45, 300, 100, 0.01)),
    "own ssdlite320": (lambda: get_preset("ssdlite320"), SSDLITE320, _detout(21, 0.45, 300, 100, 0.01)),
    # the seed's test_cfg: nms iou 0.45, score_thr 0.02, max_per_img 200
    "seed deployed": (lambda: _seed_cfg((4, 6, 6, 6, 4, 4)), VOC300, _detout(21, 0.45, 300, 200, 0.02)),
    "seed repository": (lambda: _seed_cfg((4, 6, 6, 6, 6, 6)), SEED_REPO, _detout(21, 0.45, 300, 200, 0.02)),
    # torchvision's builder: 91 COCO classes, nms 0.55, score_thresh 0.001, topk_candidates 300, 300 per image
    "torchvision": (_torchvision_cfg, TORCHVISION, _detout(91, 0.55, 300, 300, 0.001)),
    # pytorch-ssd's Predictor: score > 0.01, candidate_size 200 per class, hard NMS 0.45, up to 200 per class
    "pytorch-ssd": (_pytorch_ssd_cfg, PYTORCH_SSD, _detout(21, 0.45, 200, 200 * 20, 0.01)),
    # mmdetection SSDLite (mmdet 3.x config): same anchors as ssdlite320; test_cfg nms_pre 1000 x 6 levels,
    # NMS 0.45, score_thr 0.02, max_per_img 200
    "mmdet": (_mmdet_cfg, SSDLITE320, _detout(81, 0.45, 6000, 200, 0.02)),
}


def _params(layer):
    return {k: (list(v) if isinstance(v, list | tuple) else v) for k, v in layer.params.items()}


def _assert_params(got: dict, want: dict, what: str):
    assert sorted(got) == sorted(want), (what, sorted(got), sorted(want))
    for k, w in want.items():
        np.testing.assert_allclose(np.asarray(got[k], float), np.asarray(w, float), rtol=1e-6, err_msg=f"{what} param {k}")


@pytest.mark.parametrize("case", sorted(CASES))
def test_tail_params_are_the_hand_written_ones(case, tmp_path):
    make_cfg, priorboxes, detout = CASES[case]
    cfg = make_cfg()
    locs, confs = head_maps(cfg)
    graph = read_param(tail_folder(tmp_path, cfg, locs, confs) / "model.param")
    boxes = [ly for ly in graph.layers if ly.type == "PriorBox"]  # appended level by level
    assert len(boxes) == 6
    for k, (layer, want) in enumerate(zip(boxes, priorboxes, strict=True)):
        _assert_params(_params(layer), want, f"{case} PriorBox level {k}")
    (det,) = [ly for ly in graph.layers if ly.type == "DetectionOutput"]
    _assert_params(_params(det), detout, f"{case} DetectionOutput")
    (soft,) = [ly for ly in graph.layers if ly.type == "Softmax"]
    # mbox_conf reshaped to (h = priors, w = classes): softmax.cpp's axis 1 with fixbug0 1 runs along w
    assert _params(soft) == {0: 1, 1: 1}
    reshape = graph.producer(soft.inputs[0])
    assert reshape.type == "Reshape" and _params(reshape) == {0: len(cfg.class_names), 1: -1}


def test_voc300_tail_matches_the_deployed_seed_param(tmp_path):
    """The seed's hand-edited `.param` (the ncnn model zoo's) is a second, outside witness for voc300."""
    ref = read_param(asset_path("reference", "mobilenetv3_ssdlite_voc.param"))
    ref_boxes = [ref.producer(b) for b in ref.producer("mbox_priorbox").inputs]
    for layer, want in zip(ref_boxes, VOC300, strict=True):
        _assert_params(_params(layer), want, "reference PriorBox")
    (det,) = [ly for ly in ref.layers if ly.type == "DetectionOutput"]
    _assert_params(_params(det), CASES["own voc300"][2], "reference DetectionOutput")
    (soft,) = [ly for ly in ref.layers if ly.type == "Softmax"]
    assert _params(soft) == {0: 1, 1: 1}


# ----------------------------------------------------------------- mean / norm, through model.json and ncnn
@pytest.mark.parametrize("case, want", [
    # voc300 / seed: mean 123.675 116.28 103.53, std 1 (ssd300_mobilenetv3_pascal.py img_norm_cfg)
    ("own voc300", ([123.675, 116.28, 103.53], [1.0, 1.0, 1.0], [76.325, -16.28, -53.53])),
    ("seed deployed", ([123.675, 116.28, 103.53], [1.0, 1.0, 1.0], [76.325, -16.28, -53.53])),
    # torchvision: (x / 255 - 0.5) / 0.5 = (pixel - 127.5) / 127.5, ncnn multiplies by norm = 1 / 127.5
    ("torchvision", ([127.5] * 3, [1 / 127.5] * 3, [72.5 / 127.5, -27.5 / 127.5, -77.5 / 127.5])),
    # pytorch-ssd: (pixel - 127) / 128
    ("pytorch-ssd", ([127.0] * 3, [1 / 128] * 3, [73 / 128, -27 / 128, -77 / 128])),
    # mmdetection: mean 123.675 116.28 103.53, std 58.395 57.12 57.375
    ("mmdet", ([123.675, 116.28, 103.53], [1 / 58.395, 1 / 57.12, 1 / 57.375],
               [76.325 / 58.395, -16.28 / 57.12, -53.53 / 57.375])),
])
def test_model_json_mean_norm_and_what_ncnn_feeds_the_net(case, want, tmp_path):
    mean, norm, pixel_200_100_50 = want
    cfg = CASES[case][0]()
    folder = tail_folder(tmp_path, cfg, *head_maps(cfg))
    data = json.loads((folder / "model.json").read_text())
    np.testing.assert_allclose(data["mean_vals"], mean, rtol=1e-9)
    np.testing.assert_allclose(data["norm_vals"], norm, rtol=1e-9)
    assert data["rgb"] is True and data["input_size"] == cfg.input_size
    # a flat (200, 100, 50) image: ncnn's resize keeps it flat, then (pixel - mean) * norm per channel
    chw, size = Detector(folder).preprocess(Image.new("RGB", (37, 23), (200, 100, 50)))
    assert chw.shape == (3, cfg.input_size, cfg.input_size) and size == (37, 23)
    want_chw = np.broadcast_to(np.asarray(pixel_200_100_50, np.float32)[:, None, None], chw.shape)
    np.testing.assert_allclose(chw, want_chw, rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------- what ncnn computes from the params
def _voc300_with_two_objects():
    """voc300 on 1 x 1 maps at 300 px (stride ceil(300 / 1) = 300, mmdetection v1 centre 0.5 * 299 = 149.5
    px): level 0 prior 0 says class 7 with softmax 60 / (20 + 60) = 0.75; level 5 prior 0 (285 px) says
    class 12 with 60 / (40 + 60) = 0.6 and its w, h doubled (0.2 * 5 ln 2 -> x2), so it leaves the image."""
    cfg = get_preset("voc300")
    locs, confs = head_maps(cfg)
    conf0 = confs[0].reshape(4, 21)
    conf0[0] = -30.0
    conf0[0, 0], conf0[0, 7] = np.log(20.0), np.log(60.0)
    conf5 = confs[5].reshape(4, 21)
    conf5[0] = -30.0
    conf5[0, 0], conf5[0, 12] = np.log(40.0), np.log(60.0)
    locs[5][2:4] = 5 * LN2
    return cfg, locs, confs


# ncnn PriorBox, level 0 at 300 px: centre 149.5 px; min 60: +-30; sqrt(60 * 105) = 79.3725: +-39.6863;
# ratio 2: w 60 sqrt 2 = 84.853, h 60 / sqrt 2 = 42.426; then ratio 1/2
LEVEL0_PRIORS = [
    [119.5 / 300, 119.5 / 300, 179.5 / 300, 179.5 / 300],
    [0.3660458, 0.3660458, 0.6306209, 0.6306209],
    [0.3569120, 0.4276227, 0.6397547, 0.5690440],
    [0.4276227, 0.3569120, 0.5690440, 0.6397547],
]
# level 5 prior 0: 285 px doubled to 570 around 149.5 px
WIDE = [(149.5 - 285) / 300, (149.5 - 285) / 300, (149.5 + 285) / 300, (149.5 + 285) / 300]


def test_ncnn_priors_scores_and_detections_on_crafted_heads(tmp_path):
    cfg, locs, confs = _voc300_with_two_objects()
    folder = tail_folder(tmp_path, cfg, locs, confs)
    net = load_net(folder / "model.param", folder / "model.bin", read_info(folder).ncnn_options)
    out = run_net(net, np.zeros((3, 300, 300), np.float32), ["mbox_priorbox", "mbox_conf_flatten", "detection_out"])
    priors = out["mbox_priorbox"].reshape(2, -1, 4)
    assert priors.shape[1] == 4 + 6 + 6 + 6 + 4 + 4
    np.testing.assert_allclose(priors[0, :4], LEVEL0_PRIORS, atol=1e-6)
    np.testing.assert_allclose(priors[1], np.tile([0.1, 0.1, 0.2, 0.2], (30, 1)), atol=1e-7)
    scores = out["mbox_conf_flatten"].reshape(30, 21)
    np.testing.assert_allclose(scores.sum(axis=1), 1.0, atol=1e-6)  # a softmax per prior, over the classes
    np.testing.assert_allclose(scores[0, [0, 7]], [0.25, 0.75], atol=1e-6)
    np.testing.assert_allclose(scores[26, [0, 12]], [0.4, 0.6], atol=1e-6)  # level 5 starts at prior 26
    np.testing.assert_allclose(scores[1, 0], 1.0, atol=1e-6)
    rows = out["detection_out"].reshape(-1, 6)
    np.testing.assert_allclose(rows, [[7, 0.75, *LEVEL0_PRIORS[0]], [12, 0.6, *WIDE]], atol=1e-5)


def test_detect_prints_the_pixel_boxes_an_app_gets(tmp_path):
    """examples/mobilenetv3ssdlite.cpp: x = clamp(v * S, 0, S - 1) / S * width, on a 600 x 400 photo."""
    cfg, locs, confs = _voc300_with_two_objects()
    folder = tail_folder(tmp_path / "out", cfg, locs, confs)
    Image.new("RGB", (600, 400), (90, 90, 90)).save(tmp_path / "photo.png")
    res = CliRunner().invoke(cli, ["detect", str(folder), str(tmp_path / "photo.png"), "--json"])
    assert res.exit_code == 0, res.output
    dets = json.loads(res.output)[0]["detections"]
    assert [(d["name"], d["label"]) for d in dets] == [(VOC_CLASSES[7], 7), (VOC_CLASSES[12], 12)]
    np.testing.assert_allclose([d["score"] for d in dets], [0.75, 0.6], atol=1e-5)
    # 119.5 and 179.5 px of 300 -> x 2 on the width, x 4/3 on the height
    np.testing.assert_allclose(dets[0]["box"], [239.0, 159.3333, 359.0, 239.3333], atol=1e-3)
    # outside the input: clamped to [0, 299] of 300 px, so the right edge is 299 / 300 * 600 = 598
    np.testing.assert_allclose(dets[1]["box"], [0.0, 0.0, 598.0, 398.6667], atol=1e-3)


def test_a_score_threshold_drops_the_lower_detection(tmp_path):
    cfg, locs, confs = _voc300_with_two_objects()
    detector = Detector(tail_folder(tmp_path, cfg, locs, confs))
    image = Image.new("RGB", (300, 300))
    assert [d.label for d in detector.detect(image, threshold=0.7)] == [7]
    assert [d.label for d in detector.detect(image, threshold=0.59)] == [7, 12]
    assert detector.detect(image, threshold=0.76) == []
