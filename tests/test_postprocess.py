"""The reference post-processing against ncnn's DetectionOutput run on the same random tensors."""

import ncnn
import numpy as np
import pytest
import torch

from ssd2ncnn.config import get_preset
from ssd2ncnn.model.boxes import decode, encode
from ssd2ncnn.model.postprocess import decode_boxes, detect
from ssd2ncnn.model.priors import generate_priors, priorbox_blob
from ssd2ncnn.ncnn_format import Graph, Layer, format_param
from ssd2ncnn.patches.ssd_postprocess import detection_output_params
from ssd2ncnn.runtime.net import mat_to_numpy
from ssd2ncnn.verify.detections import Candidates, compare_detections
from ssd2ncnn.verify.tolerances import Tolerances


def _ncnn_detection_output(cfg, loc, scores, prior_blob):
    graph = Graph([Layer("Input", n, [], [n]) for n in ("loc", "conf", "prior")])
    graph.append(Layer("DetectionOutput", "det", ["loc", "conf", "prior"], ["det"], detection_output_params(cfg)))
    net = ncnn.Net()
    net.opt.use_vulkan_compute = False
    assert net.load_param_mem(format_param(graph)) == 0
    ex = net.create_extractor()
    arrays = [np.ascontiguousarray(a, dtype=np.float32) for a in (loc.reshape(-1), scores.reshape(-1), prior_blob)]
    for name, a in zip(("loc", "conf", "prior"), arrays):
        ex.input(name, ncnn.Mat(a).clone())
    ret, out = ex.extract("det")
    assert ret == 0
    return mat_to_numpy(out, "detection_out")


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("preset", ["voc300", "ssdlite320"])
def test_reference_postprocess_matches_ncnn_detection_output(preset, seed):
    cfg = get_preset(preset, num_classes=6)
    sizes = [(19, 19), (10, 10), (5, 5), (3, 3), (2, 2), (1, 1)]
    priors = generate_priors(cfg, sizes, (300, 300))
    gen = torch.Generator().manual_seed(seed)
    loc = torch.randn(priors.shape[0], 4, generator=gen)
    scores = torch.softmax(3 * torch.randn(priors.shape[0], cfg.num_classes, generator=gen), dim=-1)
    ours = detect(loc, scores, priors, cfg)
    theirs = _ncnn_detection_output(cfg, loc.numpy(), scores.numpy(), priorbox_blob(cfg, priors))
    assert len(ours) == cfg.keep_top_k  # enough candidates that keep_top_k and NMS both act
    cand = Candidates(decode_boxes(loc, priors, cfg), scores.numpy())
    check = compare_detections(theirs, ours, cfg, Tolerances(score_atol=1e-6, box_atol=1e-5), cand, 0.0)
    assert check.passed, check
    assert check.matched >= len(ours) - 2


def test_no_detections_gives_an_empty_array_on_both_sides():
    cfg = get_preset("voc300", num_classes=3)
    priors = generate_priors(cfg, [(2, 2)] * 6, (64, 64))
    scores = torch.zeros(priors.shape[0], 3)
    scores[:, 0] = 1.0  # all background
    assert detect(torch.zeros(priors.shape[0], 4), scores, priors, cfg).shape == (0, 6)
    out = _ncnn_detection_output(cfg, np.zeros((priors.shape[0], 4)), scores.numpy(), priorbox_blob(cfg, priors))
    assert out.shape == (0, 6)


def test_encode_decode_round_trip():
    cfg = get_preset("voc300")
    priors = generate_priors(cfg, [(3, 3)] * 6, (300, 300))
    gen = torch.Generator().manual_seed(0)
    xy = torch.rand(priors.shape[0], 2, generator=gen) * 0.6
    gt = torch.cat([xy, xy + 0.05 + torch.rand(priors.shape[0], 2, generator=gen) * 0.3], dim=1)
    torch.testing.assert_close(decode(encode(gt, priors, cfg.variances), priors, cfg.variances), gt, atol=1e-5, rtol=0)


def _nms_one_by_one(boxes, threshold):
    """Greedy NMS written the slow obvious way (ncnn's loop): each candidate against every picked box."""
    picked = []
    for i, b in enumerate(boxes):
        keep = True
        for j in picked:
            p = boxes[j]
            iw, ih = min(b[2], p[2]) - max(b[0], p[0]), min(b[3], p[3]) - max(b[1], p[1])
            inter = np.float32(0.0) if (iw < 0 or ih < 0) else iw * ih
            union = (b[2] - b[0]) * (b[3] - b[1]) + (p[2] - p[0]) * (p[3] - p[1]) - inter
            with np.errstate(divide="ignore", invalid="ignore"):
                if inter / union > np.float32(threshold):
                    keep = False
                    break
        if keep:
            picked.append(i)
    return picked


@pytest.mark.parametrize("seed", range(6))
def test_nms_matches_the_one_by_one_loop(seed):
    """Clustered, nested, touching and zero-area float32 boxes: the vectorised NMS picks the same ones."""
    from ssd2ncnn.model.postprocess import _nms

    rng = np.random.default_rng(seed)
    centres = rng.uniform(0, 1, (8, 2))[rng.integers(0, 8, 300)] + rng.normal(0, 0.02, (300, 2))
    half = rng.uniform(0, 0.1, (300, 2))
    half[rng.random(300) < 0.05] = 0.0  # degenerate boxes: 0/0 overlap must not suppress
    boxes = np.concatenate([centres - half, centres + half], axis=1).astype(np.float32)
    boxes[10] = boxes[11]  # exact duplicates
    boxes[20, :2], boxes[21, :2] = boxes[21, 2:], boxes[20, 2:]  # touching corners: zero intersection
    for threshold in (0.1, 0.45, 0.7):
        assert _nms(boxes, threshold) == _nms_one_by_one(boxes, threshold)
