"""Priors: hand-computed values on tiny maps, and equality with ncnn's PriorBox layer, including the six
PriorBox layers of the seed's hand-edited reference param."""

import math
from dataclasses import replace

import ncnn
import numpy as np
import pytest
from conftest import REFERENCE

from ssd2ncnn.config import get_preset
from ssd2ncnn.model.priors import generate_priors, level_priors, priorbox_blob
from ssd2ncnn.ncnn_format import Graph, Layer, format_param, read_param
from ssd2ncnn.patches.ssd_postprocess import priorbox_params


def test_one_cell_standard_rule_by_hand():
    cfg = replace(get_preset("ssdlite320"), step_rule="exact", center_rule="standard", offset=0.5)
    boxes = level_priors(cfg, 5, 1, 1, 320, 320)  # min 304, max 320, ratios 2, 3
    s = math.sqrt(304 * 320)
    w2, h2 = 304 * math.sqrt(2), 304 / math.sqrt(2)
    w3, h3 = 304 * math.sqrt(3), 304 / math.sqrt(3)
    expected = [(304, 304), (s, s), (w2, h2), (h2, w2), (w3, h3), (h3, w3)]
    for box, (w, h) in zip(boxes, expected):
        np.testing.assert_allclose(box, [(160 - w / 2) / 320, (160 - h / 2) / 320, (160 + w / 2) / 320, (160 + h / 2) / 320], atol=1e-6)


def test_mmdet_v1_centres_and_ceil_steps_by_hand():
    cfg = get_preset("voc300")
    boxes = level_priors(cfg, 0, 19, 19, 300, 300).reshape(19, 19, 4, 4)
    step = math.ceil(300 / 19)  # 16
    cx = 0.5 * (step - 1) + 3 * step  # column 3, mmdetection v1 centre
    cy = 0.5 * (step - 1) + 2 * step  # row 2
    np.testing.assert_allclose(boxes[2, 3, 0], [(cx - 30) / 300, (cy - 30) / 300, (cx + 30) / 300, (cy + 30) / 300], atol=1e-6)


def _run_priorboxes(layers: list[Layer], feature_sizes, image_size) -> np.ndarray:
    """Run PriorBox layers in ncnn on blank feature maps of the given sizes; returns the concat."""
    graph = Graph([Layer("Input", "image", [], ["image"])])
    for k, _ in enumerate(feature_sizes):
        graph.append(Layer("Input", f"feat{k}", [], [f"feat{k}"]))
    for k, layer in enumerate(layers):
        graph.append(Layer("PriorBox", f"pb{k}", [f"feat{k}", "image"], [f"pb{k}"], dict(layer.params)))
    graph.append(Layer("Concat", "priors", [f"pb{k}" for k in range(len(layers))], ["priors"], {0: 1}))
    graph.insert_splits()
    net = ncnn.Net()
    net.opt.use_vulkan_compute = False
    assert net.load_param_mem(format_param(graph)) == 0
    ex = net.create_extractor()
    keep = []
    image = np.zeros((3, image_size, image_size), dtype=np.float32)
    keep.append(image)
    ex.input("image", ncnn.Mat(image).clone())
    for k, (h, w) in enumerate(feature_sizes):
        feat = np.zeros((1, h, w), dtype=np.float32)
        keep.append(feat)
        ex.input(f"feat{k}", ncnn.Mat(feat).clone())
    ret, out = ex.extract("priors")
    assert ret == 0
    return np.array(out)


def test_voc300_priors_equal_the_reference_params_priorbox_layers():
    """Our voc300 PriorBox params and PyTorch priors against the six PriorBox layers of the seed's
    hand-edited mobilenetv3_ssdlite_voc.param, all run in ncnn on the same feature-map sizes."""
    ref_layers = [layer for layer in read_param(REFERENCE / "mobilenetv3_ssdlite_voc.param").layers if layer.type == "PriorBox"]
    assert len(ref_layers) == 6
    cfg = get_preset("voc300")
    ours = [Layer("PriorBox", f"p{k}", [], [], priorbox_params(cfg, k)) for k in range(6)]
    for size in (300, 320):
        feature_sizes = [(19, 19), (10, 10), (5, 5), (3, 3), (2, 2), (1, 1)] if size == 300 else [(20, 20), (10, 10), (5, 5), (3, 3), (2, 2), (1, 1)]
        reference = _run_priorboxes(ref_layers, feature_sizes, size)
        converted = _run_priorboxes(ours, feature_sizes, size)
        torch_priors = priorbox_blob(cfg, generate_priors(cfg, feature_sizes, (size, size)))
        assert reference.shape == (2, 4 * (2268 if size == 300 else 2424))
        np.testing.assert_array_equal(converted, reference)
        np.testing.assert_allclose(torch_priors, reference, atol=1e-6, rtol=0)


@pytest.mark.parametrize("preset", ["voc300", "ssdlite320"])
@pytest.mark.parametrize("size", [300, 320, 384, 257])
def test_pytorch_priors_equal_ncnn_priorbox(preset, size):
    cfg = get_preset(preset)
    # feature sizes of the SSDLite at this input: stride 16, 32 maps, then 3x3 s2 pad 1 extras
    h = (size + 31) // 32
    sizes = [(-(-size // 16), -(-size // 16)), (h, h)]
    for _ in range(4):
        h = (h + 1) // 2
        sizes.append((h, h))
    layers = [Layer("PriorBox", f"p{k}", [], [], priorbox_params(cfg, k)) for k in range(6)]
    ncnn_priors = _run_priorboxes(layers, sizes, size)
    np.testing.assert_allclose(priorbox_blob(cfg, generate_priors(cfg, sizes, (size, size))), ncnn_priors, atol=1e-6, rtol=0)
