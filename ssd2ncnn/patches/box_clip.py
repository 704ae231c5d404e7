"""torchvision's clip before NMS (`cfg.clip_boxes`), as plain ncnn layers in front of DetectionOutput.

torchvision clips the decoded boxes to the image *before* NMS (`ssd.py` `postprocess_detections`:
`clip_boxes_to_image`, pytorch/vision 0.29), so overlaps are measured on clipped boxes; ncnn's
DetectionOutput decodes and runs NMS on unclipped ones (`src/layer/detectionoutput.cpp`). Measured on a
91-class model with spread weights: ~15% of the 300 detections per image differ between the two. The
rewrite decodes in the graph exactly as DetectionOutput does (CENTER_SIZE, per-prior variances), clips to
[0, 1], and hands DetectionOutput the clipped boxes as its "priors" with an all-zero `loc`: its decode then
returns each box unchanged (centre + 0 * size, exp(0) * size), up to float rounding."""

from __future__ import annotations

from ..config import SSDConfig
from ..errors import InputError
from ..modelfolder import DETECTION_BLOB
from ..ncnn_format import Graph, Layer
from ..ncnn_format.ids import (
    BINARYOP_ADD,
    BINARYOP_MUL,
    CLIP_MAX,
    CLIP_MIN,
    CONCAT_AXIS,
    RESHAPE_H,
    RESHAPE_W,
    UNARYOP_EXP,
    UNARYOP_TYPE,
)
from .box_layers import COLUMNS, BoxLayers
from .registry import register


def _insert_before(graph: Graph, consumer: Layer, layers: list[Layer]) -> None:
    i = graph.layers.index(consumer)
    graph.layers[i:i] = layers


def decode_and_clip(graph: Graph, cfg: SSDConfig) -> int:
    """Feed DetectionOutput boxes decoded and clipped to [0, 1] in the graph. Returns layers added (0 when
    `cfg` does not ask for it)."""
    if not cfg.clip_boxes:
        return 0
    det = graph.producer(DETECTION_BLOB)
    if det is None or det.type != "DetectionOutput" or len(det.inputs) != 3:
        raise InputError(f"the graph has no DetectionOutput producing {DETECTION_BLOB!r}; run the SSD patch first")
    loc, conf, priors = det.inputs
    b = BoxLayers(graph, "box_decode")
    prior_row, var_row = b.rows(priors)
    p_center, p_size = b.center_size(*b.pairs(prior_row))
    v_xy, v_wh = b.pairs(var_row)
    l_xy, l_wh = b.pairs(loc)
    # DetectionOutput's CENTER_SIZE decode, term for term: var * loc * size + centre, exp(var * loc) * size
    center = b.binary(BINARYOP_ADD, b.binary(BINARYOP_MUL, b.binary(BINARYOP_MUL, v_xy, l_xy), p_size), p_center)
    exp = b.add("UnaryOp", [b.binary(BINARYOP_MUL, v_wh, l_wh)], {UNARYOP_TYPE: UNARYOP_EXP})[0]
    size = b.binary(BINARYOP_MUL, exp, p_size)
    grid = b.add("Concat", list(b.corners(center, size)), {CONCAT_AXIS: COLUMNS})[0]
    clipped = b.add("Clip", [grid], {CLIP_MIN: 0.0, CLIP_MAX: 1.0})[0]
    box_row = b.add("Reshape", [clipped], {RESHAPE_W: -1, RESHAPE_H: 1})[0]
    boxes = b.stack(box_row, var_row)
    zeros = b.scale(loc, 0.0)
    det.inputs = [zeros, conf, boxes]
    _insert_before(graph, det, b.layers)
    graph.insert_splits()
    return len(b.layers)


register("decode-and-clip-boxes", priority=210)(decode_and_clip)  # by call: see patches/registry.py
