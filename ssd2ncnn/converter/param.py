"""ncnn ``.param`` files: a typed data model, a strict parser, a canonical writer, graph-editing helpers
and a linter.

The text format (what ncnn's ``Net::load_param`` and ``ParamDict::load_param`` read)::

    7767517
    layer_count blob_count
    Type Name n_in n_out in_blob... out_blob... id=value id=value ...

Facts taken from ncnn's ``src/paramdict.cpp`` that this module relies on:

* A value is a float when its text contains ``.``, ``e`` or ``E``, otherwise an int. So ``60`` is an int and
  ``60.0`` a float; the type of every value is kept as read (Python ``int`` / ``float``) and written back the
  same way. An int written where a layer reads a float is not the same thing: older ncnn stores ints and
  floats in one union and reads the int's bits as a float, newer ncnn converts or falls back to the default.
* A key ``<= -23300`` is an array for param id ``-23300 - key`` with value ``n,v1,...,vn``. Arrays are kept as
  Python lists under their *param id* (``params[0] = [60.0]`` for ``-23300=1,60.0``); the writer turns a list
  back into the array key. All elements of one array have one type (ncnn stores them in one Mat).
* Param ids are ``0 .. NCNN_MAX_PARAM_COUNT-1`` (32): ncnn refuses larger ids.
* Older ncnn reads each value with ``%15s`` (and array elements with ``%15[^,\\n ]``): a value longer than
  15 characters is split. It also accumulates the digits before and after the decimal point in 32-bit
  unsigned integers. The writer therefore never emits a float longer than 15 characters or with more than
  9 digits on either side of the point.

Canonical float text (``format_value``): the shortest decimal that rounds back to the same float32 (numpy's
Dragon4 ``unique=True``). It is written positionally (``0.1``, ``60.0``, ``-233.0``) when that fits ncnn's
limits above, otherwise in scientific notation (``1e-10``, ``1.2345679e+08``). Both forms always contain
``.`` or ``e``, so ncnn reads them as floats. Floats are rounded to float32 on writing (ncnn has no doubles).
"""

from __future__ import annotations

import functools
import heapq
import os
import re
import struct
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError, ParamError

MAGIC = 7767517
ARRAY_KEY_BASE = -23300
MAX_PARAM_COUNT = 32  # NCNN_MAX_PARAM_COUNT: param ids are 0..31
MAX_VALUE_CHARS = 15  # older ncnn reads a value with %15s
INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1
# float32 rounds to infinity at and above 2**128 - 2**103 (half an ulp past FLT_MAX)
_F32_OVERFLOW = 2.0**128 - 2.0**103

ParamValue = int | float | list[int] | list[float]

_WS_CHARS = " \t\r\f\v"
_WS = re.compile(r"[ \t\r\f\v]+")
_INT_RE = re.compile(r"[+-]?[0-9]+")
_FLOAT_RE = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_COUNT_RE = re.compile(r"[0-9]+")


def array_key(param_id: int) -> int:
    """The key an array param with id ``param_id`` is written under: ``-23300 - id``."""
    return ARRAY_KEY_BASE - param_id


def decode_key(key: int) -> tuple[int, bool]:
    """``(param_id, is_array)`` for a written key: ``-23302`` -> ``(2, True)``, ``5`` -> ``(5, False)``."""
    if key <= ARRAY_KEY_BASE:
        return ARRAY_KEY_BASE - key, True
    return key, False


@dataclass
class Layer:
    type: str
    name: str
    inputs: list[str]
    outputs: list[str]
    params: dict[int, ParamValue] = field(default_factory=dict)
    line: int | None = field(default=None, compare=False)

    def get_int(self, pid: int, default: int = 0) -> int:
        """Scalar param `pid` as an int (ncnn's `pd.get(id, int)`), `default` when absent."""
        value = self.params.get(pid, default)
        if isinstance(value, list):
            raise ParamError(f"layer {self.name!r}: param {pid} is an array, expected a scalar", self.line)
        return int(value)

    def get_float(self, pid: int, default: float = 0.0) -> float:
        value = self.params.get(pid, default)
        if isinstance(value, list):
            raise ParamError(f"layer {self.name!r}: param {pid} is an array, expected a scalar", self.line)
        return float(value)


