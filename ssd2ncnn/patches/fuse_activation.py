"""Fuse a HardSwish that follows a convolution into the convolution. pnnx leaves MobileNetV3's 20
hard-swish activations as separate layers; ncnn's Convolution and ConvolutionDepthWise apply
`9=6` (hardswish, `-23310=2,alpha,beta`: y = x * clamp(alpha * x + beta, 0, 1), see ncnn's
`src/layer/fused_activation.h`) inside the kernel, saving one pass over each feature map."""

from __future__ import annotations

from ..config import SSDConfig
from ..ncnn_format import Graph
from ..ncnn_format.ids import (
    ACTIVATION_HARDSWISH,
    ACTIVATION_NONE,
    CONV_ACTIVATION_PARAMS,
    CONV_ACTIVATION_TYPE,
    CONV_TYPES,
    HARDSWISH_ALPHA,
    HARDSWISH_BETA,
)
from .registry import register


def fuse_conv_hardswish(graph: Graph, cfg: SSDConfig | None = None) -> int:
    """Rewrite in place; returns how many HardSwish layers were folded into their convolution (the config
    plays no part)."""
    fused = 0
    for act in [layer for layer in graph.layers if layer.type == "HardSwish"]:
        (src,) = act.inputs
        conv = graph.producer(src)
        if conv is None or conv.type not in CONV_TYPES or conv.get_int(CONV_ACTIVATION_TYPE) != ACTIVATION_NONE:
            continue
        if len(graph.consumers(src)) != 1:  # the pre-activation value is used elsewhere: keep it
            continue
        conv.params[CONV_ACTIVATION_TYPE] = ACTIVATION_HARDSWISH
        conv.params[CONV_ACTIVATION_PARAMS] = [act.get_float(HARDSWISH_ALPHA), act.get_float(HARDSWISH_BETA)]
        graph.remove(act.name)
        conv.outputs[conv.outputs.index(src)] = act.outputs[0]  # `src` had no other consumer
        fused += 1
    return fused


register("fuse-conv-hardswish", priority=400, speed_only=True)(fuse_conv_hardswish)  # by call: see patches/registry.py
