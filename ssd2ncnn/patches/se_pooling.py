"""A speed rewrite that convert always applies (measured faster in docs/tuning.md; bench's tuning
re-measures it): the SE blocks' spatial mean as 1x1 adaptive average pooling.

pnnx turns the SE blocks' `mean(dim=(2, 3), keepdim=True)` into `Reduction 0=3 -23303=2,1,2 4=1` (mean
over h, w, keep dims). An adaptive average `Pooling` to 1x1 (`0=1 7=1 8=1 18=1`) computes the same
(C, 1, 1) blob with ncnn's pooling kernels. (`0=1 4=1` global average Pooling was tried and is not used:
it outputs a 1-D blob (C), which sends the next 1x1 Convolution down ncnn's deprecated "Convolution 1d
input compatibility path", which prints a warning per layer per run and is slated for removal.)
"""

from __future__ import annotations

from ..config import SSDConfig
from ..ncnn_format import Graph, Layer, ParamValue
from ..ncnn_format.ids import (
    POOL_AVE,
    POOLING_ADAPTIVE,
    POOLING_OUT_H,
    POOLING_OUT_W,
    POOLING_TYPE,
    REDUCTION_AXES,
    REDUCTION_COEFF,
    REDUCTION_KEEPDIMS,
    REDUCTION_MEAN,
    REDUCTION_OPERATION,
    REDUCTION_REDUCE_ALL,
)
from .registry import register


def _is_spatial_mean(layer: Layer) -> bool:
    """A mean over axes (h, w) that keeps dims. An absent `1=` means reduce_all=1 in ncnn (a mean over
    everything, whatever the axes say), so it is compared against ncnn's default, not against 0."""
    return (layer.type == "Reduction" and layer.get_int(REDUCTION_OPERATION) == REDUCTION_MEAN
            and layer.get_int(REDUCTION_REDUCE_ALL) == 0 and layer.params.get(REDUCTION_AXES) == [1, 2]
            and layer.get_int(REDUCTION_KEEPDIMS) == 1 and layer.get_float(REDUCTION_COEFF) == 1.0)


def _rewrite(graph: Graph, params: dict[int, ParamValue]) -> int:
    n = 0
    for i, layer in enumerate(graph.layers):
        if _is_spatial_mean(layer):
            graph.layers[i] = Layer("Pooling", layer.name, list(layer.inputs), list(layer.outputs), dict(params))
            n += 1
    return n


def se_pool_adaptive(graph: Graph, cfg: SSDConfig | None = None) -> int:
    """Rewrite in place; returns how many means became poolings (the config plays no part)."""
    return _rewrite(graph, {POOLING_TYPE: POOL_AVE, POOLING_ADAPTIVE: 1, POOLING_OUT_W: 1, POOLING_OUT_H: 1})


register("se-pool-adaptive", priority=300, speed_only=True)(se_pool_adaptive)  # by call: see patches/registry.py
