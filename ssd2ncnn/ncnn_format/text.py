"""`.param` text: the strict parser and the canonical, atomic writer."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from ..errors import InputError, ParamError
from .graph import Graph, Layer
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


