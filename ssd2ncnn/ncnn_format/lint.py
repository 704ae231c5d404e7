"""The `.param` linter: structural problems that ncnn itself would not report (it trusts the file)."""

from __future__ import annotations

from ..errors import ParamError
from .graph import Finding, Layer
from .text import _check_header, _check_magic, _count_problem, _parse_layer, _rows
from .values import ParamValue

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
