"""The two speed rewrites (patches/se_pooling.py, patches/fuse_activation.py) on hand-written `.param`s:
what each must rewrite and what it must leave alone, read from ncnn's layers (reduction.cpp: 0 operation,
3 = mean; 1 reduce_all; 2 coeff, a factor on the result; -23303 axes; 4 keepdims. pooling.cpp: 0 type,
1 = average; 7 adaptive; 8/18 out w/h. fused_activation.h: 9=6 is hardswish with 10=[alpha, beta];
hardswish.cpp: alpha 0.2, beta 0.5 when absent). The results are checked in ncnn by tests/test_patches.py
and tests/test_ncnn_ids.py."""

from __future__ import annotations

import pytest

from ssd2ncnn.ncnn_format import format_param, parse_param
from ssd2ncnn.patches.fuse_activation import fuse_conv_hardswish
from ssd2ncnn.patches.se_pooling import se_pool_adaptive

# two of pnnx's SE means in a row: Reduction mean over (h, w), keepdims, reduce_all off, fixbug0
MEAN = "0=3 1=0 -23303=2,1,2 4=1 5=1"
TWO_MEANS = f"7767517\n3 3\nInput in 0 1 data\nReduction m1 1 1 data a {MEAN}\nReduction m2 1 1 a out {MEAN}\n"


def test_every_spatial_mean_becomes_a_1x1_adaptive_average_pooling():
    graph = parse_param(TWO_MEANS)
    assert se_pool_adaptive(graph) == 2
    for name, src, dst in [("m1", "data", "a"), ("m2", "a", "out")]:
        layer = graph.layer(name)
        assert (layer.type, layer.inputs, layer.outputs, layer.params) == ("Pooling", [src], [dst], {0: 1, 7: 1, 8: 1, 18: 1})


@pytest.mark.parametrize("edit", [
    ("0=3", "0=0"),  # a sum, not a mean
    ("1=0", "1=1"),  # reduce_all: a mean over everything, channels included
    ("1=0 ", ""),  # absent: reduce_all defaults to 1 (reduction.cpp)
    ("-23303=2,1,2", "-23303=1,1"),  # over h only
    ("-23303=2,1,2", "-23303=2,0,1"),  # over channels and h
    ("4=1", "4=0"),  # dims dropped: (C), not (C, 1, 1)
    ("4=1", "2=2.0 4=1"),  # coeff 2: twice the mean
])
def test_a_reduction_that_is_not_the_per_channel_spatial_mean_is_kept(edit):
    text = f"7767517\n2 2\nInput in 0 1 data\nReduction m 1 1 data out {MEAN.replace(*edit)}\n"
    graph = parse_param(text)
    assert se_pool_adaptive(graph) == 0
    assert format_param(graph) == format_param(parse_param(text))


CONVS = """7767517
5 5
Input in 0 1 x
Convolution c1 1 1 x a 0=4 1=1 5=1 6=12
HardSwish h1 1 1 a b
ConvolutionDepthWise d1 1 1 b c 0=4 1=3 4=1 5=1 6=36 7=4
HardSwish h2 1 1 c out 0=0.25 1=0.375
"""


def test_each_hardswish_after_a_plain_convolution_is_fused_with_its_own_alpha_beta():
    graph = parse_param(CONVS)
    assert fuse_conv_hardswish(graph) == 2
    assert [ly.name for ly in graph.layers] == ["in", "c1", "d1"]
    c1, d1 = graph.layer("c1"), graph.layer("d1")
    assert (c1.params[9], c1.params[10], c1.outputs) == (6, [0.2, 0.5], ["b"])  # hardswish.cpp's defaults
    assert (d1.params[9], d1.params[10], d1.outputs) == (6, [0.25, 0.375], ["out"])


@pytest.mark.parametrize("producer", [
    "Convolution c1 1 1 x a 0=4 1=1 5=1 6=12 9=1",  # already a ReLU inside: fusing would overwrite it
    "Pooling c1 1 1 x a 0=1 1=3",  # not a convolution
])
def test_a_hardswish_after_anything_but_a_plain_convolution_is_kept(producer):
    text = f"7767517\n3 3\nInput in 0 1 x\n{producer}\nHardSwish h1 1 1 a out\n"
    graph = parse_param(text)
    assert fuse_conv_hardswish(graph) == 0
    assert format_param(graph) == format_param(parse_param(text))


def test_a_hardswish_on_the_input_is_kept():
    graph = parse_param("7767517\n2 2\nInput in 0 1 x\nHardSwish h1 1 1 x out\n")
    assert fuse_conv_hardswish(graph) == 0 and graph.layer("h1").type == "HardSwish"


@pytest.mark.parametrize("kept", [
    "Pooling p 1 1 x a 0=1 1=1\nHardSwish h1 1 1 a s\n",  # not after a convolution
    "Convolution c1 1 1 x a 0=4 1=1 5=1 6=16\nSplit sa 1 2 a a0 a1\nHardSwish h1 1 1 a0 b\nBinaryOp add 2 1 a1 b s 0=0\n",
    # the pre-activation blob read twice before Splits are inserted (the guard's own case)
    "Convolution c1 1 1 x a 0=4 1=1 5=1 6=16\nHardSwish h1 1 1 a b\nBinaryOp add 2 1 a b s 0=0\n",
])
def test_a_kept_hardswish_does_not_stop_the_later_fusions(kept):
    layers = kept + "Convolution c2 1 1 s c 0=4 1=1 5=1 6=16\nHardSwish h2 1 1 c out\n"
    n = layers.count("\n") + 1
    graph = parse_param(f"7767517\n{n} {n + layers.count('Split')}\nInput in 0 1 x\n{layers}")
    assert fuse_conv_hardswish(graph) == 1
    assert graph.layer("h1").type == "HardSwish" and graph.layer("c2").outputs == ["out"]
