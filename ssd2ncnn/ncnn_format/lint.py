"""The `.param` linter: problems that ncnn itself does not report, or reports only as a failed load.

`lint_param` parses what it can (a bad line is a `parse` finding, not the end), then runs one small check
per finding kind over the layers (`LAYER_CHECKS`).

Severity follows what ncnn does with the file (`Net::load_param` in src/net.cpp, Tencent/ncnn a4d2ea1):
an *error* is what ncnn fails to load (bad magic, fewer layer lines than the header says, a blob table too
small, a Softmax "param is too old") or runs wrongly (a blob consumed twice without a Split crashes
extraction; a blob nobody produced first is "invalid layer index -1"; PriorBox without an image size
makes infinite boxes). A *warning* is what ncnn loads and runs as written, though it may not be what the
author meant: duplicate layer names (ncnn finds the first), a param id set twice (ncnn keeps the last), a
blob produced twice (consumers get the first), a header declaring fewer layers (ncnn loads only those) or
more blobs (unused slots) than the file holds. The ncnn model zoo's own mobilenetv2_ssdlite_voc.param
has nine duplicate names; ncnn runs it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

from ..errors import ParamError
from .graph import Layer, ncnn_blob_count
from .ids import (
    FROM_INPUT,
    PRIORBOX_IMAGE_H,
    PRIORBOX_IMAGE_W,
    PRIORBOX_MAX_SIZES,
    SOFTMAX_AXIS,
    SOFTMAX_FIXBUG0,
)
from .text import Row, _check_header, _check_magic, _parse_layer, _rows, header_problem

LINT_CODES = (
    "parse",
    "header",
    "duplicate-name",
    "duplicate-param",
    "produced-twice",
    "consumed-twice",
    "use-before-produce",
    "softmax-axis",
    "priorbox-image-size",
)

WARNING_CODES = frozenset({"duplicate-name", "duplicate-param", "produced-twice"})  # "header": per case
Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class LintFinding:
    line: int | None
    code: str
    message: str
    severity: Severity = "error"  # codes in WARNING_CODES are always warnings

    def __post_init__(self) -> None:
        if self.code in WARNING_CODES:
            object.__setattr__(self, "severity", "warning")


LayerCheck = Callable[[list[Layer]], Iterator[LintFinding]]


def _duplicate_names(layers: list[Layer]) -> Iterator[LintFinding]:
    """ncnn loads them, but finds only the first by name (`Net::find_layer_index_by_name`)."""
    first: dict[str, Layer] = {}
    for layer in layers:
        if layer.name in first:
            yield LintFinding(
                layer.line, "duplicate-name",
                f"layer name {layer.name!r} is already used on line {first[layer.name].line}",
            )
        else:
            first[layer.name] = layer


def _produced_twice(layers: list[Layer]) -> Iterator[LintFinding]:
    """A second producer makes a second blob of the same name; consumers find only the first."""
    producer: dict[str, Layer] = {}
    for layer in layers:
        for b in layer.outputs:
            if b in producer:
                yield LintFinding(
                    layer.line, "produced-twice",
                    f"blob {b!r} is produced by layer {layer.name!r} and already by layer "
                    f"{producer[b].name!r} on line {producer[b].line}",
                )
            else:
                producer[b] = layer


def _consumed_twice(layers: list[Layer]) -> Iterator[LintFinding]:
    """ncnn hands a blob to one consumer; a second one needs a Split."""
    consumer: dict[str, Layer] = {}
    for layer in layers:
        for b in layer.inputs:
            if b in consumer:
                yield LintFinding(
                    layer.line, "consumed-twice",
                    f"blob {b!r} is consumed by layer {layer.name!r} and already by layer "
                    f"{consumer[b].name!r} on line {consumer[b].line}; ncnn needs a Split "
                    f"(Graph.insert_splits adds one)",
                )
            else:
                consumer[b] = layer


def _use_before_produce(layers: list[Layer]) -> Iterator[LintFinding]:
    producer: dict[str, tuple[int, Layer]] = {}
    for i, layer in enumerate(layers):
        for b in layer.outputs:
            producer.setdefault(b, (i, layer))
    for i, layer in enumerate(layers):
        for b in layer.inputs:
            if b not in producer:
                yield LintFinding(
                    layer.line, "use-before-produce", f"layer {layer.name!r} consumes blob {b!r}, which no layer produces"
                )
            elif producer[b][0] >= i:
                p = producer[b][1]
                yield LintFinding(
                    layer.line, "use-before-produce",
                    f"layer {layer.name!r} consumes blob {b!r} before layer {p.name!r} produces it on line {p.line}",
                )


def _scalar_or(layer: Layer, pid: int, default: int | float) -> int | float | None:
    """The scalar value of `pid`, `default` when absent, None when it is not a number."""
    value = layer.params.get(pid, default)
    return value if isinstance(value, int | float) else None


def _softmax_axis(layers: list[Layer]) -> Iterator[LintFinding]:
    """ncnn's Softmax::load_param refuses axis != 0 without 1=1 ("param is too old, please regenerate!")."""
    for layer in layers:
        if layer.type != "Softmax":
            continue
        if _scalar_or(layer, SOFTMAX_AXIS, 0) != 0 and _scalar_or(layer, SOFTMAX_FIXBUG0, 0) != 1:
            yield LintFinding(
                layer.line, "softmax-axis",
                f"Softmax {layer.name!r} has axis {SOFTMAX_AXIS}={layer.params.get(SOFTMAX_AXIS)!r} but not "
                f"{SOFTMAX_FIXBUG0}=1; ncnn refuses to load it (\"param is too old\"); add {SOFTMAX_FIXBUG0}=1",
            )


