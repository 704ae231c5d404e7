"""Box arithmetic that ncnn's PriorBox and DetectionOutput do not have, written as plain ncnn layers after the
SSD patch (`ssd_postprocess.apply_ssd_patch`). Both work on the `mbox_priorbox` blob, so the input size
stays free. Detectors trained with torchvision need both (`torchvision/models/detection/anchor_utils.py`,
`ssd.py`, pytorch/vision 0.29):

- `clamp_prior_sizes` (`cfg.clip` with `cfg.clip_rule == "center_size"`): torchvision's
  DefaultBoxGenerator clamps each prior's (w, h) to [0, 1] in (cx, cy, w, h) form; ncnn's PriorBox can
  only clip the corners, which moves the centre of every border prior. The PriorBox layers run unclipped,
  then (lo, hi) -> centre and size -> size clamped -> (lo, hi) again. qfgaohao/dusty-nv pytorch-ssd
  (`clip_rule == "center_size_all"`, `generate_ssd_priors(clamp=True)` in `vision/utils/box_utils.py`)
  clamps the centres as well; for torchvision's priors, whose centres lie inside (0, 1), that is a no-op.
- `decode_and_clip` (`cfg.clip_boxes`): torchvision clips the decoded boxes to the image *before* NMS
  (`postprocess_detections`: `clip_boxes_to_image`), so overlaps are measured on clipped boxes; ncnn's
  DetectionOutput decodes and runs NMS on unclipped ones (`src/layer/detectionoutput.cpp`). Measured on a
  91-class model with spread weights: ~15% of the 300 detections per image differ between the two. The
  rewrite decodes in the graph exactly as DetectionOutput does (CENTER_SIZE, per-prior variances),
  clips to [0, 1], and hands DetectionOutput the clipped boxes as its "priors" with an all-zero `loc`:
  its decode then returns each box unchanged (centre + 0 * size, exp(0) * size), up to float rounding.

Blob layouts (ncnn Mat w x h): `mbox_priorbox` is (P*4) x 2 (row 0 corners, row 1 variances); a (P*4) row
reshaped to 4 x P holds one prior per row, and Slice on axis 1 splits it into (x1, y1) and (x2, y2)."""

from __future__ import annotations

from ..config import SSDConfig
from ..errors import InputError
from ..ncnn_format import Graph, Layer
from .ssd_postprocess import DETECTION_BLOB, PRIOR_BLOB

BINARY_OP, BINARY_WITH_SCALAR, BINARY_SCALAR = 0, 1, 2
OP_ADD, OP_SUB, OP_MUL = 0, 1, 2  # ncnn BinaryOp::Operation_*
UNARY_OP, UNARY_EXP = 0, 7  # ncnn UnaryOp::Operation_EXP
CLIP_MIN, CLIP_MAX = 0, 1
SLICE_SLICES, SLICE_AXIS = 0, 1
RESHAPE_W, RESHAPE_H = 0, 1
CONCAT_AXIS = 0
ROWS, COLUMNS = 0, 1  # axis of a 2-D Mat: along h (rows), along w (columns)


class _Builder:
    """Appends uniquely named layers; each method returns its output blob name(s)."""

    def __init__(self, graph: Graph, prefix: str):
        self.prefix = prefix
        self.layers: list[Layer] = []
        self.taken = {layer.name for layer in graph.layers} | set(graph.blobs())

    def add(self, type_: str, inputs: list[str], params: dict, n_out: int = 1) -> list[str]:
        name = f"{self.prefix}_{len(self.layers)}"
        if name in self.taken:
            raise InputError(f"cannot add layer {name!r}: the graph already has that name")
        outs = [name] if n_out == 1 else [f"{name}_{i}" for i in range(n_out)]
        self.layers.append(Layer(type_, name, list(inputs), outs, params))
        return outs

    def binary(self, op: int, a: str, b: str) -> str:
        return self.add("BinaryOp", [a, b], {BINARY_OP: op})[0]

    def scale(self, a: str, k: float) -> str:
        return self.add("BinaryOp", [a], {BINARY_OP: OP_MUL, BINARY_WITH_SCALAR: 1, BINARY_SCALAR: float(k)})[0]

    def rows(self, two_row: str) -> tuple[str, str]:
        """(P*4) x 2 -> its two rows, each (P*4) x 1."""
        a, b = self.add("Slice", [two_row], {SLICE_SLICES: [1, -233], SLICE_AXIS: ROWS}, n_out=2)
        return a, b

    def pairs(self, row: str) -> tuple[str, str]:
        """A (P*4) row -> (first two, last two) values of every prior, each 2 x P."""
        grid = self.add("Reshape", [row], {RESHAPE_W: 4, RESHAPE_H: -1})[0]
        a, b = self.add("Slice", [grid], {SLICE_SLICES: [2, -233], SLICE_AXIS: COLUMNS}, n_out=2)
        return a, b

    def row_of(self, lo: str, hi: str) -> str:
        """2 x P corners pairs -> one (P*4) row of (x1, y1, x2, y2)."""
        grid = self.add("Concat", [lo, hi], {CONCAT_AXIS: COLUMNS})[0]
        return self.add("Reshape", [grid], {RESHAPE_W: -1, RESHAPE_H: 1})[0]

    def stack(self, row0: str, row1: str, out: str | None = None) -> str:
        name = self.add("Concat", [row0, row1], {CONCAT_AXIS: ROWS})[0]
        if out is not None:
            self.layers[-1].outputs = [out]
            return out
        return name

    def center_size(self, lo: str, hi: str) -> tuple[str, str]:
        size = self.binary(OP_SUB, hi, lo)
        center = self.scale(self.binary(OP_ADD, lo, hi), 0.5)
        return center, size

    def corners(self, center: str, size: str) -> tuple[str, str]:
        half = self.scale(size, 0.5)
        return self.binary(OP_SUB, center, half), self.binary(OP_ADD, center, half)


