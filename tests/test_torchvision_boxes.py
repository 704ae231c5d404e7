"""The torchvision box rules as graph rewrites (patches/prior_clamp.py, patches/box_clip.py), on a small bundled SSDLite so they
are checked apart from torchvision's network: priors clamped in centre-size form and boxes clipped
before NMS, at more than one input size (the rewrites read the priors blob, nothing is baked in)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from ssd2ncnn.config import get_preset
from ssd2ncnn.converter.convert import convert_model
from ssd2ncnn.model.postprocess import class_scores, detect
from ssd2ncnn.model.priors import generate_priors
from ssd2ncnn.model.spread_init import spread_init
from ssd2ncnn.model.ssdlite import SSDLite, flatten_heads
from ssd2ncnn.ncnn_format import Graph, Layer, lint_param, read_param
from ssd2ncnn.patches import run_passes
from ssd2ncnn.patches.ssd_postprocess import DETECTION_BLOB, PRIOR_BLOB, PRIORBOX_CLIP, priorbox_params
from ssd2ncnn.runtime.net import load_net, run_net
from ssd2ncnn.verify.detections import candidates_from_blobs, compare_detections
from ssd2ncnn.verify.parity import verify
from ssd2ncnn.verify.tolerances import FP32
from ssd2ncnn.verify.verify_images import synthetic_images


def torchvision_rules(cfg):
    """A small config with torchvision's prior and box rules (scales 0.2..1.0 of a 160 px input)."""
    scales = [0.2 + 0.16 * k for k in range(6)] + [1.0]
    return replace(cfg, input_size=160, min_sizes=tuple(160 * s for s in scales[:6]), max_sizes=tuple(160 * s for s in scales[1:]),
                   step_rule="exact", center_rule="standard", clip=True, clip_rule="center_size", clip_boxes=True, strides=())


def apply_box_rules(graph, cfg):
    return sum(run_passes(graph, cfg, only=("clamp-prior-sizes", "decode-and-clip-boxes")).values())


def test_rules_add_layers_only_when_asked():
    tail = [Layer("Concat", PRIOR_BLOB, ["p0"], [PRIOR_BLOB]), Layer("DetectionOutput", DETECTION_BLOB, ["l", "c", PRIOR_BLOB], [DETECTION_BLOB])]
    base = get_preset("ssdlite320")
    assert apply_box_rules(Graph(list(tail)), base) == 0
    graph = Graph([Layer("Input", "x", [], ["p0"]), Layer("Input", "y", [], ["l"]), Layer("Input", "z", [], ["c"])] + tail)
    added = apply_box_rules(graph, torchvision_rules(base))
    assert added > 0
    det = graph.layer(DETECTION_BLOB)
    assert det.inputs[0] != "l" and det.inputs[2] != PRIOR_BLOB  # zeros and the decoded, clipped boxes
    assert graph.producer(PRIOR_BLOB).type == "Concat" and graph.producer(PRIOR_BLOB).name != PRIOR_BLOB
    # ncnn's PriorBox must not clip corners when the clamp happens in the graph
    assert priorbox_params(torchvision_rules(base), 0)[PRIORBOX_CLIP] == 0
    assert priorbox_params(replace(base, clip=True), 0)[PRIORBOX_CLIP] == 1


@pytest.mark.slow
def test_converted_model_matches_the_reference_at_two_sizes(tmp_path):
    torch.manual_seed(0)
    model = spread_init(SSDLite(torchvision_rules(get_preset("ssdlite320", width_mult=0.25, num_classes=4))), 0)
    out = tmp_path / "out"
    convert_model(model, out)
    assert lint_param((out / "model.param").read_text()) == []
    assert {layer.type for layer in read_param(out / "model.param").layers} >= {"UnaryOp", "Clip", "Slice"}
    report = verify(model, out, synthetic_images(2, seed=3), [160, 192], FP32)
    assert report.passed, report.failures()
    assert all(c.detections.matched >= 50 for c in report.cases)

    # The same ncnn output against a reference without clip-before-NMS, and ncnn's priors against
    # corner-clipped ones: both differ, so the checks above could fail.
    net = load_net(out / "model.param", out / "model.bin", {}, 2)
    image = synthetic_images(1, seed=3)[0].image
    from ssd2ncnn.runtime.preprocess import ncnn_input

    chw = ncnn_input(image, 160, model.cfg)
    blobs = run_net(net, chw, ["mbox_loc", "mbox_conf_flatten", "mbox_priorbox", "detection_out"])
    cfg = model.cfg
    with torch.no_grad():
        locs, confs = model(torch.from_numpy(chw)[None])
    loc, conf = flatten_heads(locs, confs, cfg.num_classes)
    sizes = [(int(t.shape[2]), int(t.shape[3])) for t in locs]
    corner = generate_priors(replace(cfg, clip_rule="corners"), sizes, (160, 160)).numpy()
    assert np.abs(blobs["mbox_priorbox"][0].reshape(-1, 4) - corner).max() > 0.1
    priors = generate_priors(cfg, sizes, (160, 160))
    unclipped = detect(loc[0], class_scores(conf, cfg)[0], priors, replace(cfg, clip_boxes=False))
    plain = replace(cfg, clip_boxes=False)
    cand = candidates_from_blobs(blobs["mbox_loc"], blobs["mbox_conf_flatten"], blobs["mbox_priorbox"], plain)
    check = compare_detections(blobs["detection_out"], unclipped, plain, FP32, cand)
    assert not check.passed


def test_folders_written_before_the_box_rule_fields_still_verify(tmp_path):
    """model.json from before clip_rule / clip_boxes existed: the missing fields are their defaults."""
    from ssd2ncnn.errors import InputError
    from ssd2ncnn.modelfolder import FORMAT, ModelInfo
    from ssd2ncnn.verify.parity import check_same_model

    model = SSDLite(get_preset("ssdlite320", width_mult=0.25))
    old = {k: v for k, v in model.cfg.to_dict().items() if k not in ("clip_rule", "clip_boxes")}
    info = ModelInfo.from_dict({"format": FORMAT, "version": 2, "input_size": 320, "class_names": list(model.cfg.class_names),
                                "rgb": True, "mean_vals": list(model.cfg.mean_vals),
                                "norm_vals": list(model.cfg.norm_vals), "config": old})
    check_same_model(model, info, tmp_path)
    model.cfg = torchvision_rules(model.cfg)
    with pytest.raises(InputError, match="config differs"):
        check_same_model(model, info, tmp_path)
