"""Box arithmetic as plain ncnn layers (BinaryOp, UnaryOp, Slice, Reshape, Concat, Clip), for the rewrites
that ncnn's PriorBox and DetectionOutput cannot express (`prior_clamp`, `box_clip`).

Blob layouts (ncnn Mat w x h): `mbox_priorbox` is (P*4) x 2 (row 0 corners, row 1 variances); a (P*4) row
reshaped to 4 x P holds one prior per row, and Slice on axis 1 splits it into (x1, y1) and (x2, y2)."""

from __future__ import annotations

from ..errors import InputError
from ..ncnn_format import Graph, Layer
from ..ncnn_format.ids import (
    BINARYOP_ADD,
    BINARYOP_B,
    BINARYOP_MUL,
    BINARYOP_SUB,
    BINARYOP_TYPE,
    BINARYOP_WITH_SCALAR,
    CONCAT_AXIS,
    RESHAPE_H,
    RESHAPE_W,
    SLICE_AXIS,
    SLICE_REST,
    SLICE_SLICES,
)

ROWS, COLUMNS = 0, 1  # axis of a 2-D Mat: along h (rows), along w (columns)


class BoxLayers:
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
        return self.add("BinaryOp", [a, b], {BINARYOP_TYPE: op})[0]

    def scale(self, a: str, k: float) -> str:
        return self.add("BinaryOp", [a], {BINARYOP_TYPE: BINARYOP_MUL, BINARYOP_WITH_SCALAR: 1, BINARYOP_B: float(k)})[0]

    def rows(self, two_row: str) -> tuple[str, str]:
        """(P*4) x 2 -> its two rows, each (P*4) x 1."""
        a, b = self.add("Slice", [two_row], {SLICE_SLICES: [1, SLICE_REST], SLICE_AXIS: ROWS}, n_out=2)
        return a, b

    def pairs(self, row: str) -> tuple[str, str]:
        """A (P*4) row -> (first two, last two) values of every prior, each 2 x P."""
        grid = self.add("Reshape", [row], {RESHAPE_W: 4, RESHAPE_H: -1})[0]
        a, b = self.add("Slice", [grid], {SLICE_SLICES: [2, SLICE_REST], SLICE_AXIS: COLUMNS}, n_out=2)
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
        size = self.binary(BINARYOP_SUB, hi, lo)
        center = self.scale(self.binary(BINARYOP_ADD, lo, hi), 0.5)
        return center, size

    def corners(self, center: str, size: str) -> tuple[str, str]:
        half = self.scale(size, 0.5)
        return self.binary(BINARYOP_SUB, center, half), self.binary(BINARYOP_ADD, center, half)