@dataclass(frozen=True)
class Finding:
    line: int | None
    code: str
    message: str


# --------------------------------------------------------------------------------------------- values


def _to_f32(x: float) -> float:
    return struct.unpack("<f", struct.pack("<f", x))[0]


def _is_f32_finite(x: float) -> bool:
    return x == x and abs(x) < _F32_OVERFLOW


def _format_float(x: float) -> str:
    if not isinstance(x, float) or not _is_f32_finite(x):
        raise ParamError(f"cannot write float {x!r}: ncnn params must be finite float32 values")
    return _format_f32_bits(struct.pack("<f", x))


@functools.lru_cache(maxsize=4096)
def _format_f32_bits(bits: bytes) -> str:
    f = np.frombuffer(bits, dtype="<f4")[0]
    pos = np.format_float_positional(f, unique=True, trim="0")
    int_part, _, frac_part = pos.lstrip("-").partition(".")
    if len(pos) <= MAX_VALUE_CHARS and len(int_part) <= 9 and len(frac_part) <= 9:
        text = pos
    else:
        text = np.format_float_scientific(f, unique=True, trim="-", exp_digits=2)
    if np.float32(float(text)) != f:  # double rounding guard; never seen, but keep the value exact
        text = np.format_float_scientific(f, precision=8, unique=False, exp_digits=2)
    return text


def _format_int(v: int) -> str:
    if isinstance(v, bool) or not isinstance(v, int):
        raise ParamError(f"cannot write {v!r} as an ncnn int param")
    if not INT32_MIN <= v <= INT32_MAX:
        raise ParamError(f"cannot write int {v}: outside the int32 range")
    return str(v)


def format_value(v: ParamValue) -> str:
    """Canonical text of one param value. Lists give ``n,v1,...,vn`` (the array key is the caller's)."""
    if isinstance(v, list):
        if not v:
            return "0"
        if all(isinstance(e, float) for e in v):
            items = [_format_float(e) for e in v]
        elif all(isinstance(e, int) and not isinstance(e, bool) for e in v):
            items = [_format_int(int(e)) for e in v]
        else:
            raise ParamError(f"cannot write array {v!r}: elements must be all int or all float")
        return ",".join([str(len(v)), *items])
    if isinstance(v, float):
        return _format_float(v)
    return _format_int(v)


@functools.lru_cache(maxsize=4096)
def _scalar(text: str) -> tuple[int | float | None, str | None]:
    """``(value, None)`` or ``(None, reason)``; cached because real files repeat their values a lot."""
    if _INT_RE.fullmatch(text):
        v = int(text)
        if not INT32_MIN <= v <= INT32_MAX:
            return None, f"int {text!r} is outside the int32 range"
        return v, None
    if _FLOAT_RE.fullmatch(text):
        x = float(text)
        if not _is_f32_finite(x):
            return None, f"float {text!r} is outside the float32 range"
        return x, None
    return None, f"expected an int or a float (e.g. 3, 0.5, 1e-05), found {text!r}"


def _parse_scalar(text: str, what: str, line: int | None, path: str | None) -> int | float:
    value, reason = _scalar(text)
    if reason is not None:
        raise ParamError(f"{what}: {reason}", line, path)
    return value  # type: ignore[return-value]


@functools.lru_cache(maxsize=1024)
def _key(key_text: str) -> tuple[int, int, bool] | None:
    """``(key, param_id, is_array)`` for key text, or None when it is not an integer."""
    if not _INT_RE.fullmatch(key_text):
        return None
    key = int(key_text)
    return (key, *decode_key(key))


