"""Graph rewrites measured by the tuning benchmark (docs/tuning.md). Each pass edits a parsed `.param`
`Graph` in place and returns how many layers it changed; `PASSES` registers them by name.

* `se-pool-adaptive`: pnnx turns the SE blocks' `mean(dim=(2, 3), keepdim=True)` into
  `Reduction 0=3 -23303=2,1,2 4=1` (mean over h, w, keep dims). An adaptive average `Pooling` to 1x1
  (`0=1 7=1 8=1 18=1`) computes the same (C, 1, 1) blob with ncnn's pooling kernels.
* (`0=1 4=1` global average Pooling was tried and is not registered: it outputs a 1-D blob (C), which
  sends the next 1x1 Convolution down ncnn's deprecated "Convolution 1d input compatibility path",
  which prints a warning per layer per run and is slated for removal.)
"""

from __future__ import annotations

from collections.abc import Callable

from ..ncnn_format import Graph, Layer


def _is_spatial_mean(layer: Layer) -> bool:
    p = layer.params
    return (layer.type == "Reduction" and p.get(0) == 3 and p.get(1, 0) == 0 and p.get(3) == [1, 2]
            and p.get(4, 0) == 1 and layer.get_float(2, 1.0) == 1.0)


def _rewrite(graph: Graph, params: dict) -> int:
    n = 0
    for i, layer in enumerate(graph.layers):
        if _is_spatial_mean(layer):
            graph.layers[i] = Layer("Pooling", layer.name, list(layer.inputs), list(layer.outputs), dict(params))
            n += 1
    return n


def se_pool_adaptive(graph: Graph) -> int:
    return _rewrite(graph, {0: 1, 7: 1, 8: 1, 18: 1})


PASSES: dict[str, Callable[[Graph], int]] = {
    "se-pool-adaptive": se_pool_adaptive,
}
