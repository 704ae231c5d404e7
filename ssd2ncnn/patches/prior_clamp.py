"""torchvision's prior clamp (`cfg.clip` with `cfg.clip_rule == "center_size"`), as plain ncnn layers after
the SSD tail: torchvision's DefaultBoxGenerator clamps each prior's (w, h) to [0, 1] in (cx, cy, w, h) form
(`torchvision/models/detection/anchor_utils.py`, pytorch/vision 0.29); ncnn's PriorBox can only clip the
corners, which moves the centre of every border prior. So the PriorBox layers run unclipped, then
(lo, hi) -> centre and size -> size clamped -> (lo, hi) again. It works on the `mbox_priorbox` blob, so
the input size stays free.

qfgaohao/dusty-nv pytorch-ssd (`clip_rule == "center_size_all"`, `generate_ssd_priors(clamp=True)` in
`vision/utils/box_utils.py`) clamps the centres as well: the same layers plus one Clip of the centres
(for torchvision's priors, whose centres lie inside (0, 1), that Clip would change nothing)."""

from __future__ import annotations

from ..config import SSDConfig
from ..errors import InputError
from ..modelfolder import PRIOR_BLOB
from ..ncnn_format import Graph
from ..ncnn_format.ids import CLIP_MAX, CLIP_MIN
from .box_layers import BoxLayers
from .registry import register


def clamp_prior_sizes(graph: Graph, cfg: SSDConfig) -> int:
    """Make `mbox_priorbox` hold priors whose (w, h), and with "center_size_all" also (cx, cy), are clamped
    to [0, 1] (the PriorBox layers must run with clip=0). Returns the number of layers added (0 when `cfg`
    does not ask for it)."""
    if not (cfg.clip and cfg.clip_rule in ("center_size", "center_size_all")):
        return 0
    concat = graph.producer(PRIOR_BLOB)
    if concat is None:
        raise InputError(f"the graph has no {PRIOR_BLOB!r} blob; run the SSD patch first")
    raw = f"{PRIOR_BLOB}_unclamped"
    concat.outputs = [raw if b == PRIOR_BLOB else b for b in concat.outputs]
    b = BoxLayers(graph, "prior_clamp")
    boxes, variances = b.rows(raw)
    center, size = b.center_size(*b.pairs(boxes))
    clamped = b.add("Clip", [size], {CLIP_MIN: 0.0, CLIP_MAX: 1.0})[0]
    if cfg.clip_rule == "center_size_all":
        center = b.add("Clip", [center], {CLIP_MIN: 0.0, CLIP_MAX: 1.0})[0]
    b.stack(b.row_of(*b.corners(center, clamped)), variances, out=PRIOR_BLOB)
    graph.insert_after(concat.name, *b.layers)
    graph.insert_splits()
    return len(b.layers)


register("clamp-prior-sizes", priority=200)(clamp_prior_sizes)  # by call: see patches/registry.py
