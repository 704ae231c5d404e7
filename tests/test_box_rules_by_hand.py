"""torchvision's box rules as ncnn layers (patches/prior_clamp.py, patches/box_clip.py, patches/box_layers.py),
run by real ncnn on hand-written `.param`s whose inputs are MemoryData holding chosen priors and offsets:
every expected value is worked out by hand (centre-size clamp: torchvision's anchor_utils.py; the decode:
ncnn's detectionoutput.cpp CENTER_SIZE, cx = var0 * loc0 * w + cx, w = exp(var2 * loc2) * w; ncnn does
not clip DetectionOutput's boxes itself). No conversion: milliseconds."""

from __future__ import annotations

import math
from dataclasses import replace

import ncnn
import numpy as np
import pytest

from ssd2ncnn.config import get_preset
from ssd2ncnn.errors import InputError
from ssd2ncnn.ncnn_format import format_param, parse_param
from ssd2ncnn.patches import run_passes
from ssd2ncnn.runtime.net import mat_to_numpy

VOC = get_preset("voc300")


def _run(graph, weights: list[np.ndarray], blob: str, tmp_path) -> np.ndarray:
    """ncnn's output `blob` of `graph`, its MemoryData layers holding `weights` (raw float32, layer order)."""
    (tmp_path / "m.param").write_text(format_param(graph))
    (tmp_path / "m.bin").write_bytes(b"".join(np.asarray(w, np.float32).tobytes() for w in weights))
    net = ncnn.Net()
    net.opt.use_vulkan_compute = False
    assert net.load_param(str(tmp_path / "m.param")) == 0
    assert net.load_model(str(tmp_path / "m.bin")) == 0
    ret, mat = net.create_extractor().extract(blob)
    assert ret == 0
    return mat_to_numpy(mat, blob)


# ---- prior clamp ------------------------------------------------------------------------------------

PRIORS = """7767517
1 1
MemoryData priors 0 1 mbox_priorbox 0=16 1=2
"""
# (x1, y1, x2, y2) -> centre, size -> torchvision's clamp -> corners again, by hand
CORNERS = [
    [-0.2, 0.1, 0.6, 0.5],  # c (0.2, 0.3), size (0.8, 0.4): inside [0, 1], unchanged
    [-0.1, -0.3, 1.3, 0.9],  # c (0.6, 0.3), size (1.4, 1.2) -> (1, 1): (0.1, -0.2, 1.1, 0.8)
    [0.9, 1.0, 1.3, 1.4],  # c (1.1, 1.2) outside, size (0.4, 0.4): unchanged unless the centre is clamped
    [0.5, 0.5, 0.3, 0.7],  # c (0.4, 0.6), size (-0.2, 0.2) -> (0, 0.2): (0.4, 0.5, 0.4, 0.7)
]
VARIANCES = [0.05 + 0.01 * i for i in range(16)]  # a distinct value per slot: passed through untouched
SIZES_CLAMPED = [[-0.2, 0.1, 0.6, 0.5], [0.1, -0.2, 1.1, 0.8], [0.9, 1.0, 1.3, 1.4], [0.4, 0.5, 0.4, 0.7]]
CENTRES_TOO = [[-0.2, 0.1, 0.6, 0.5], [0.1, -0.2, 1.1, 0.8], [0.8, 0.8, 1.2, 1.2], [0.4, 0.5, 0.4, 0.7]]


@pytest.mark.parametrize("rule, expected", [("center_size", SIZES_CLAMPED), ("center_size_all", CENTRES_TOO)])
def test_prior_sizes_and_with_center_size_all_centres_are_clamped(rule, expected, tmp_path):
    graph = parse_param(PRIORS)
    added = run_passes(graph, replace(VOC, clip=True, clip_rule=rule), only=("clamp-prior-sizes",))["clamp-prior-sizes"]
    assert graph.layer("priors").outputs == ["mbox_priorbox_unclamped"]
    names = [ly.name for ly in graph.layers if ly.name.startswith("prior_clamp_")]
    assert names == [f"prior_clamp_{i}" for i in range(added)]
    for ly in graph.layers:  # a one-output layer names its blob after itself, as pnnx writes them
        if ly.name.startswith("prior_clamp_") and ly.outputs != ["mbox_priorbox"]:
            assert ly.outputs == ([f"{ly.name}_0", f"{ly.name}_1"] if ly.type == "Slice" else [ly.name]), ly
    out = _run(graph, [np.reshape(CORNERS, -1), VARIANCES], "mbox_priorbox", tmp_path)
    assert out.shape == (2, 16)
    np.testing.assert_allclose(out[0], np.reshape(expected, -1), atol=1e-6)
    np.testing.assert_allclose(out[1], VARIANCES, atol=0)


@pytest.mark.parametrize("clip, rule", [(False, "center_size"), (False, "center_size_all"), (True, "corners")])
def test_no_prior_clamp_unless_asked(clip, rule):
    graph = parse_param(PRIORS)
    assert run_passes(graph, replace(VOC, clip=clip, clip_rule=rule), only=("clamp-prior-sizes",)) == {"clamp-prior-sizes": 0}
    assert format_param(graph) == format_param(parse_param(PRIORS))