def _insert_before(graph: Graph, consumer: Layer, layers: list[Layer]) -> None:
    i = graph.layers.index(consumer)
    graph.layers[i:i] = layers


def clamp_prior_sizes(graph: Graph, centers: bool = False) -> int:
    """Make `mbox_priorbox` hold priors whose (w, h), and with `centers` also (cx, cy), are clamped to
    [0, 1] (the PriorBox layers must run with clip=0). Returns the number of layers added."""
    concat = graph.producer(PRIOR_BLOB)
    if concat is None:
        raise InputError(f"the graph has no {PRIOR_BLOB!r} blob; run the SSD patch first")
    raw = f"{PRIOR_BLOB}_unclamped"
    concat.outputs = [raw if b == PRIOR_BLOB else b for b in concat.outputs]
    b = _Builder(graph, "prior_clamp")
    boxes, variances = b.rows(raw)
    center, size = b.center_size(*b.pairs(boxes))
    clamped = b.add("Clip", [size], {CLIP_MIN: 0.0, CLIP_MAX: 1.0})[0]
    if centers:
        center = b.add("Clip", [center], {CLIP_MIN: 0.0, CLIP_MAX: 1.0})[0]
    b.stack(b.row_of(*b.corners(center, clamped)), variances, out=PRIOR_BLOB)
    graph.insert_after(concat.name, *b.layers)
    graph.insert_splits()
    return len(b.layers)


def decode_and_clip(graph: Graph) -> int:
    """Feed DetectionOutput boxes decoded and clipped to [0, 1] in the graph. Returns layers added."""
    det = graph.producer(DETECTION_BLOB)
    if det is None or det.type != "DetectionOutput" or len(det.inputs) != 3:
        raise InputError(f"the graph has no DetectionOutput producing {DETECTION_BLOB!r}; run the SSD patch first")
    loc, conf, priors = det.inputs
    b = _Builder(graph, "box_decode")
    prior_row, var_row = b.rows(priors)
    p_center, p_size = b.center_size(*b.pairs(prior_row))
    v_xy, v_wh = b.pairs(var_row)
    l_xy, l_wh = b.pairs(loc)
    # DetectionOutput's CENTER_SIZE decode, term for term: var * loc * size + centre, exp(var * loc) * size
    center = b.binary(OP_ADD, b.binary(OP_MUL, b.binary(OP_MUL, v_xy, l_xy), p_size), p_center)
    exp = b.add("UnaryOp", [b.binary(OP_MUL, v_wh, l_wh)], {UNARY_OP: UNARY_EXP})[0]
    size = b.binary(OP_MUL, exp, p_size)
    grid = b.add("Concat", list(b.corners(center, size)), {CONCAT_AXIS: COLUMNS})[0]
    clipped = b.add("Clip", [grid], {CLIP_MIN: 0.0, CLIP_MAX: 1.0})[0]
    box_row = b.add("Reshape", [clipped], {RESHAPE_W: -1, RESHAPE_H: 1})[0]
    boxes = b.stack(box_row, var_row)
    zeros = b.scale(loc, 0.0)
    det.inputs = [zeros, conf, boxes]
    _insert_before(graph, det, b.layers)
    graph.insert_splits()
    return len(b.layers)


def apply_box_rules(graph: Graph, cfg: SSDConfig) -> int:
    """The rewrites `cfg` asks for (none for Caffe/ncnn-style configs). Returns layers added."""
    added = 0
    if cfg.clip and cfg.clip_rule in ("center_size", "center_size_all"):
        added += clamp_prior_sizes(graph, centers=cfg.clip_rule == "center_size_all")
    if cfg.clip_boxes:
        added += decode_and_clip(graph)
    return added