def _parse_param(
    tok: str, seen: dict[int, str], line: int | None, path: str | None
) -> tuple[int, ParamValue]:
    key_text, eq, val_text = tok.partition("=")
    if not eq:
        raise ParamError(f"expected a param 'key=value', found {tok!r}", line, path)
    decoded = _key(key_text)
    if decoded is None:
        raise ParamError(f"param {tok!r}: expected an integer key, found {key_text!r}", line, path)
    key, pid, is_array = decoded
    if not 0 <= pid < MAX_PARAM_COUNT:
        raise ParamError(
            f"param {tok!r}: key {key} is out of range (ids 0..{MAX_PARAM_COUNT - 1}, arrays "
            f"{ARRAY_KEY_BASE}..{array_key(MAX_PARAM_COUNT - 1)})",
            line,
            path,
        )
    if pid in seen:
        raise ParamError(
            f"param {tok!r}: duplicate param id {pid} (already set by {seen[pid]!r})", line, path
        )
    seen[pid] = tok
    if not is_array:
        value, reason = _scalar(val_text)
        if reason is not None:
            raise ParamError(f"param {key}: {reason}", line, path)
        return pid, value  # type: ignore[return-value]
    parts = val_text.split(",")
    if not _COUNT_RE.fullmatch(parts[0]):
        raise ParamError(
            f"array param {key}: expected 'n,v1,...,vn' with a non-negative length n, found {val_text!r}",
            line,
            path,
        )
    n = int(parts[0])
    items = parts[1:]
    if len(items) != n:
        raise ParamError(f"array param {key}: declares {n} values, found {len(items)}", line, path)
    values = []
    for i, e in enumerate(items):
        value, reason = _scalar(e)
        if reason is not None:
            raise ParamError(f"array param {key} element {i}: {reason}", line, path)
        values.append(value)
    if values and len({type(e) for e in values}) > 1:
        raise ParamError(
            f"array param {key}: mixes int and float elements ({val_text!r}); ncnn needs one type",
            line,
            path,
        )
    return pid, values  # type: ignore[return-value]  # element types checked above


# --------------------------------------------------------------------------------------------- graph


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

    def replace_input(self, layer_name: str, old_blob: str, new_blob: str) -> None:
        layer = self.layer(layer_name)
        if old_blob not in layer.inputs:
            raise ParamError(
                f"layer {layer_name!r} does not consume blob {old_blob!r} (inputs: {layer.inputs})"
            )
        layer.inputs = [new_blob if b == old_blob else b for b in layer.inputs]

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

    def toposort(self) -> None:
        """Stable topological order: a layer moves only as far as it must to follow its producers."""
        producers: dict[str, list[int]] = {}
        for i, layer in enumerate(self.layers):
            for b in layer.outputs:
                producers.setdefault(b, []).append(i)
        n = len(self.layers)
        deps: list[set[int]] = [set() for _ in range(n)]
        users: list[list[int]] = [[] for _ in range(n)]
        for i, layer in enumerate(self.layers):
            for b in layer.inputs:
                if b not in producers:
                    raise ParamError(
                        f"cannot sort: layer {layer.name!r} consumes blob {b!r}, which no layer produces"
                    )
                for p in producers[b]:
                    if p not in deps[i]:
                        deps[i].add(p)
                        users[p].append(i)
        waiting = [len(d) for d in deps]
        ready = [i for i in range(n) if waiting[i] == 0]
        heapq.heapify(ready)
        order: list[int] = []
        while ready:
            i = heapq.heappop(ready)
            order.append(i)
            for u in users[i]:
                waiting[u] -= 1
                if waiting[u] == 0:
                    heapq.heappush(ready, u)
        if len(order) != n:
            stuck = [self.layers[i].name for i in range(n) if waiting[i] > 0]
            raise ParamError(f"cannot sort: the graph has a cycle through layers {stuck[:5]}")
        self.layers = [self.layers[i] for i in order]


# --------------------------------------------------------------------------------------------- parsing


def _rows(text: str) -> list[tuple[int, list[str]]]:
    rows = []
    for lineno, raw in enumerate(text.split("\n"), start=1):
        stripped = raw.strip(_WS_CHARS)
        if stripped:
            rows.append((lineno, _WS.split(stripped)))
    return rows


