"""Graph passes applied by convert, on small inline graphs run in ncnn."""

import ncnn
import numpy as np

from ssd2ncnn.ncnn_format import format_param, lint_param, parse_param
from ssd2ncnn.patches.fuse_activation import fuse_conv_hardswish
from ssd2ncnn.runtime.net import mat_to_numpy

TEXT = """7767517
5 6
Input in 0 1 in
Convolution c1 1 1 in a 0=4 1=1 5=1 6=12
HardSwish h1 1 1 a b 0=0.16666667 1=0.5
Split s 1 2 b b0 b1
BinaryOp add 2 1 b0 b1 out 0=0
"""


def test_hardswish_is_fused_into_the_convolution_with_the_same_result(tmp_path):
    rng = np.random.default_rng(0)
    weights = np.concatenate([np.zeros(1, np.float32), rng.normal(size=12).astype(np.float32) * 2, rng.normal(size=4).astype(np.float32)])
    (tmp_path / "w.bin").write_bytes(weights.tobytes())
    x = rng.normal(size=(3, 5, 5)).astype(np.float32) * 3

    def run(graph):
        (tmp_path / "m.param").write_text(format_param(graph))
        net = ncnn.Net()
        net.opt.use_vulkan_compute = False
        assert net.load_param(str(tmp_path / "m.param")) == 0
        assert net.load_model(str(tmp_path / "w.bin")) == 0
        ex = net.create_extractor()
        ex.input("in", ncnn.Mat(x).clone())
        ret, out = ex.extract("out")
        assert ret == 0
        return mat_to_numpy(out)

    before = run(parse_param(TEXT))
    graph = parse_param(TEXT)
    assert fuse_conv_hardswish(graph) == 1
    assert [layer.type for layer in graph.layers] == ["Input", "Convolution", "Split", "BinaryOp"]
    assert graph.layer("c1").params[9] == 6 and graph.layer("c1").outputs == ["b"]
    assert lint_param(format_param(graph)) == []
    np.testing.assert_allclose(run(graph), before, atol=1e-5)


def test_no_fusion_when_the_pre_activation_blob_is_used_elsewhere():
    graph = parse_param(
        "7767517\n6 7\nInput in 0 1 in\nConvolution c1 1 1 in a 0=4 1=1 5=1 6=12\nSplit sa 1 2 a a0 a1\n"
        "HardSwish h1 1 1 a0 b 0=0.16666667 1=0.5\nBinaryOp add 2 1 a1 b out 0=0\nReLU r 1 1 out o2\n"
    )
    assert fuse_conv_hardswish(graph) == 0
