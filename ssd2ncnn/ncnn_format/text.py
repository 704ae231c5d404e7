"""`.param` text: the strict parser and the canonical, atomic writer."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError, ParamError
from ..fileio import write_text_atomic
from .graph import Graph, Layer, ncnn_blob_count
from .values import (
    _COUNT_RE,
    _WS,
    _WS_CHARS,
    MAGIC,
    MAX_PARAM_COUNT,
    ParamValue,
    _parse_param,
    array_key,
    format_value,
)

# --------------------------------------------------------------------------------------------- parsing

# A param whose value is quoted runs to its closing quote, spaces included (ncnn's ParamDict reads
# `%255[^"\n]"` after the first chunk); every other token ends at whitespace.
_TOKEN = re.compile(r'-?[0-9]+="[^"\n]*"(?=[ \t\r\f\v]|$)|[^ \t\r\f\v]+')

Row = tuple[int, str]  # (1-based line number, the line without surrounding whitespace)


def _rows(text: str) -> list[Row]:
    rows = []
    for lineno, raw in enumerate(text.split("\n"), start=1):
        stripped = raw.strip(_WS_CHARS)
        if stripped:
            rows.append((lineno, stripped))
    return rows


def _tokens(row_text: str) -> list[str]:
    return _TOKEN.findall(row_text)


def _parse_layer(row_text: str, line: int, path: str | None,
                 on_duplicate: Callable[[int, str, str], None] | None = None) -> Layer:
    """One layer line. A param id given twice is kept as ncnn keeps it, the last value winning
    (`ParamDict::load_param` overwrites); `on_duplicate(pid, first_token, last_token)` hears of it."""
    tokens = _tokens(row_text)
    if len(tokens) < 4:
        raise ParamError(
            f"expected a layer line 'Type Name n_in n_out blobs... params...' (at least 4 fields), "
            f"found {len(tokens)} field(s): {row_text!r}",
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
        pid, value = _parse_param(tok, line, path)
        if pid in seen and on_duplicate is not None:
            on_duplicate(pid, seen[pid], tok)
        seen[pid] = tok
        params.pop(pid, None)  # the id takes the place of its last setting in the written order
        params[pid] = value
    return Layer(ltype, name, inputs, outputs, params, line)


def _check_magic(rows: list[Row], path: str | None) -> None:
    if not rows:
        raise ParamError(f"empty file: expected the magic number {MAGIC} on line 1", 1, path)
    line, text = rows[0]
    if text != str(MAGIC):
        raise ParamError(f"expected the magic number {MAGIC}, found {text!r}", line, path)


def _check_header(rows: list[Row], path: str | None) -> tuple[int, int]:
    if len(rows) < 2:
        raise ParamError(
            "expected a header line 'layer_count blob_count', found end of file", rows[0][0] + 1, path
        )
    line, text = rows[1]
    toks = _WS.split(text)
    if len(toks) != 2 or not all(_COUNT_RE.fullmatch(t) for t in toks):
        raise ParamError(
            f"expected a header 'layer_count blob_count' (two non-negative integers), found {text!r}",
            line,
            path,
        )
    return int(toks[0]), int(toks[1])


@dataclass(frozen=True)
class HeaderProblem:
    message: str
    loads: bool  # whether ncnn loads the file as it is (then `fmt` keeps it and writes the true counts)


def header_problem(declared: tuple[int, int], layers: list[Layer], n_layer_lines: int) -> HeaderProblem | None:
    """What ncnn's `Net::load_param` (src/net.cpp) does with header counts that disagree with the body.

    ncnn sizes its layer and blob tables from the header, then reads exactly `layer_count` layers: with
    fewer layer lines it fails ("parse layer_type failed"); with more it loads the first `layer_count` and
    ignores the rest. Every output, and every input name not seen before, takes the next blob slot: a
    smaller `blob_count` writes past the end of the table (undefined behaviour), a larger one leaves unused,
    unnamed slots and loads fine."""
    n_layers, n_blobs = declared
    needed = ncnn_blob_count(layers)
    if (n_layers, n_blobs) == (n_layer_lines, needed):
        return None
    says = (f"header says {n_layers} layers and {n_blobs} blobs, the file has {n_layer_lines} layers and "
            f"needs {needed} blobs")
    if n_layers > n_layer_lines:
        return HeaderProblem(f"{says}: ncnn fails to load it (it reads {n_layers} layers); fix the header", False)
    if n_layers < n_layer_lines:
        return HeaderProblem(
            f"{says}: ncnn would load only the first {n_layers} layers and silently ignore the other "
            f"{n_layer_lines - n_layers}; set the header to {n_layer_lines}, or delete the extra lines "
            f"(`param fmt --drop-unloaded` keeps just what ncnn loads)",
            False,
        )
    if n_blobs < needed:
        return HeaderProblem(
            f"{says}: ncnn would write past the end of its blob table (undefined behaviour); fix the header",
            False,
        )
    return HeaderProblem(f"{says}: ncnn loads it with {n_blobs - needed} unused blob slot(s)", True)


def parse_param(text: str, path: str | None = None, *, unique_names: bool = False,
                drop_unloaded: bool = False) -> Graph:
    """Parse ``.param`` text strictly; any problem is a `ParamError` with its 1-based line.

    Accepts what ncnn loads: duplicate layer names (ncnn finds the first by name, as `Graph.layer` does;
    ``unique_names=True`` refuses them, for callers that edit the graph by layer name) and a header that
    declares more blobs than the body needs (the writer then writes the true count). A header that declares
    fewer layers than the body has is refused, unless ``drop_unloaded``: then the graph is what ncnn loads,
    the first `layer_count` layers."""
    path = None if path is None else str(path)
    rows = _rows(text)
    _check_magic(rows, path)
    declared = _check_header(rows, path)
    layers = [_parse_layer(row_text, line, path) for line, row_text in rows[2:]]
    if drop_unloaded and declared[0] < len(layers):
        layers = layers[: declared[0]]
    if unique_names:
        first: dict[str, int] = {}
        for layer in layers:
            if layer.name in first:
                raise ParamError(
                    f"duplicate layer name {layer.name!r} (first used on line {first[layer.name]})",
                    layer.line,
                    path,
                )
            first[layer.name] = layer.line or 0
    problem = header_problem(declared, layers, len(layers))
    if problem and not problem.loads:
        raise ParamError(problem.message, rows[1][0], path)
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


def read_param(path: str | os.PathLike, *, unique_names: bool = False) -> Graph:
    return parse_param(read_param_text(path), str(path), unique_names=unique_names)


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
    lines = [str(MAGIC), f"{len(graph.layers)} {ncnn_blob_count(graph.layers)}"]
    lines += [format_layer(layer) for layer in graph.layers]
    return "\n".join(lines) + "\n"


def write_param(graph: Graph, path: str | os.PathLike) -> None:
    """Write `format_param(graph)` atomically (`fileio.write_text_atomic`)."""
    write_text_atomic(path, format_param(graph))