def _parse_layer(tokens: list[str], line: int, path: str | None) -> Layer:
    if len(tokens) < 4:
        raise ParamError(
            f"expected a layer line 'Type Name n_in n_out blobs... params...' (at least 4 fields), "
            f"found {len(tokens)} field(s): {' '.join(tokens)!r}",
            line,
            path,
        )
    ltype, name, in_text, out_text = tokens[:4]
    counts = []
    for what, text in (("input", in_text), ("output", out_text)):
        if not _COUNT_RE.fullmatch(text):
            raise ParamError(
                f"layer {name!r}: expected a non-negative integer {what} count, found {text!r}", line, path
            )
        counts.append(int(text))
    n_in, n_out = counts
    rest = tokens[4:]
    if len(rest) < n_in + n_out:
        raise ParamError(
            f"layer {name!r}: declares {n_in} input(s) and {n_out} output(s), so {n_in + n_out} blob "
            f"name(s), found {len(rest)}",
            line,
            path,
        )
    inputs = rest[:n_in]
    outputs = rest[n_in : n_in + n_out]
    params: dict[int, ParamValue] = {}
    seen: dict[int, str] = {}
    for tok in rest[n_in + n_out :]:
        pid, value = _parse_param(tok, seen, line, path)
        params[pid] = value
    return Layer(ltype, name, inputs, outputs, params, line)


def _check_magic(rows: list[tuple[int, list[str]]], path: str | None) -> None:
    if not rows:
        raise ParamError(f"empty file: expected the magic number {MAGIC} on line 1", 1, path)
    line, toks = rows[0]
    if toks != [str(MAGIC)]:
        raise ParamError(f"expected the magic number {MAGIC}, found {' '.join(toks)!r}", line, path)


def _check_header(rows: list[tuple[int, list[str]]], path: str | None) -> tuple[int, int]:
    if len(rows) < 2:
        raise ParamError(
            "expected a header line 'layer_count blob_count', found end of file", rows[0][0] + 1, path
        )
    line, toks = rows[1]
    if len(toks) != 2 or not all(_COUNT_RE.fullmatch(t) for t in toks):
        raise ParamError(
            f"expected a header 'layer_count blob_count' (two non-negative integers), found {' '.join(toks)!r}",
            line,
            path,
        )
    return int(toks[0]), int(toks[1])


def _count_problem(declared: tuple[int, int], layers: list[Layer], n_layer_lines: int) -> str | None:
    graph = Graph(layers)
    n_blobs = len(graph.blobs())
    if declared != (n_layer_lines, n_blobs):
        return (
            f"header says {declared[0]} layers and {declared[1]} blobs, "
            f"the file has {n_layer_lines} layers and {n_blobs} distinct blobs"
        )
    return None


def parse_param(text: str, path: str | None = None, *, allow_duplicate_names: bool = False) -> Graph:
    """Parse ``.param`` text strictly; any problem is a `ParamError` with its 1-based line.

    Duplicate layer names are an error unless ``allow_duplicate_names`` (ncnn itself accepts them and finds
    the first one by name; `Graph.layer` does the same)."""
    path = None if path is None else str(path)
    rows = _rows(text)
    _check_magic(rows, path)
    declared = _check_header(rows, path)
    layers = [_parse_layer(toks, line, path) for line, toks in rows[2:]]
    if not allow_duplicate_names:
        first: dict[str, int] = {}
        for layer in layers:
            if layer.name in first:
                raise ParamError(
                    f"duplicate layer name {layer.name!r} (first used on line {first[layer.name]})",
                    layer.line,
                    path,
                )
            first[layer.name] = layer.line or 0
    problem = _count_problem(declared, layers, len(layers))
    if problem:
        raise ParamError(problem, rows[1][0], path)
    return Graph(layers)