def _priorbox_image_size(layers: list[Layer]) -> Iterator[LintFinding]:
    """PriorBox with no image size computes boxes against a 0x0 image (src/layer/priorbox.cpp)."""
    for layer in layers:
        if layer.type != "PriorBox":
            continue
        w = _scalar_or(layer, PRIORBOX_IMAGE_W, 0)
        h = _scalar_or(layer, PRIORBOX_IMAGE_H, 0)
        # ncnn's mxnet-style branch: one input, 9=-233 10=-233 and no max sizes; it needs no image size
        if len(layer.inputs) == 1 and w == h == FROM_INPUT and not layer.params.get(PRIORBOX_MAX_SIZES):
            continue
        bad = []
        for pid, v in ((PRIORBOX_IMAGE_W, w), (PRIORBOX_IMAGE_H, h)):
            if v == 0 or v is None:
                bad.append(f"{pid}={'unset (0)' if pid not in layer.params else layer.params[pid]!r}")
            elif v == FROM_INPUT and len(layer.inputs) < 2:
                bad.append(f"{pid}={FROM_INPUT} with only one input blob")
        if bad:
            yield LintFinding(
                layer.line, "priorbox-image-size",
                f"PriorBox {layer.name!r} has no image size ({', '.join(bad)}); set {PRIORBOX_IMAGE_W}/"
                f"{PRIORBOX_IMAGE_H} to the image width/height or use {PRIORBOX_IMAGE_W}={FROM_INPUT} "
                f"{PRIORBOX_IMAGE_H}={FROM_INPUT} with the image blob as a second input",
            )


LAYER_CHECKS: tuple[LayerCheck, ...] = (
    _duplicate_names, _produced_twice, _consumed_twice, _use_before_produce, _softmax_axis, _priorbox_image_size,
)


def _header_findings(rows: list[Row], path: str | None, layers: list[Layer], failed: int) -> Iterator[LintFinding]:
    try:
        _check_magic(rows, path)
    except ParamError as exc:
        yield LintFinding(exc.line, "header", _bare(exc))
    if not rows:
        return
    try:
        declared = _check_header(rows, path)
    except ParamError as exc:
        yield LintFinding(exc.line, "header", _bare(exc))
        return
    n_lines = len(rows) - 2
    # ncnn reads `layer_count` layers: fewer lines fail to load, more are ignored (it loads, so a warning,
    # unless the blob table is too small even for the layers it reads)
    loaded = layers[: declared[0]]
    fits = failed or declared[1] >= ncnn_blob_count(loaded)
    severity: Severity = "warning" if declared[0] < n_lines and fits else "error"
    if failed:  # blob counts are unknown when a layer line did not parse; the layer count is still known
        if declared[0] != n_lines:
            yield LintFinding(rows[1][0], "header", f"header says {declared[0]} layers, the file has {n_lines}",
                              severity)
        return
    problem = header_problem(declared, layers, n_lines)
    if problem:
        yield LintFinding(rows[1][0], "header", problem.message, "warning" if problem.loads else severity)


def lint_param(text: str, path: str | None = None) -> list[LintFinding]:
    """Check ``.param`` text; never raises for problems in the text, it reports them as findings."""
    path = None if path is None else str(path)
    rows = _rows(text)
    findings: list[LintFinding] = []
    layers: list[Layer] = []
    for line, row_text in rows[2:]:

        def duplicate(pid: int, first: str, last: str, line: int = line) -> None:
            findings.append(LintFinding(line, "duplicate-param", f"param id {pid} is set twice ({first!r}, then "
                                                             f"{last!r}); ncnn keeps the last"))

        try:
            layers.append(_parse_layer(row_text, line, path, duplicate))
        except ParamError as exc:
            findings.append(LintFinding(line, "parse", _bare(exc)))
    failed = len(rows[2:]) - len(layers)
    findings += _header_findings(rows, path, layers, failed=failed)
    for check in LAYER_CHECKS:
        findings += check(layers)
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
