"""`ssd2ncnn param`: read, rewrite and check ncnn .param files."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import CheckFailed
from ..ncnn_format import lint_param, ncnn_blob_count, parse_param, read_param_text, write_param
from .output_option import output_option


@click.group("param")
def command() -> None:
    """Read, rewrite and check ncnn .param files."""


@command.command("fmt")
@click.argument("src", metavar="IN", type=click.Path(dir_okay=False, path_type=Path))
@output_option("Where to write the canonical text (may be IN itself; the write is atomic).", dir_okay=False)
@click.option("--drop-unloaded", is_flag=True,
              help="When the header declares fewer layers than the file has, keep just the ones ncnn loads.")
def fmt(src: Path, output: Path, drop_unloaded: bool) -> None:
    """Rewrite IN in canonical form: fixed columns, recomputed header counts, shortest float32 text.

    Keeps everything ncnn loads as it loads it (duplicate layer names, quoted strings); refuses, with the
    reason, a file ncnn would not load or would load differently from what it says."""
    graph = parse_param(read_param_text(src), str(src), drop_unloaded=drop_unloaded)
    write_param(graph, output)
    click.echo(f"wrote {output} ({len(graph.layers)} layers, {ncnn_blob_count(graph.layers)} blobs)", err=True)


@command.command("lint")
@click.argument("files", metavar="FILE...", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
def lint(files: tuple[Path, ...]) -> None:
    """Check each FILE; print `FILE:LINE: error|warning: code: message` per finding. Exit 1 when there are
    errors (what ncnn fails to load or runs wrongly); warnings (what ncnn loads as written) exit 0."""
    dirty: list[str] = []
    for file in files:
        findings = lint_param(read_param_text(file), str(file))
        for f in findings:
            line = "" if f.line is None else str(f.line)
            click.echo(f"{file}:{line}: {f.severity}: {f.code}: {f.message}")
        errors = [f for f in findings if f.severity == "error"]
        if errors:
            dirty.append(f"{file}: {len(errors)} error(s) ({', '.join(sorted({f.code for f in errors}))})")
        elif findings:
            click.echo(f"{file}: {len(findings)} warning(s), no errors (ncnn loads and runs it)")
        else:
            click.echo(f"{file}: no findings")
    if dirty:
        more = f" ({len(dirty)} of {len(files)} files)" if len(files) > 1 else ""
        raise CheckFailed("; ".join(dirty) + more)