def read_param_text(path: str | os.PathLike) -> str:
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{p}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{p}: is a directory, expected an ncnn .param file") from None
    except OSError as exc:
        raise InputError(f"{p}: cannot read: {exc.strerror or exc}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ParamError(
            f"not UTF-8 text (byte {exc.start}); expected an ncnn .param text file", None, str(p)
        ) from None


def read_param(path: str | os.PathLike, *, allow_duplicate_names: bool = False) -> Graph:
    return parse_param(read_param_text(path), str(path), allow_duplicate_names=allow_duplicate_names)


# --------------------------------------------------------------------------------------------- writing


_BAD_TOKEN = re.compile(r"[ \t\r\f\v\n]")


def _check_token(text: str, what: str) -> str:
    if not isinstance(text, str) or not text or _BAD_TOKEN.search(text):
        raise ParamError(f"cannot write {what} {text!r}: it must be a non-empty string without whitespace")
    return text


def format_layer(layer: Layer) -> str:
    head = (
        f"{_check_token(layer.type, 'layer type'):<24} {_check_token(layer.name, 'layer name'):<24} "
        f"{len(layer.inputs)} {len(layer.outputs)}"
    )
    parts = [head]
    parts += [_check_token(b, f"blob of layer {layer.name!r}") for b in layer.inputs]
    parts += [_check_token(b, f"blob of layer {layer.name!r}") for b in layer.outputs]
    for pid, value in layer.params.items():
        if isinstance(pid, bool) or not isinstance(pid, int) or not 0 <= pid < MAX_PARAM_COUNT:
            raise ParamError(f"layer {layer.name!r}: param id {pid!r} is not in 0..{MAX_PARAM_COUNT - 1}")
        key = array_key(pid) if isinstance(value, list) else pid
        parts.append(f"{key}={format_value(value)}")
    return " ".join(parts)


def format_param(graph: Graph) -> str:
    """Canonical text: header counts recomputed, fixed columns, one space, ``\\n`` ends, final newline."""
    lines = [str(MAGIC), f"{len(graph.layers)} {len(graph.blobs())}"]
    lines += [format_layer(layer) for layer in graph.layers]
    return "\n".join(lines) + "\n"


def write_param(graph: Graph, path: str | os.PathLike) -> None:
    """Write `format_param(graph)` atomically: a temporary file in the same folder, then `os.replace`."""
    text = format_param(graph)
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            mode = target.stat().st_mode & 0o777
        except OSError:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


# --------------------------------------------------------------------------------------------- lint

LINT_CODES = (
    "parse",
    "header",
    "duplicate-name",
    "produced-twice",
    "consumed-twice",
    "use-before-produce",
    "softmax-axis",
    "priorbox-image-size",
)


def _num(v: ParamValue | None, default: int | float) -> int | float | None:
    if v is None:
        return default
    if isinstance(v, list):
        return None
    return v


def _lint_layers(layers: list[Layer]) -> list[Finding]:
    out: list[Finding] = []
    first_name: dict[str, Layer] = {}
    producer: dict[str, tuple[int, Layer]] = {}
    consumer: dict[str, Layer] = {}
    for i, layer in enumerate(layers):
        if layer.name in first_name:
            out.append(
                Finding(
                    layer.line,
                    "duplicate-name",
                    f"layer name {layer.name!r} is already used on line {first_name[layer.name].line}",
                )
            )
        else:
            first_name[layer.name] = layer
        for b in layer.outputs:
            if b in producer:
                out.append(
                    Finding(
                        layer.line,
                        "produced-twice",
                        f"blob {b!r} is produced by layer {layer.name!r} and already by layer "
                        f"{producer[b][1].name!r} on line {producer[b][1].line}",
                    )
                )
            else:
                producer[b] = (i, layer)
    for i, layer in enumerate(layers):
        for b in layer.inputs:
            if b in consumer:
                out.append(
                    Finding(
                        layer.line,
                        "consumed-twice",
                        f"blob {b!r} is consumed by layer {layer.name!r} and already by layer "
                        f"{consumer[b].name!r} on line {consumer[b].line}; ncnn needs a Split "
                        f"(Graph.insert_splits adds one)",
                    )
                )
            else:
                consumer[b] = layer
            if b not in producer:
                out.append(
                    Finding(
                        layer.line,
                        "use-before-produce",
                        f"layer {layer.name!r} consumes blob {b!r}, which no layer produces",
                    )
                )
            elif producer[b][0] >= i:
                p = producer[b][1]
                out.append(
                    Finding(
                        layer.line,
                        "use-before-produce",
                        f"layer {layer.name!r} consumes blob {b!r} before layer {p.name!r} produces it "
                        f"on line {p.line}",
                    )
                )
        if layer.type == "Softmax":
            axis = _num(layer.params.get(0), 0)
            fixbug0 = _num(layer.params.get(1), 0)
            if axis != 0 and fixbug0 != 1:
                out.append(
                    Finding(
                        layer.line,
                        "softmax-axis",
                        f"Softmax {layer.name!r} has axis 0={layer.params.get(0)!r} but not 1=1; ncnn "
                        f"computes a non-zero axis correctly only with 1=1 (fixbug0)",
                    )
                )
        if layer.type == "PriorBox":
            msg = _priorbox_problem(layer)
            if msg:
                out.append(Finding(layer.line, "priorbox-image-size", msg))
    return out