def test_prior_clamp_renames_only_the_priors_blob_of_its_producer():
    graph = parse_param("7767517\n2 3\nMemoryData raw 0 1 raw 0=32 1=2\nSlice s 1 2 raw other mbox_priorbox -23300=2,-233,-233 1=1\n")
    run_passes(graph, replace(VOC, clip=True, clip_rule="center_size"), only=("clamp-prior-sizes",))
    assert graph.layer("s").outputs == ["other", "mbox_priorbox_unclamped"]


def test_prior_clamp_refuses_a_graph_without_the_priors_blob():
    graph = parse_param(PRIORS.replace("mbox_priorbox", "other"))
    with pytest.raises(InputError, match=r"^the graph has no 'mbox_priorbox' blob; run the SSD patch first$"):
        run_passes(graph, replace(VOC, clip=True, clip_rule="center_size"), only=("clamp-prior-sizes",))


# ---- decode and clip before NMS ---------------------------------------------------------------------

DETECT = """7767517
4 4
MemoryData loc 0 1 loc 0=8
MemoryData conf 0 1 conf 0=4
MemoryData priors 0 1 priors 0=8 1=2
DetectionOutput detection_out 3 1 loc conf priors detection_out 0=2 1=0.45 2=100 3=100 4=0.01
"""
VAR = [0.1, 0.2, 0.25, 0.5]  # a different variance per coordinate: x, y, w, h cannot trade places unseen
BOX_PRIORS = [0.2, 0.1, 0.6, 0.7,  # c (0.4, 0.4), size (0.4, 0.6)
              0.5, 0.5, 0.7, 0.9]  # c (0.6, 0.7), size (0.2, 0.4)
LOC = [5.0, -1 / 1.2, 4 * math.log(4.0), 2 * math.log(4 / 3),  # c (0.6, 0.3), size (1.6, 0.8)
       1.0, -0.5, 4 * math.log(0.5), 2 * math.log(0.5)]  # c (0.62, 0.66), size (0.1, 0.2)
CONF = [0.1, 0.9, 0.2, 0.8]  # (background, class 1) per prior, already softmaxed
DETECTIONS = [[1, 0.9, 0.0, 0.0, 1.0, 0.7],  # (-0.2, -0.1, 1.4, 0.7) clipped to the image
              [1, 0.8, 0.57, 0.56, 0.67, 0.76]]  # inside: the decode alone


def _detect(graph, tmp_path):
    return _run(graph, [LOC, CONF, BOX_PRIORS + VAR + VAR], "detection_out", tmp_path)


def test_boxes_are_decoded_and_clipped_before_detection_output(tmp_path):
    plain = parse_param(DETECT)
    # without the rewrite, ncnn's own decode: the same boxes, unclipped
    np.testing.assert_allclose(_detect(plain, tmp_path), [[1, 0.9, -0.2, -0.1, 1.4, 0.7], DETECTIONS[1]], atol=1e-6)
    graph = parse_param(DETECT)
    added = run_passes(graph, replace(VOC, clip_boxes=True), only=("decode-and-clip-boxes",))["decode-and-clip-boxes"]
    names = [ly.name for ly in graph.layers if ly.name.startswith("box_decode_")]
    assert names == [f"box_decode_{i}" for i in range(added)]
    assert [ly.name for ly in graph.layers][-1] == "detection_out"
    np.testing.assert_allclose(_detect(graph, tmp_path), DETECTIONS, atol=1e-6)


def test_no_box_clip_unless_asked():
    graph = parse_param(DETECT)
    assert run_passes(graph, VOC, only=("decode-and-clip-boxes",)) == {"decode-and-clip-boxes": 0}
    assert format_param(graph) == format_param(parse_param(DETECT))


@pytest.mark.parametrize("edit", [
    lambda t: t.replace("priors detection_out", "priors other"),  # nothing produces detection_out
    lambda t: t.replace("DetectionOutput detection_out", "Concat detection_out").replace(" 0=2 1=0.45 2=100 3=100 4=0.01", ""),
    lambda t: t.replace("3 1 loc conf priors", "2 1 loc conf"),
])
def test_box_clip_refuses_a_graph_without_the_detection_output_it_rewrites(edit):
    graph = parse_param(edit(DETECT))
    with pytest.raises(InputError, match=r"^the graph has no DetectionOutput producing 'detection_out'; run the SSD patch first$"):
        run_passes(graph, replace(VOC, clip_boxes=True), only=("decode-and-clip-boxes",))


@pytest.mark.parametrize("taken", ["MemoryData box_decode_0 0 1 x 0=1", "MemoryData other 0 1 box_decode_0 0=1"])
def test_new_layers_never_take_an_existing_layer_or_blob_name(taken):
    graph = parse_param(DETECT.replace("4 4\n", "5 5\n") + taken + "\n")
    with pytest.raises(InputError, match=r"^cannot add layer 'box_decode_0': the graph already has that name$"):
        run_passes(graph, replace(VOC, clip_boxes=True), only=("decode-and-clip-boxes",))
