"""The parsed `.param` model: a `Layer` record per line and a `Graph` of them with the edits the
patches need (by blob name, never by line), Split insertion and header counts."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from ..errors import ParamError
from .ids import ncnn_default
from .values import ParamValue


@dataclass
class Layer:
    type: str
    name: str
    inputs: list[str]
    outputs: list[str]
    params: dict[int, ParamValue] = field(default_factory=dict)
    line: int | None = field(default=None, compare=False)

    def get_int(self, pid: int, default: int | None = None) -> int:
        """Scalar param `pid` as an int (ncnn's `pd.get(id, int)`); when absent, `default`, or ncnn's own
        default for this layer type (`ids.ncnn_default`) when none is given."""
        return int(self._scalar(pid, default))

    def get_float(self, pid: int, default: float | None = None) -> float:
        """Scalar param `pid` as a float; defaults as `get_int`."""
        return float(self._scalar(pid, default))

    def _scalar(self, pid: int, default: int | float | None) -> int | float:
        if pid in self.params:
            value = self.params[pid]
        else:
            value = ncnn_default(self.type, pid) if default is None else default
        if isinstance(value, list | str):
            kind = "an array" if isinstance(value, list) else "a string"
            raise ParamError(f"layer {self.name!r}: param {pid} is {kind}, expected a number", self.line)
        return value


# --------------------------------------------------------------------------------------------- graph


def ncnn_blob_count(layers: Iterable[Layer]) -> int:
    """The blob count ncnn's `Net::load_param` needs: one slot per layer output (a name produced twice takes
    two), plus one per input name that no earlier layer has used."""
    seen: set[str] = set()
    n = 0
    for layer in layers:
        for b in layer.inputs:
            if b not in seen:
                seen.add(b)
                n += 1
        seen.update(layer.outputs)
        n += len(layer.outputs)
    return n


@dataclass
class Graph:
    layers: list[Layer] = field(default_factory=list)

    # queries -------------------------------------------------------------------------------------
    def layer(self, name: str) -> Layer:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ParamError(f"no layer named {name!r}")

    def index(self, name: str) -> int:
        for i, layer in enumerate(self.layers):
            if layer.name == name:
                return i
        raise ParamError(f"no layer named {name!r}")

    def producer(self, blob: str) -> Layer | None:
        for layer in self.layers:
            if blob in layer.outputs:
                return layer
        return None

    def consumers(self, blob: str) -> list[Layer]:
        return [layer for layer in self.layers if blob in layer.inputs]

    def blobs(self) -> list[str]:
        seen: dict[str, None] = {}
        for layer in self.layers:
            for b in layer.inputs:
                seen.setdefault(b, None)
            for b in layer.outputs:
                seen.setdefault(b, None)
        return list(seen)

    # edits ---------------------------------------------------------------------------------------
    def _check_new(self, layers: Iterable[Layer]) -> None:
        names = {layer.name for layer in self.layers}
        for layer in layers:
            if layer.name in names:
                raise ParamError(f"a layer named {layer.name!r} already exists; layer names must be unique")
            names.add(layer.name)

    def insert_after(self, anchor: str, *layers: Layer) -> None:
        """Insert `layers` right after layer `anchor`, keeping the file order producers-first."""
        i = self.index(anchor)
        self._check_new(layers)
        self.layers[i + 1 : i + 1] = list(layers)

    def append(self, *layers: Layer) -> None:
        self._check_new(layers)
        self.layers.extend(layers)

    def remove(self, name: str) -> Layer:
        return self.layers.pop(self.index(name))

    def rename_blob(self, old: str, new: str) -> None:
        if old == new:
            return
        used = set(self.blobs())
        if old not in used:
            raise ParamError(f"cannot rename blob {old!r}: no layer produces or consumes it")
        if new in used:
            raise ParamError(f"cannot rename blob {old!r} to {new!r}: {new!r} is already a blob")
        for layer in self.layers:
            layer.inputs = [new if b == old else b for b in layer.inputs]
            layer.outputs = [new if b == old else b for b in layer.outputs]

    def insert_splits(self) -> None:
        """Give every blob that feeds more than one input slot a Split (ncnn needs one consumer per blob).

        A new Split ``splitncnn_<n>`` goes right after the blob's producer, with outputs
        ``<blob>_splitncnn_<k>``; consumer slots are rewired in graph order to outputs 0, 1, ... If the blob
        already feeds a Split, that Split gains the extra outputs instead."""
        names = {layer.name for layer in self.layers}
        blobs = set(self.blobs())
        split_counter = 0

        def new_split_name() -> str:
            nonlocal split_counter
            while f"splitncnn_{split_counter}" in names:
                split_counter += 1
            name = f"splitncnn_{split_counter}"
            names.add(name)
            return name

        def new_blob_names(blob: str, m: int) -> list[str]:
            out: list[str] = []
            k = 0
            while len(out) < m:
                cand = f"{blob}_splitncnn_{k}"
                if cand not in blobs:
                    out.append(cand)
                    blobs.add(cand)
                k += 1
            return out

        for blob in self.blobs():
            slots = [(layer, i) for layer in self.layers for i, b in enumerate(layer.inputs) if b == blob]
            if len(slots) < 2:
                continue
            split = next((layer for layer, _ in slots if layer.type == "Split"), None)
            if split is not None:
                # the chosen Split keeps its own slot on the blob; every other slot gets a new output
                keep = next((layer, i) for layer, i in slots if layer is split)
                others = [s for s in slots if s != keep]
                outs = new_blob_names(blob, len(others))
                split.outputs.extend(outs)
            else:
                others = slots
                outs = new_blob_names(blob, len(others))
                split = Layer("Split", new_split_name(), [blob], list(outs))
                prod = self.producer(blob)
                if prod is not None:
                    pos = self.layers.index(prod) + 1
                else:
                    pos = min(self.layers.index(layer) for layer, _ in slots)
                self.layers.insert(pos, split)
            for (layer, i), out in zip(others, outs, strict=True):
                layer.inputs[i] = out