def _priorbox_problem(layer: Layer) -> str | None:
    w = _num(layer.params.get(9), 0)
    h = _num(layer.params.get(10), 0)
    # ncnn's mxnet-style branch: one input, 9=-233 10=-233 and no max sizes; it needs no image size
    if len(layer.inputs) == 1 and w == -233 and h == -233 and not layer.params.get(1):
        return None
    bad = []
    for pid, v in ((9, w), (10, h)):
        if v == 0 or v is None:
            bad.append(f"{pid}={'unset (0)' if pid not in layer.params else layer.params[pid]!r}")
        elif v == -233 and len(layer.inputs) < 2:
            bad.append(f"{pid}=-233 with only one input blob")
    if not bad:
        return None
    return (
        f"PriorBox {layer.name!r} has no image size ({', '.join(bad)}); set 9/10 to the image width/height "
        f"or use 9=-233 10=-233 with the image blob as a second input"
    )


def lint_param(text: str, path: str | None = None) -> list[Finding]:
    """Check ``.param`` text; never raises for problems in the text, it reports them as findings."""
    path = None if path is None else str(path)
    findings: list[Finding] = []
    rows = _rows(text)
    try:
        _check_magic(rows, path)
    except ParamError as exc:
        findings.append(Finding(exc.line, "header", _bare(exc)))
    declared: tuple[int, int] | None = None
    if rows:
        try:
            declared = _check_header(rows, path)
        except ParamError as exc:
            findings.append(Finding(exc.line, "header", _bare(exc)))
    layers: list[Layer] = []
    failed = 0
    for line, toks in rows[2:]:
        try:
            layers.append(_parse_layer(toks, line, path))
        except ParamError as exc:
            failed += 1
            findings.append(Finding(line, "parse", _bare(exc)))
    if declared is not None:
        n_lines = len(rows) - 2
        if failed:
            if declared[0] != n_lines:
                findings.append(
                    Finding(rows[1][0], "header", f"header says {declared[0]} layers, the file has {n_lines}")
                )
        else:
            problem = _count_problem(declared, layers, n_lines)
            if problem:
                findings.append(Finding(rows[1][0], "header", problem))
    findings.extend(_lint_layers(layers))
    findings.sort(key=lambda f: f.line if f.line is not None else 0)
    return findings


def _bare(exc: ParamError) -> str:
    """The message of a ParamError without its 'path:line: ' prefix (findings carry those separately)."""
    text = str(exc)
    for prefix in (
        f"{exc.path}:{exc.line}: " if exc.path is not None and exc.line is not None else None,
        f"line {exc.line}: " if exc.line is not None else None,
        f"{exc.path}: " if exc.path is not None else None,
    ):
        if prefix and text.startswith(prefix):
            return text[len(prefix) :]
    return text
