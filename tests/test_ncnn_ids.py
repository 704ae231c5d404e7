"""Named param ids and ncnn's defaults (ncnn_format.ids), checked against what real ncnn computes."""

from __future__ import annotations

import numpy as np
import pytest

from ssd2ncnn.ncnn_format import Layer, format_param, parse_param
from ssd2ncnn.ncnn_format.ids import (
    CONV_GROUP,
    HARDSWISH_ALPHA,
    REDUCTION_REDUCE_ALL,
    RESHAPE_W,
    ncnn_default,
)
from ssd2ncnn.patches.se_pooling import se_pool_adaptive

ncnn = pytest.importorskip("ncnn")

# pnnx's SE mean: Reduction mean (0=3) over axes h, w (-23303=2,1,2), keepdims, fixbug0 (5=1)
SE = "7767517\n2 2\nInput in 0 1 data\nReduction mean 1 1 data out 0=3 {} -23303=2,1,2 4=1 5=1\n"


def _run(text: str, x: np.ndarray) -> np.ndarray:
    net = ncnn.Net()
    net.opt.use_vulkan_compute = False
    assert net.load_param_mem(text) == 0
    net.load_model_mem(b"")
    ex = net.create_extractor()
    mat = ncnn.Mat(x).clone()  # own the data: a Mat that only wraps the numpy buffer can crash ncnn
    ex.input("data", mat)
    _, out = ex.extract("out")
    return np.array(out).copy()


def test_layer_getters_use_ncnn_defaults() -> None:
    dw = Layer("ConvolutionDepthWise", "dw", ["a"], ["b"], {})
    assert dw.get_int(CONV_GROUP) == 1 and dw.get_int(CONV_GROUP, 4) == 4
    assert Layer("HardSwish", "h", ["a"], ["b"]).get_float(HARDSWISH_ALPHA) == pytest.approx(0.2)
    assert ncnn_default("Reduction", REDUCTION_REDUCE_ALL) == 1
    assert ncnn_default("Reshape", RESHAPE_W) == -233
    with pytest.raises(KeyError, match="no ncnn default"):
        Layer("Custom", "c", [], ["x"]).get_int(0)


def test_se_pooling_rewrites_only_a_real_spatial_mean() -> None:
    x = np.random.default_rng(0).standard_normal((8, 5, 7)).astype(np.float32)
    spatial = SE.format("1=0")
    graph = parse_param(spatial)
    assert se_pool_adaptive(graph) == 1
    np.testing.assert_allclose(_run(format_param(graph), x), _run(spatial, x), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(_run(spatial, x).reshape(8), x.mean(axis=(1, 2)), rtol=1e-5, atol=1e-6)
    # without 1= ncnn reduces everything (reduce_all defaults to 1): not a per-channel mean, keep it
    everything = SE.format("")
    assert _run(everything, x).size == 1
    assert se_pool_adaptive(parse_param(everything)) == 0
